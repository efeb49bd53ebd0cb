"""A project's build slots: a deployment waits in its project's queue before any worker is asked, tells
the PR its place, and leaves the queue when it is superseded, closed or done."""

from __future__ import annotations

from tests.workflows.harness import Harness, is_active, wait_for_state, wait_until
from workflows.activity_io import ActivityName as A
from workflows.activity_io import ReportInput
from workflows.preview import PreviewWorkflow
from workflows.signals import CloseSignal
from workflows.vocabulary import Phase, ReportPhase


def _queued_reports(harness: Harness, pr_number: int) -> list[int | None]:
    reports: list[ReportInput] = harness.recorder.args("github.report")
    return [r.builds_ahead for r in reports if r.pr_number == pr_number and r.phase == ReportPhase.QUEUED]


async def test_builds_of_one_project_wait_in_line_and_hold_no_worker_slot(harness: Harness) -> None:
    rec = harness.recorder
    rec.builds_per_project = 1
    rec.slow_shas.add("sha-1")
    first = await harness.start("sha-1", pr_number=1)
    await wait_until(lambda: len(rec.args(A.BUILD)) == 1, what="PR 1's build")
    second = await harness.start("sha-2", pr_number=2)
    await wait_for_state(second, lambda s: s.builds_ahead == 1)
    third = await harness.start("sha-3", pr_number=3)
    state = await wait_for_state(third, lambda s: s.builds_ahead == 2)
    assert state.phase == Phase.QUEUED

    # Waiting took nothing of a worker: no host claimed, nothing cloned or built for PRs 2 and 3.
    assert [ref.pr_number for ref in rec.args(A.CLONE)] == [1]
    assert len(rec.args(A.CLAIM_HOST_QUEUE)) == 1
    # The PR is told its place, once per place (the sticky comment's "2 builds ahead").
    await wait_until(lambda: _queued_reports(harness, 3) == [2], what="PR 3's place on its comment")

    # PR 1's build ends (here: closed): PR 2 is told at once and takes the slot, then PR 3.
    await first.signal(PreviewWorkflow.close, CloseSignal(delivery_id="close-1"))
    await wait_for_state(second, is_active("sha-2"), timeout=10)
    await wait_for_state(third, is_active("sha-3"), timeout=10)
    assert [ref.pr_number for ref in rec.args(A.BUILD)] == [1, 2, 3]
    assert rec.queued() == []  # every slot given back
    left = [call.deployment_id for call in rec.args(A.LEAVE_BUILD_QUEUE)]
    assert sorted(left) == sorted(call.deployment_id for call in rec.args(A.CREATE_DEPLOYMENT))


async def test_a_push_or_a_close_while_waiting_leaves_the_queue(harness: Harness) -> None:
    rec = harness.recorder
    rec.builds_per_project = 1
    rec.slow_shas.add("sha-1")
    await harness.start("sha-1", pr_number=1)
    await wait_until(lambda: len(rec.args(A.BUILD)) == 1, what="PR 1's build")
    waiting = await harness.start("sha-a", pr_number=2)
    await wait_for_state(waiting, lambda s: s.builds_ahead == 1)
    [old] = rec.deployment_ids_for("sha-a")

    await harness.push(waiting, "sha-b")  # supersedes the waiting deployment
    await wait_until(lambda: len(rec.deployment_ids_for("sha-b")) == 1, what="sha-b's deployment")
    [new] = rec.deployment_ids_for("sha-b")
    await wait_until(lambda: new in rec.queued(), what="sha-b in line")
    assert old not in rec.queued()
    assert "superseded" in rec.statuses(old)
    state = await wait_for_state(waiting, lambda s: s.builds_ahead == 1)
    assert state.phase == Phase.QUEUED

    await waiting.signal(PreviewWorkflow.close, CloseSignal(delivery_id="close-2"))
    await waiting.result()
    assert new not in rec.queued() and len(rec.queued()) == 1  # only PR 1's build holds a slot
    # Nothing of PR 2 ever reached a worker.
    assert {ref.pr_number for ref in rec.args(A.CLONE)} == {1}
