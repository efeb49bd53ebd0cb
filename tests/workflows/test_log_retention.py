"""LogRetentionWorkflow, with a fake activity under the real name: it hands its input to the activity
and returns what the activity did; a saved history replays against today's code.

    python -m tests.workflows.test_log_retention   (re-records the saved history)
"""

from __future__ import annotations

import asyncio
import sys
import uuid
from pathlib import Path

if __package__ in (None, ""):  # run as a file: make the repository root importable
    sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from temporalio import activity  # noqa: E402
from temporalio.client import Client, WorkflowHistory  # noqa: E402
from temporalio.worker import Replayer, Worker  # noqa: E402

from tests.workflows.harness import dev_server  # noqa: E402
from workflows.log_retention import LogRetentionWorkflow  # noqa: E402
from workflows.log_retention_io import RETENTION_ACTIVITY, RetentionInput, RetentionResult  # noqa: E402

HISTORY = Path(__file__).resolve().parent / "histories" / "schedules" / "log_retention.json"


@activity.defn(name=RETENTION_ACTIVITY)
async def delete_expired_logs(input: RetentionInput) -> RetentionResult:
    return RetentionResult(deployments=2, lines=input.batch_lines * 3, files=1)


async def run(client: Client) -> tuple[RetentionResult, WorkflowHistory]:
    queue = f"log-retention-{uuid.uuid4()}"
    async with Worker(
        client, task_queue=queue, workflows=[LogRetentionWorkflow], activities=[delete_expired_logs]
    ):
        handle = await client.start_workflow(
            LogRetentionWorkflow.run,
            RetentionInput(batch_lines=7),
            id=f"retention-{uuid.uuid4()}",
            task_queue=queue,
        )
        return await handle.result(), await handle.fetch_history()


async def test_the_workflow_runs_its_activity_with_its_input(client: Client) -> None:
    result, history = await run(client)
    assert result == RetentionResult(deployments=2, lines=21, files=1)
    await Replayer(workflows=[LogRetentionWorkflow]).replay_workflow(history)


async def test_saved_history_replays_deterministically() -> None:
    history = WorkflowHistory.from_json("replay-log-retention", HISTORY.read_text(encoding="utf-8"))
    await Replayer(workflows=[LogRetentionWorkflow]).replay_workflow(history)


async def record() -> None:
    async with dev_server() as env:
        _, history = await run(env.client)
    HISTORY.write_text(history.to_json() + "\n", encoding="utf-8")


if __name__ == "__main__":
    asyncio.run(record())
