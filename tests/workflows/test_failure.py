"""A failing build is recorded once and not retried; the PR recovers with the next push."""

from __future__ import annotations

from tests.workflows.harness import Harness, is_active, wait_for_state, wait_until
from workflows.activity_io import ActivityName as A


async def test_failed_build_fails_the_deployment_once_and_a_new_push_recovers(harness: Harness) -> None:
    rec = harness.recorder
    rec.failing_shas.add("sha-broken")
    handle = await harness.start("sha-broken")

    state = await wait_for_state(handle, lambda s: s.phase == "failed")

    [failed] = rec.args(A.FAIL_DEPLOYMENT)
    [build] = rec.args(A.BUILD)  # BuildFailed is non-retryable: exactly one attempt
    assert failed.deployment_id == build.deployment_id
    assert failed.error == "build command exited with code 1"
    assert rec.statuses(failed.deployment_id) == ["building"]
    assert not rec.args(A.DEPLOY) and not rec.args(A.ACTIVATE)
    assert state.deployed_sha is None and state.attempted_sha == "sha-broken"
    assert [(e.status, e.error) for e in state.history] == [("failed", "build command exited with code 1")]

    def retired() -> bool:
        return failed.deployment_id in {ref.deployment_id for ref in rec.args(A.RETIRE)}

    await wait_until(retired, what="the failed deployment to be retired")

    await harness.push(handle, "sha-fixed")
    await wait_for_state(handle, is_active("sha-fixed"))

    assert len(rec.args(A.FAIL_DEPLOYMENT)) == 1
    assert [b.commit_sha for b in rec.args(A.BUILD)] == ["sha-broken", "sha-fixed"]


async def test_failed_build_of_a_new_sha_keeps_the_live_preview(harness: Harness) -> None:
    rec = harness.recorder
    rec.failing_shas.add("sha-2")
    handle = await harness.start("sha-1")
    live = await wait_for_state(handle, is_active("sha-1"))

    await harness.push(handle, "sha-2")
    await wait_until(lambda: bool(rec.args(A.FAIL_DEPLOYMENT)), what="store.fail_deployment")
    state = await wait_for_state(handle, lambda s: s.building_deployment_id is None)

    assert (state.phase, state.deployed_sha, state.url) == ("active", "sha-1", live.url)
    assert state.current_deployment_id == live.current_deployment_id
