"""What the suite asks up's Temporal: trigger a reconcile's schedule (rather than wait for its
interval) and read what it found, a PR workflow's status, and the delivery ids its signals carried
(every run of it: continue-as-new starts new ones)."""

from __future__ import annotations

import asyncio
import json
import time
from typing import Any

from temporalio.client import Client, ScheduleActionExecutionStartWorkflow
from temporalio.service import RPCError, RPCStatusCode

from workflows.github_reconcile import DRIFT_SCHEDULE_ID, REDELIVERY_SCHEDULE_ID
from workflows.github_reconcile_io import DriftResult, RedeliverResult
from workflows.signals import workflow_id_for

TRIGGER_TIMEOUT = 60.0
RESULT_TIMEOUT = 300.0


async def _trigger(client: Client, schedule_id: str) -> str:
    """Trigger the schedule now; the id of the workflow run it started."""
    handle = client.get_schedule_handle(schedule_id)
    before = {_started(a.action) for a in (await handle.describe()).info.recent_actions}
    await handle.trigger()
    deadline = time.monotonic() + TRIGGER_TIMEOUT
    while time.monotonic() < deadline:
        for action in (await handle.describe()).info.recent_actions:
            started = _started(action.action)
            if started and started not in before:
                return started
        await asyncio.sleep(0.2)
    raise AssertionError(f"schedule {schedule_id} started nothing within {TRIGGER_TIMEOUT:.0f}s")


def _started(action: object) -> str:
    return action.workflow_id if isinstance(action, ScheduleActionExecutionStartWorkflow) else ""


async def redeliver(client: Client) -> RedeliverResult:
    workflow_id = await _trigger(client, REDELIVERY_SCHEDULE_ID)
    handle = client.get_workflow_handle(workflow_id, result_type=RedeliverResult)
    result: RedeliverResult = await asyncio.wait_for(handle.result(), RESULT_TIMEOUT)
    return result


async def drift(client: Client) -> list[DriftResult]:
    workflow_id = await _trigger(client, DRIFT_SCHEDULE_ID)
    handle = client.get_workflow_handle(workflow_id, result_type=list[DriftResult])
    results: list[DriftResult] = await asyncio.wait_for(handle.result(), RESULT_TIMEOUT)
    return results


async def workflow_status(client: Client, project_id: str, number: int) -> str | None:
    """The PR workflow's newest run's status name (RUNNING, COMPLETED…), None when it never ran."""
    try:
        described = await client.get_workflow_handle(workflow_id_for(project_id, number)).describe()
    except RPCError as error:
        if error.status == RPCStatusCode.NOT_FOUND:
            return None
        raise
    return described.status.name if described.status else None


async def pending_activities(client: Client, project_id: str, number: int) -> list[str]:
    """What a running PR workflow waits on: each pending activity with its attempt and last failure
    (the words a stuck run leaves in the test's report)."""
    described = await client.get_workflow_handle(workflow_id_for(project_id, number)).describe()
    return [
        f"{a.activity_type.name} (attempt {a.attempt}"
        + (f", last failure: {a.last_failure.message[:200]}" if a.HasField("last_failure") else "")
        + ")"
        for a in described.raw_description.pending_activities
    ]


async def signalled_delivery_ids(client: Client, project_id: str, number: int) -> list[str]:
    """The delivery id of every signal in every run of the PR's workflow, in order, repeats kept."""
    workflow_id = workflow_id_for(project_id, number)
    ids: list[str] = []
    async for run in client.list_workflows(f"WorkflowId = '{workflow_id}'"):
        handle = client.get_workflow_handle(workflow_id, run_id=run.run_id)
        async for event in handle.fetch_history_events():
            if not event.HasField("workflow_execution_signaled_event_attributes"):
                continue
            for payload in event.workflow_execution_signaled_event_attributes.input.payloads:
                decoded: Any = json.loads(payload.data)
                if isinstance(decoded, dict) and decoded.get("delivery_id"):
                    ids.append(str(decoded["delivery_id"]))
    return ids
