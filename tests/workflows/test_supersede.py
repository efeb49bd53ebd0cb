"""Newer pushes cancel an in-flight build; the newest sha is the one deployed."""

from __future__ import annotations

from tests.workflows.harness import Harness, is_active, wait_for_state, wait_until
from workflows.activity_io import ActivityName as A


async def test_burst_of_pushes_cancels_the_build_and_deploys_only_the_latest_sha(harness: Harness) -> None:
    rec = harness.recorder
    shas = [f"sha-{letter}" for letter in "abcdefghij"]
    rec.slow_shas.update(shas[:-1])  # every build but the last runs until cancelled
    handle = await harness.start(shas[0])
    await wait_until(lambda: len(rec.args(A.BUILD)) == 1, what="the first build to start")

    for sha in shas[1:]:
        await harness.push(handle, sha)
    state = await wait_for_state(handle, is_active(shas[-1]))

    builds = rec.args(A.BUILD)
    assert 2 <= len(builds) <= 3 and builds[-1].commit_sha == shas[-1]
    assert sorted(rec.cancelled_builds) == sorted(build.deployment_id for build in builds[:-1])
    [activated] = rec.args(A.ACTIVATE)
    created = {call.deployment_id for call in rec.args(A.CREATE_DEPLOYMENT)}
    superseded = {call.deployment_id for call in rec.args(A.SET_STATUS) if call.status == "superseded"}
    assert superseded == created - {activated.deployment_id} and superseded
    # A superseded deployment is never activated, and its half-built work is cleaned up.
    assert activated.previous_deployment_id is None
    assert superseded <= {ref.deployment_id for ref in rec.args(A.RETIRE)}
    assert state.pushes_seen == 10
    assert [entry.status for entry in state.history] == ["superseded"] * len(superseded) + ["active"]


async def test_push_of_the_sha_already_building_does_not_cancel_it(harness: Harness) -> None:
    rec = harness.recorder
    rec.slow_shas.add("sha-1")
    handle = await harness.start("sha-1")
    await wait_until(lambda: len(rec.args(A.BUILD)) == 1, what="the build to start")

    await harness.push(handle, "sha-1")  # e.g. ready_for_review for the same head
    await wait_for_state(handle, lambda state: state.pushes_seen == 2)
    rec.slow_shas.clear()
    await harness.push(handle, "sha-2")
    await wait_for_state(handle, is_active("sha-2"))

    assert [build.commit_sha for build in rec.args(A.BUILD)] == ["sha-1", "sha-2"]
    assert len(rec.cancelled_builds) == 1


async def test_push_back_to_a_superseded_sha_deploys_it(harness: Harness) -> None:
    rec = harness.recorder
    rec.slow_shas.update({"sha-a", "sha-b"})
    handle = await harness.start("sha-a")
    await wait_until(lambda: len(rec.args(A.BUILD)) == 1, what="the first build to start")

    await harness.push(handle, "sha-b")  # cancels sha-a's build
    await harness.push(handle, "sha-a")  # force-pushed back before sha-b started building
    rec.slow_shas.clear()

    await wait_for_state(handle, is_active("sha-a"), timeout=5)
