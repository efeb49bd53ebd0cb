"""NotificationWorkflow on its own: every subscribed channel is sent the event, a receiver that fails is
retried by Temporal until it takes it, a refusal is not retried and is recorded as given up; and its
saved history replays.

    python -m tests.workflows.test_notification_workflow   (re-records histories/notification/)
"""

from __future__ import annotations

import asyncio
import uuid
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

from temporalio import activity
from temporalio.client import Client, WorkflowHistory
from temporalio.exceptions import ApplicationError
from temporalio.worker import Replayer, Worker

from tests.workflows.harness import dev_server
from workflows.notification import NotificationWorkflow
from workflows.notification_io import (
    EventKind,
    GaveUpInput,
    NotifyActivity,
    NotifyError,
    PreviewEvent,
    SendInput,
)

HISTORIES = Path(__file__).resolve().parent / "histories" / "notification"
EVENT = PreviewEvent(
    event_id="p-pr-1-ready-d1", kind=EventKind.READY, project_id="p", pr_number=1, sha="a" * 40
)


class Receivers:
    """`fine` takes it at once, `flaky` fails twice first (a receiver down), `gone` answers 410."""

    def __init__(self) -> None:
        self.attempts: Counter[str] = Counter()
        self.gave_up: list[GaveUpInput] = []

    @activity.defn(name=NotifyActivity.TARGETS)
    async def targets(self, event: PreviewEvent) -> list[str]:
        return ["fine", "flaky", "gone"]

    @activity.defn(name=NotifyActivity.SEND)
    async def send(self, input: SendInput) -> None:
        self.attempts[input.channel_id] += 1
        if input.channel_id == "gone":
            raise ApplicationError("HTTP 410", type=NotifyError.REFUSED, non_retryable=True)
        if input.channel_id == "flaky" and self.attempts["flaky"] <= 2:
            raise ApplicationError("could not connect")

    @activity.defn(name=NotifyActivity.GAVE_UP)
    async def record_gave_up(self, input: GaveUpInput) -> None:
        self.gave_up.append(input)


async def run_once(client: Client) -> tuple[Receivers, WorkflowHistory]:
    receivers, queue = Receivers(), f"notify-{uuid.uuid4()}"
    activities: list[Callable[..., Any]] = [receivers.targets, receivers.send, receivers.record_gave_up]
    async with Worker(client, task_queue=queue, workflows=[NotificationWorkflow], activities=activities):
        handle = await client.start_workflow(
            NotificationWorkflow.run, EVENT, id=f"notify-{uuid.uuid4()}", task_queue=queue
        )
        await handle.result()
        return receivers, await handle.fetch_history()


async def test_each_channel_once_a_failing_one_retried_a_refusing_one_given_up(client: Client) -> None:
    receivers, _ = await run_once(client)
    assert receivers.attempts == Counter({"fine": 1, "flaky": 3, "gone": 1})
    assert [(g.channel_id, g.detail) for g in receivers.gave_up] == [("gone", "gave up: HTTP 410")]


async def test_saved_history_replays_deterministically() -> None:
    path = HISTORIES / "three_channels.json"
    history = WorkflowHistory.from_json("replay-notification", path.read_text(encoding="utf-8"))
    await Replayer(workflows=[NotificationWorkflow]).replay_workflow(history)


async def record() -> None:
    async with dev_server() as env:
        _, history = await run_once(env.client)
    HISTORIES.mkdir(parents=True, exist_ok=True)
    (HISTORIES / "three_channels.json").write_text(history.to_json() + "\n", encoding="utf-8")


if __name__ == "__main__":
    asyncio.run(record())
