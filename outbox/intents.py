"""What an outbox row asks of its PR workflow, and the one table that turns it into a signal.

The intent is stored in the row's `signal` column. Most intents are a signal of the same name; one is
not: `close_if_running` (a teardown fanned out by an installation change) sends `close`, but only to
a workflow that runs.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum
from typing import Any, Generic, TypeVar

from workflows.preview import PreviewWorkflow
from workflows.signals import (
    ApproveSignal,
    CloseSignal,
    CommandSignal,
    ManualSignal,
    PushSignal,
    RefusalSignal,
    SignalName,
)

A = TypeVar("A")


class Intent(StrEnum):
    PUSH = "push"
    CLOSE = "close"
    CLOSE_IF_RUNNING = "close_if_running"
    REDEPLOY = "redeploy"
    DESTROY = "destroy"
    APPROVE = "approve"
    REFUSE = "refuse"
    # A `/preview` comment the workflow carries out once GitHub says its author may push.
    COMMAND = "command"


@dataclass(frozen=True)
class Route(Generic[A]):
    signal: Callable[[PreviewWorkflow, A], None]
    # The same signal by name, for signal-with-start (whose `start_signal` takes no method).
    name: SignalName
    argument: type[A]
    # Whether the signal may start the PR's workflow. Commands and teardowns go only to a workflow
    # that runs: a `/preview destroy` must not bring a closed PR's workflow back to life.
    starts: bool


ROUTES: dict[Intent, Route[Any]] = {
    Intent.PUSH: Route(PreviewWorkflow.push, SignalName.PUSH, PushSignal, starts=True),
    Intent.CLOSE: Route(PreviewWorkflow.close, SignalName.CLOSE, CloseSignal, starts=True),
    Intent.CLOSE_IF_RUNNING: Route(PreviewWorkflow.close, SignalName.CLOSE, CloseSignal, starts=False),
    Intent.REDEPLOY: Route(PreviewWorkflow.redeploy, SignalName.REDEPLOY, ManualSignal, starts=False),
    Intent.DESTROY: Route(PreviewWorkflow.destroy, SignalName.DESTROY, ManualSignal, starts=False),
    Intent.APPROVE: Route(PreviewWorkflow.approve, SignalName.APPROVE, ApproveSignal, starts=False),
    Intent.REFUSE: Route(PreviewWorkflow.refuse, SignalName.REFUSE, RefusalSignal, starts=False),
    Intent.COMMAND: Route(PreviewWorkflow.command, SignalName.COMMAND, CommandSignal, starts=False),
}
