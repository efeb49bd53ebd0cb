"""The outbox's intents and the table that turns each into a PreviewWorkflow signal."""

from __future__ import annotations

from outbox.intents import ROUTES, Intent
from workflows.signals import SignalName


def test_every_intent_has_a_route() -> None:
    assert set(ROUTES) == set(Intent)


def test_a_route_names_the_signal_its_method_registers() -> None:
    # The workflow's signals take their method's name; signal-with-start can only send a name.
    for route in ROUTES.values():
        assert route.signal.__name__ == route.name and route.name in set(SignalName)


def test_only_pushes_and_closes_may_start_a_workflow() -> None:
    assert {intent for intent, route in ROUTES.items() if route.starts} == {Intent.PUSH, Intent.CLOSE}
    assert ROUTES[Intent.CLOSE_IF_RUNNING].signal is ROUTES[Intent.CLOSE].signal
