"""A push that changes no watch path since the live sha is recorded as skipped: the live preview stays."""

from __future__ import annotations

from tests.workflows.harness import Harness, is_active, wait_for_state, wait_until
from workflows.activity_io import GITHUB_REPORT
from workflows.activity_io import ActivityName as A
from workflows.preview import PreviewWorkflow
from workflows.signals import ManualSignal


async def test_a_push_changing_no_watch_path_is_skipped_and_the_live_preview_stays(harness: Harness) -> None:
    handle = await harness.start("sha-1")
    await wait_for_state(handle, is_active("sha-1"))
    harness.recorder.skipped_shas = {"sha-2"}
    await harness.push(handle, "sha-2")
    state = await wait_for_state(handle, lambda s: any(h.status == "skipped" for h in s.history))
    assert state.phase == "active" and state.deployed_sha == "sha-1" and state.url
    [skipped] = harness.recorder.deployment_ids_for("sha-2")
    assert harness.recorder.statuses(skipped)[-1] == "skipped"
    clone = [c for c in harness.recorder.args(A.CLONE) if c.commit_sha == "sha-2"][0]
    assert clone.live_sha == "sha-1"
    assert not [b for b in harness.recorder.args(A.BUILD) if b.commit_sha == "sha-2"]
    # The clone is thrown away; the live deployment is not retired.
    assert [r.deployment_id for r in harness.recorder.args(A.RETIRE)] == [skipped]
    await wait_until(
        lambda: any(r.phase == "skipped" and r.sha == "sha-2" for r in harness.recorder.args(GITHUB_REPORT)),
        what="the PR told",
    )


async def test_a_redeploy_builds_even_when_no_watch_path_changed(harness: Harness) -> None:
    handle = await harness.start("sha-1")
    await wait_for_state(handle, is_active("sha-1"))
    harness.recorder.skipped_shas = {"sha-2"}
    await harness.push(handle, "sha-2")
    await wait_for_state(handle, lambda s: any(h.status == "skipped" for h in s.history))
    await handle.signal(PreviewWorkflow.redeploy, ManualSignal(requested_by="maintainer"))
    await wait_for_state(handle, is_active("sha-2"))
    clones = [c for c in harness.recorder.args(A.CLONE) if c.commit_sha == "sha-2"]
    assert [c.live_sha for c in clones] == ["sha-1", ""]
