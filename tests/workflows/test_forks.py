"""A fork's sha waits for a maintainer's approval (per sha), unless the project trusts or refuses forks;
refused commands and misdirected approvals are told on the PR, never acted on."""

from __future__ import annotations

import pytest
from temporalio.client import WorkflowUpdateFailedError

from tests.workflows.harness import Handle, Harness, is_active, new_id, wait_for_state, wait_until
from workflows.activity_io import GITHUB_REPORT
from workflows.activity_io import ActivityName as A
from workflows.preview import PreviewWorkflow
from workflows.signals import (
    ApproveSignal,
    CloseSignal,
    PreviewInput,
    PushSignal,
    RefusalSignal,
    SignalName,
    workflow_id_for,
)

PUSHED_AT = "2026-11-25T10:00:00Z"
LATER = "2026-11-25T10:05:00Z"


async def start_fork(harness: Harness, sha: str, pushed_at: str = PUSHED_AT) -> Handle:
    push = PushSignal(sha=sha, title="From a fork", author="visitor", delivery_id=new_id(), fork=True,
                      updated_at=pushed_at)  # fmt: skip
    return await harness.client.start_workflow(
        PreviewWorkflow.run,
        PreviewInput(project_id=harness.project_id, pr_number=7),
        id=workflow_id_for(harness.project_id, 7),
        task_queue=harness.task_queue,
        start_signal=SignalName.PUSH,
        start_signal_args=[push],
    )


def approve(sha: str = "", at: str = LATER, who: str = "maintainer") -> ApproveSignal:
    return ApproveSignal(sha=sha, requested_by=who, request_id=new_id(), source="comment", created_at=at)


def reports(harness: Harness) -> list[tuple[str, str | None]]:
    return [(r.phase, r.notice) for r in harness.recorder.args(GITHUB_REPORT)]


async def test_a_fork_waits_for_approval_then_deploys_that_sha(harness: Harness) -> None:
    handle = await start_fork(harness, "f00d001")
    waiting = await wait_for_state(handle, lambda s: s.phase == "awaiting_approval")
    assert not harness.recorder.args(A.CREATE_DEPLOYMENT)  # nothing built, no secrets handed out
    await wait_until(lambda: ("awaiting_approval", None) in reports(harness), what="the PR told")
    assert waiting.desired is not None and waiting.desired.sha == "f00d001"

    await handle.signal(PreviewWorkflow.approve, approve())
    live = await wait_for_state(handle, is_active("f00d001"))
    assert live.approved_shas == ["f00d001"] and live.approved_by == ["maintainer"]
    assert [c.commit_sha for c in harness.recorder.args(A.CREATE_DEPLOYMENT)] == ["f00d001"]


async def test_a_new_push_from_the_fork_needs_a_new_approval(harness: Harness) -> None:
    handle = await start_fork(harness, "f00d001")
    await wait_for_state(handle, lambda s: s.phase == "awaiting_approval")
    await handle.signal(PreviewWorkflow.approve, approve())
    await wait_for_state(handle, is_active("f00d001"))

    later_push = PushSignal(sha="f00d002", delivery_id=new_id(), fork=True, updated_at=LATER)
    await handle.signal(PreviewWorkflow.push, later_push)
    waiting = await wait_for_state(handle, lambda s: s.phase == "awaiting_approval")
    # The approved sha keeps serving while the new one waits.
    assert waiting.deployed_sha == "f00d001" and waiting.url
    assert [c.commit_sha for c in harness.recorder.args(A.CREATE_DEPLOYMENT)] == ["f00d001"]

    # An approval stamped before the push cannot have been for it.
    await handle.signal(PreviewWorkflow.approve, approve(at="2026-11-25T10:04:00Z", who="slow"))
    await wait_until(
        lambda: any(n and "pushed after your approval" in n for _, n in reports(harness)), what="the refusal"
    )
    assert (await handle.query(PreviewWorkflow.get_state)).phase == "awaiting_approval"

    # Naming the sha is explicit enough whatever the time.
    await handle.signal(PreviewWorkflow.approve, approve(sha="f00d002", at=PUSHED_AT))
    await wait_for_state(handle, is_active("f00d002"))


async def test_an_approval_for_another_sha_is_refused(harness: Harness) -> None:
    handle = await start_fork(harness, "f00d001")
    await wait_for_state(handle, lambda s: s.phase == "awaiting_approval")
    await handle.signal(PreviewWorkflow.approve, approve(sha="abcdef0"))
    await wait_until(
        lambda: any(n and "is not this pull request's newest commit" in n for _, n in reports(harness)),
        what="the refusal",
    )
    state = await handle.query(PreviewWorkflow.get_state)
    assert state.phase == "awaiting_approval" and state.approved_shas == []


async def test_a_refused_command_is_told_and_changes_nothing(harness: Harness) -> None:
    handle = await start_fork(harness, "f00d001")
    await wait_for_state(handle, lambda s: s.phase == "awaiting_approval")
    refusal = RefusalSignal(requested_by="visitor", command="approve", reason="only maintainers can.",
                            request_id=new_id())  # fmt: skip
    await handle.signal(PreviewWorkflow.refuse, refusal)
    await wait_until(lambda: ("awaiting_approval", "@visitor: only maintainers can.") in reports(harness),
                     what="the notice on the waiting comment")  # fmt: skip
    assert not harness.recorder.args(A.CREATE_DEPLOYMENT)


async def test_policy_always_trusts_forks_and_never_refuses_them(harness: Harness) -> None:
    harness.recorder.fork_policy = "always"
    handle = await start_fork(harness, "f00d001")
    await wait_for_state(handle, is_active("f00d001"))
    await handle.signal(PreviewWorkflow.close, CloseSignal(delivery_id=new_id()))
    await handle.result()

    harness.recorder.fork_policy = "never"
    handle = await start_fork(harness, "f00d002")
    blocked = await wait_for_state(handle, lambda s: s.phase == "fork_blocked")
    assert blocked.deployed_sha is None
    await wait_until(lambda: ("fork_blocked", None) in reports(harness), what="the PR told")
    assert [c.commit_sha for c in harness.recorder.args(A.CREATE_DEPLOYMENT)] == ["f00d001"]


async def test_branch_pushes_never_ask_for_approval(harness: Harness) -> None:
    handle = await harness.start("sha-1")
    await wait_for_state(handle, is_active("sha-1"))
    assert not harness.recorder.args(A.FORK_POLICY)
    await handle.signal(PreviewWorkflow.approve, approve())
    await wait_until(lambda: any(n and "does not come from a fork" in n for _, n in reports(harness)),
                     what="the notice")  # fmt: skip


async def test_the_dashboards_approval_is_answered_at_once(harness: Harness) -> None:
    handle = await start_fork(harness, "f00d001")
    await wait_for_state(handle, lambda s: s.phase == "awaiting_approval")

    with pytest.raises(WorkflowUpdateFailedError) as refused:
        await handle.execute_update(PreviewWorkflow.approve_commit, approve(sha="abcdef0", who="dash"))
    assert "is not this pull request's newest commit" in str(refused.value.cause)
    assert (await handle.query(PreviewWorkflow.get_state)).approved_shas == []

    approved = await handle.execute_update(PreviewWorkflow.approve_commit, approve(sha="f00d001", who="dash"))
    assert approved == "f00d001"
    live = await wait_for_state(handle, is_active("f00d001"))
    assert live.approved_by == ["dash"]
