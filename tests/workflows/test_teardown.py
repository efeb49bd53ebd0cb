"""Close ends the run after teardown; destroy tears down but keeps it; a reopen starts a new run."""

from __future__ import annotations

import pytest
from temporalio.client import WorkflowExecutionStatus, WorkflowFailureError
from temporalio.exceptions import CancelledError

from tests.workflows.harness import Harness, is_active, new_id, wait_for_state, wait_until
from workflows.activity_io import ActivityName as A
from workflows.preview import PreviewWorkflow
from workflows.signals import CloseSignal, ManualSignal


async def test_close_destroys_the_preview_and_completes_the_workflow(harness: Harness) -> None:
    handle = await harness.start("sha-1")
    live = await wait_for_state(handle, is_active("sha-1"))

    await handle.signal(PreviewWorkflow.close, CloseSignal(delivery_id=new_id(), merged=True))
    final = await handle.result()

    rec = harness.recorder
    assert final.phase == "closed" and final.deployed_sha is None and final.url is None
    [destroyed] = [call for call in rec.calls if call.name == A.DESTROY]
    assert destroyed.task_queue == harness.host_queue
    assert destroyed.arg.app_name == "pr-1-app"
    assert destroyed.arg.deployment_ids == [live.current_deployment_id]
    [marked] = rec.args(A.MARK_DESTROYED)
    assert (marked.deployment_ids, marked.reason) == ([live.current_deployment_id], "pull request closed")
    assert [entry.status for entry in final.history] == ["active", "destroyed"]


async def test_close_while_building_cancels_the_build(harness: Harness) -> None:
    rec = harness.recorder
    rec.slow_shas.add("sha-1")
    handle = await harness.start("sha-1")
    await wait_until(lambda: bool(rec.args(A.BUILD)), what="the build to start")

    await handle.signal(PreviewWorkflow.close, CloseSignal(delivery_id=new_id()))
    final = await handle.result()

    [build] = rec.args(A.BUILD)
    assert rec.cancelled_builds == [build.deployment_id]
    assert rec.statuses(build.deployment_id) == ["building", "superseded"]
    assert not rec.args(A.DEPLOY) and not rec.args(A.ACTIVATE) and not rec.args(A.MARK_DESTROYED)
    assert build.deployment_id in {ref.deployment_id for ref in rec.args(A.RETIRE)}
    [destroyed] = rec.args(A.DESTROY)  # nothing was live: only the app name is cleaned up
    assert destroyed.deployment_ids == []
    assert final.phase == "closed"


async def test_destroy_tears_down_keeps_running_and_redeploy_restores_the_same_sha(harness: Harness) -> None:
    handle = await harness.start("sha-1")
    live = await wait_for_state(handle, is_active("sha-1"))

    await handle.signal(PreviewWorkflow.destroy, ManualSignal(requested_by="alice", request_id=new_id()))
    destroyed = await wait_for_state(handle, lambda s: s.phase == "destroyed")

    rec = harness.recorder
    assert destroyed.current_deployment_id is None and destroyed.url is None
    [marked] = rec.args(A.MARK_DESTROYED)
    assert (marked.deployment_ids, marked.reason) == ([live.current_deployment_id], "destroyed by alice")
    assert [call.task_queue for call in rec.calls if call.name == A.DESTROY] == [harness.host_queue]
    assert (await handle.describe()).status == WorkflowExecutionStatus.RUNNING

    await handle.signal(PreviewWorkflow.redeploy, ManualSignal(requested_by="bob", request_id=new_id()))
    redeployed = await wait_for_state(handle, is_active("sha-1"))

    first_id, second_id = rec.deployment_ids_for("sha-1")
    assert (first_id, second_id) == (live.current_deployment_id, redeployed.current_deployment_id)
    assert rec.args(A.ACTIVATE)[-1].previous_deployment_id is None
    assert (await handle.describe()).status == WorkflowExecutionStatus.RUNNING


async def test_reopen_after_close_starts_a_new_run_that_deploys(harness: Harness) -> None:
    first = await harness.start("sha-1")
    await wait_for_state(first, is_active("sha-1"))
    await first.signal(PreviewWorkflow.close, CloseSignal(delivery_id=new_id()))
    assert (await first.result()).phase == "closed"

    reopened = await harness.start("sha-2")  # signal-with-start on the same workflow id
    state = await wait_for_state(reopened, is_active("sha-2"))

    assert reopened.id == first.id and reopened.result_run_id != first.result_run_id
    assert state.pushes_seen == 1 and [entry.sha for entry in state.history] == ["sha-2"]
    closed_run = harness.client.get_workflow_handle(first.id, run_id=first.result_run_id)
    assert (await closed_run.describe()).status == WorkflowExecutionStatus.COMPLETED
    # The new run starts from empty state, so it asks the store for the app name afresh.
    assert [call.app_name for call in harness.recorder.args(A.CREATE_DEPLOYMENT)] == [None, None]


async def test_cancelling_the_workflow_stops_the_build_and_cleans_it_up(harness: Harness) -> None:
    rec = harness.recorder
    rec.slow_shas.add("sha-1")
    handle = await harness.start("sha-1")
    await wait_until(lambda: bool(rec.args(A.BUILD)), what="the build to start")

    await handle.cancel()
    with pytest.raises(WorkflowFailureError) as failure:
        await handle.result()

    assert isinstance(failure.value.cause, CancelledError)
    [build] = rec.args(A.BUILD)
    assert rec.cancelled_builds == [build.deployment_id]
    assert rec.statuses(build.deployment_id) == ["building", "superseded"]
    assert build.deployment_id in {ref.deployment_id for ref in rec.args(A.RETIRE)}
    assert not rec.args(A.DEPLOY) and not rec.args(A.ACTIVATE)
