"""web/installation_events.py over the real octokit example payloads."""

from __future__ import annotations

import pytest

from tests.unit.test_github_events import load_payload
from web.github_events import MalformedPayload
from web.installation_events import REPO_REMOVED, SUSPENDED, UNINSTALLED, installation_change


def test_created_lists_the_repositories_it_brings() -> None:
    change = installation_change("installation", "created", load_payload("installation.created.payload.json"))
    assert change is not None
    assert change.installation_id == 957387
    assert (change.account_login, change.account_type) == ("Codertocat", "User")
    assert change.state == "present" and change.repos_added == [186853002] and change.deactivates is None


def test_deleted_switches_off_and_brings_nothing() -> None:
    change = installation_change("installation", "deleted", load_payload("installation.deleted.payload.json"))
    assert change is not None
    assert change.state == "deleted" and change.repos_added == [] and change.deactivates == UNINSTALLED


@pytest.mark.parametrize(("action", "state", "reason"), [("suspend", "suspended", SUSPENDED),
                                                          ("unsuspend", "unsuspended", None)])  # fmt: skip
def test_suspend_and_unsuspend(action: str, state: str, reason: str | None) -> None:
    payload = load_payload("installation.created.payload.json") | {"action": action}
    change = installation_change("installation", action, payload)
    assert change is not None and change.state == state and change.deactivates == reason


def test_repositories_added_and_removed() -> None:
    added = load_payload("installation_repositories.added.payload.json")
    change = installation_change("installation_repositories", "added", added)
    assert change is not None
    assert change.state is None and change.repos_added == [186853007] and change.deactivates is None
    removed = load_payload("installation_repositories.removed.payload.json")
    change = installation_change("installation_repositories", "removed", removed)
    assert change is not None
    assert change.repos_removed == [1296269] and change.deactivates == REPO_REMOVED


def test_other_actions_change_nothing() -> None:
    payload = load_payload("installation.created.payload.json")
    assert installation_change("installation", "new_permissions_requested", payload) is None


def test_a_payload_without_an_installation_is_malformed() -> None:
    with pytest.raises(MalformedPayload):
        installation_change("installation", "deleted", {"action": "deleted"})
