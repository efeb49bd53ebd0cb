"""However a PR's reports collapse, GitHub is told how every deployment ended: each deployment the
workflow created reaches a report as a settlement with a final outcome, and a run ends with none left
to send. Reports here take a while, as GitHub's answers do, so phases collapse into newer ones."""

from __future__ import annotations

from temporalio.client import WorkflowHandle

from tests.workflows.harness import Harness, is_active, new_id, wait_for_state, wait_until
from workflows.activity_io import GITHUB_REPORT, ReportInput, SettledDeployment
from workflows.activity_io import ActivityName as A
from workflows.preview import PreviewWorkflow
from workflows.signals import CloseSignal, PreviewInput, PreviewState, PushSignal, SignalName
from workflows.vocabulary import Settlement

# How a deployment may end once its PR is closed.
FINAL_AFTER_CLOSE = {Settlement.SUPERSEDED, Settlement.REPLACED, Settlement.DESTROYED, Settlement.FAILED}
SLOW_REPORT = 0.4


def reports(harness: Harness) -> list[ReportInput]:
    return list(harness.recorder.args(GITHUB_REPORT))


def last_settlements(harness: Harness) -> dict[str, SettledDeployment]:
    """The newest settlement each deployment (or held-back sha) reached GitHub with."""
    last: dict[str, SettledDeployment] = {}
    for report in reports(harness):
        for settled in report.settled or []:
            last[settled.deployment_id or f"sha:{settled.sha}"] = settled
    return last


async def close(handle: WorkflowHandle[PreviewWorkflow, PreviewState]) -> PreviewState:
    await handle.signal(PreviewWorkflow.close, CloseSignal(delivery_id=new_id()))
    result: PreviewState = await handle.result()
    return result


def created(harness: Harness) -> dict[str, str]:
    """deployment id -> sha of every deployment the workflow created."""
    return {call.deployment_id: call.commit_sha for call in harness.recorder.args(A.CREATE_DEPLOYMENT)}


async def test_pr31_push_quickly_then_close_settles_both_deployments(harness: Harness) -> None:
    """The held-out run's PR 31: sha1 building, sha2 pushed at once, the PR closed once sha2 is live."""
    rec = harness.recorder
    rec.report_seconds = SLOW_REPORT
    rec.slow_shas.add("sha-1")
    handle = await harness.start("sha-1")
    await wait_until(lambda: len(rec.args(A.BUILD)) == 1, what="sha-1's build")
    await harness.push(handle, "sha-2")
    await wait_for_state(handle, is_active("sha-2"))
    state = await close(handle)

    ids = {sha: deployment_id for deployment_id, sha in created(harness).items()}
    settled = last_settlements(harness)
    assert settled[ids["sha-1"]].outcome == Settlement.SUPERSEDED
    assert settled[ids["sha-1"]].by_sha == "sha-2"
    assert settled[ids["sha-2"]].outcome == Settlement.DESTROYED
    assert state.unsettled == []


async def test_every_deployment_of_a_burst_is_settled_whatever_collapsed(harness: Harness) -> None:
    rec = harness.recorder
    rec.report_seconds = SLOW_REPORT
    shas = [f"sha-{letter}" for letter in "abcdef"]
    rec.slow_shas.update(shas[:3])  # built until superseded
    rec.failing_shas.add(shas[3])
    handle = await harness.start(shas[0])
    await wait_until(lambda: len(rec.args(A.BUILD)) == 1, what="the first build")
    for sha in shas[1:4]:
        await harness.push(handle, sha)
    await wait_for_state(handle, lambda state: state.phase == "failed")
    await harness.push(handle, shas[4])
    await wait_for_state(handle, is_active(shas[4]))
    await harness.push(handle, shas[5])
    await wait_for_state(handle, is_active(shas[5]))
    state = await close(handle)

    settled = last_settlements(harness)
    deployments = created(harness)
    assert set(deployments) <= set(settled)
    assert {settled[d].outcome for d in deployments} <= FINAL_AFTER_CLOSE
    by_sha = {sha: settled[d] for d, sha in deployments.items()}
    assert by_sha[shas[3]].outcome == Settlement.FAILED
    assert by_sha[shas[4]].outcome == Settlement.REPLACED and by_sha[shas[4]].by_sha == shas[5]
    assert by_sha[shas[5]].outcome == Settlement.DESTROYED
    assert state.unsettled == []
    # Collapsed indeed: fewer reports than phases told (each deployment has at least three).
    assert len(reports(harness)) < 3 * len(deployments)


async def test_a_fork_sha_held_back_then_replaced_gets_its_pending_status_settled(harness: Harness) -> None:
    handle = await harness.client.start_workflow(
        PreviewWorkflow.run,
        PreviewInput(project_id=harness.project_id, pr_number=1),
        id=f"preview-{harness.project_id}-pr-1",
        task_queue=harness.task_queue,
        start_signal=SignalName.PUSH,
        start_signal_args=[PushSignal(sha="fork-1", delivery_id=new_id(), fork=True)],
    )
    await wait_for_state(handle, lambda state: state.phase == "awaiting_approval")
    await handle.signal(PreviewWorkflow.push, PushSignal(sha="fork-2", delivery_id=new_id(), fork=True))
    await wait_for_state(handle, lambda state: state.held_back_sha == "fork-2")
    state = await close(handle)
    settled = last_settlements(harness)
    assert settled["sha:fork-1"].outcome == Settlement.SUPERSEDED and settled["sha:fork-1"].by_sha == "fork-2"
    assert settled["sha:fork-2"].outcome == Settlement.SUPERSEDED and settled["sha:fork-2"].by_sha == ""
    assert state.unsettled == [] and state.held_back_sha is None
