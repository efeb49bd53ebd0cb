"""The GitHub reconcile workflows, with fake activities under the real names: the drift reconcile runs
one activity per active project and a project that fails does not take the others down; a saved
history of each replays against today's code.

    python -m tests.workflows.test_github_reconcile   (re-records the saved histories)
"""

from __future__ import annotations

import asyncio
import sys
import uuid
from pathlib import Path

if __package__ in (None, ""):  # run as a file: make the repository root importable
    sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

import pytest  # noqa: E402
from temporalio import activity  # noqa: E402
from temporalio.client import Client, WorkflowHistory  # noqa: E402
from temporalio.exceptions import ApplicationError  # noqa: E402
from temporalio.worker import Replayer, Worker  # noqa: E402

from tests.workflows.harness import dev_server  # noqa: E402
from workflows.github_reconcile import DriftWorkflow, RedeliveryWorkflow  # noqa: E402
from workflows.github_reconcile_io import (  # noqa: E402
    DRIFT_ACTIVITY,
    DRIFT_PROJECTS_ACTIVITY,
    REDELIVER_ACTIVITY,
    DriftInput,
    DriftProjects,
    DriftResult,
    RedeliverInput,
    RedeliverResult,
)

HISTORIES = Path(__file__).resolve().parent / "histories" / "github"
PROJECTS = ["p-1", "p-broken", "p-3"]


@activity.defn(name=DRIFT_PROJECTS_ACTIVITY)
async def drift_projects() -> DriftProjects:
    return DriftProjects(project_ids=list(PROJECTS))


@activity.defn(name=DRIFT_ACTIVITY)
async def drift(input: DriftInput) -> DriftResult:
    if input.project_id == "p-broken":
        raise ApplicationError("GitHub GET /repos/x/y/pulls answered 404", non_retryable=True)
    return DriftResult(project_id=input.project_id, open_on_github=1, actions=[f"drift: {input.project_id}"])


@activity.defn(name=REDELIVER_ACTIVITY)
async def redeliver_failed(input: RedeliverInput) -> RedeliverResult:
    return RedeliverResult(examined=3, asked=["guid-1"])


async def run_both(client: Client) -> tuple[list[DriftResult], RedeliverResult, dict[str, WorkflowHistory]]:
    queue = f"github-reconcile-{uuid.uuid4()}"
    async with Worker(
        client, task_queue=queue, workflows=[DriftWorkflow, RedeliveryWorkflow],
        activities=[drift_projects, drift, redeliver_failed],
    ):  # fmt: skip
        drift_handle = await client.start_workflow(
            DriftWorkflow.run, DriftInput(), id=f"drift-{uuid.uuid4()}", task_queue=queue
        )
        redelivery_handle = await client.start_workflow(
            RedeliveryWorkflow.run, RedeliverInput(), id=f"redelivery-{uuid.uuid4()}", task_queue=queue
        )
        drifted, redelivered = await drift_handle.result(), await redelivery_handle.result()
        histories = {
            "drift": await drift_handle.fetch_history(),
            "redelivery": await redelivery_handle.fetch_history(),
        }
    return drifted, redelivered, histories


async def test_drift_runs_every_project_and_one_that_fails_leaves_the_others(client: Client) -> None:
    drifted, redelivered, histories = await run_both(client)
    assert [r.project_id for r in drifted] == ["p-1", "p-3"]
    assert redelivered.asked == ["guid-1"]
    replayer = Replayer(workflows=[DriftWorkflow, RedeliveryWorkflow])
    for history in histories.values():
        await replayer.replay_workflow(history)


@pytest.mark.parametrize("name", ["drift", "redelivery"])
async def test_saved_history_replays_deterministically(name: str) -> None:
    path = HISTORIES / f"{name}.json"
    history = WorkflowHistory.from_json(f"replay-{name}", path.read_text(encoding="utf-8"))
    await Replayer(workflows=[DriftWorkflow, RedeliveryWorkflow]).replay_workflow(history)


async def record() -> None:
    async with dev_server() as env:
        _, _, histories = await run_both(env.client)
    HISTORIES.mkdir(parents=True, exist_ok=True)
    for name, history in histories.items():
        (HISTORIES / f"{name}.json").write_text(history.to_json() + "\n", encoding="utf-8")


if __name__ == "__main__":
    asyncio.run(record())
