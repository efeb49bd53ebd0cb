"""A push reaches a live preview; later pushes replace it; duplicates are ignored."""

from __future__ import annotations

from tests.workflows.harness import Harness, is_active, new_id, wait_for_state, wait_until
from workflows.activity_io import ActivityName as A


async def test_first_push_creates_builds_and_activates_a_deployment(harness: Harness) -> None:
    handle = await harness.start("sha-1")

    state = await wait_for_state(handle, is_active("sha-1"))

    rec = harness.recorder
    [created] = rec.args(A.CREATE_DEPLOYMENT)
    assert (created.commit_sha, created.workflow_id, created.app_name) == ("sha-1", handle.id, None)
    store_calls = [name for name in rec.names() if name.startswith("store.") and name != A.EXPIRY_FACTS]
    assert store_calls == [A.CREATE_DEPLOYMENT, A.SET_STATUS, A.SET_STATUS, A.ACTIVATE]
    assert rec.statuses(created.deployment_id) == ["building", "deploying"]
    [activated] = rec.args(A.ACTIVATE)
    assert (activated.deployment_id, activated.previous_deployment_id) == (created.deployment_id, None)
    assert state.url == activated.app_url == "https://pr-1-app.preview.test"
    assert state.current_deployment_id == created.deployment_id and state.building_deployment_id is None
    # Clone and deploy ran on the claimed host queue, the build on its build queue.
    queues = {call.name: call.task_queue for call in rec.calls}
    assert queues[A.CLONE] == queues[A.DEPLOY] == state.host_queue == harness.host_queue
    assert queues[A.BUILD] == f"{harness.task_queue}-build"
    assert [(entry.sha, entry.status) for entry in state.history] == [("sha-1", "active")]


async def test_push_after_active_replaces_and_retires_the_previous_deployment(harness: Harness) -> None:
    handle = await harness.start("sha-1")
    first = await wait_for_state(handle, is_active("sha-1"))

    await harness.push(handle, "sha-2")
    second = await wait_for_state(handle, is_active("sha-2"))

    rec = harness.recorder
    [second_id] = rec.deployment_ids_for("sha-2")
    assert second.current_deployment_id == second_id != first.current_deployment_id
    activations = rec.args(A.ACTIVATE)
    assert activations[-1].deployment_id == second_id
    assert activations[-1].previous_deployment_id == first.current_deployment_id
    # The new deployment reuses the PR's app name; the old process is stopped on its own host.
    assert rec.args(A.CREATE_DEPLOYMENT)[-1].app_name == "pr-1-app"
    # Retiring happens after the new deployment is live (and visible as active).
    await wait_until(lambda: A.RETIRE in rec.names(), what="platform.retire")
    [retired] = [call for call in rec.calls if call.name == A.RETIRE]
    assert retired.arg.deployment_id == first.current_deployment_id
    assert retired.task_queue == harness.host_queue
    assert [entry.status for entry in second.history] == ["active", "active"]


async def test_redelivered_push_is_ignored(harness: Harness) -> None:
    delivery_id = new_id()
    handle = await harness.start("sha-1", delivery_id=delivery_id)
    await wait_for_state(handle, is_active("sha-1"))

    # The redelivery carries a different sha to show the delivery id alone decides.
    await harness.push(handle, "sha-1", delivery_id=delivery_id)
    await harness.push(handle, "sha-other", delivery_id=delivery_id)
    await harness.push(handle, "sha-1")  # a fresh delivery: counted, but the sha is already live
    state = await wait_for_state(handle, lambda s: s.pushes_seen >= 2)

    assert state.pushes_seen == 2 and len(state.recent_delivery_ids) == 2
    assert state.desired is not None and state.desired.sha == "sha-1"
    assert state.phase == "active" and state.deployed_sha == "sha-1"
    assert len(harness.recorder.args(A.CREATE_DEPLOYMENT)) == 1
