"""A fork's sha waits for a maintainer's approval (per sha), unless the project trusts or refuses forks;
refused commands and misdirected approvals are told on the PR, never acted on."""

from __future__ import annotations

from functools import partial

import pytest
from temporalio.client import WorkflowUpdateFailedError

from tests.workflows.harness import Handle, Harness, is_active, new_id, wait_for_state, wait_until
from workflows.activity_io import GITHUB_PERMISSION, GITHUB_REPORT
from workflows.activity_io import ActivityName as A
from workflows.preview import PreviewWorkflow
from workflows.signals import (
    ApproveSignal,
    CloseSignal,
    CommandSignal,
    PreviewInput,
    PushSignal,
    RefusalSignal,
    SignalName,
    workflow_id_for,
)

# Full shas: an approval names all 40 characters (a prefix could be matched by a look-alike commit).
FORK1 = "f00d001" + "0" * 33
FORK2 = "f00d002" + "0" * 33
OTHER = "abcdef0" + "1" * 33
PUSHED_AT = "2026-11-25T10:00:00Z"
LATER = "2026-11-25T10:05:00Z"


BASE = "ba5e000" + "2" * 33


async def start_fork(harness: Harness, sha: str, pushed_at: str = PUSHED_AT) -> Handle:
    push = PushSignal(sha=sha, title="From a fork", author="visitor", delivery_id=new_id(), fork=True,
                      updated_at=pushed_at, head_ref="patch-1", base_ref="main", base_sha=BASE)  # fmt: skip
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
    handle = await start_fork(harness, FORK1)
    waiting = await wait_for_state(handle, lambda s: s.phase == "awaiting_approval")
    assert not harness.recorder.args(A.CREATE_DEPLOYMENT)  # nothing built, no secrets handed out
    await wait_until(lambda: ("awaiting_approval", None) in reports(harness), what="the PR told")
    assert waiting.desired is not None and waiting.desired.sha == FORK1

    await handle.signal(PreviewWorkflow.approve, approve())
    live = await wait_for_state(handle, is_active(FORK1))
    assert live.approved_shas == [FORK1] and live.approved_by == ["maintainer"]
    assert [c.commit_sha for c in harness.recorder.args(A.CREATE_DEPLOYMENT)] == [FORK1]


async def test_a_new_push_from_the_fork_needs_a_new_approval(harness: Harness) -> None:
    handle = await start_fork(harness, FORK1)
    await wait_for_state(handle, lambda s: s.phase == "awaiting_approval")
    await handle.signal(PreviewWorkflow.approve, approve())
    await wait_for_state(handle, is_active(FORK1))

    later_push = PushSignal(sha=FORK2, delivery_id=new_id(), fork=True, updated_at=LATER)
    await handle.signal(PreviewWorkflow.push, later_push)
    waiting = await wait_for_state(handle, lambda s: s.phase == "awaiting_approval")
    # The approved sha keeps serving while the new one waits.
    assert waiting.deployed_sha == FORK1 and waiting.url
    assert [c.commit_sha for c in harness.recorder.args(A.CREATE_DEPLOYMENT)] == [FORK1]

    # An approval stamped before the push cannot have been for it.
    await handle.signal(PreviewWorkflow.approve, approve(at="2026-11-25T10:04:00Z", who="slow"))
    await wait_until(
        lambda: any(n and "pushed after your approval" in n for _, n in reports(harness)), what="the refusal"
    )
    assert (await handle.query(PreviewWorkflow.get_state)).phase == "awaiting_approval"

    # Naming the sha is explicit enough whatever the time.
    await handle.signal(PreviewWorkflow.approve, approve(sha=FORK2, at=PUSHED_AT))
    await wait_for_state(handle, is_active(FORK2))


async def test_an_approval_for_another_sha_is_refused(harness: Harness) -> None:
    handle = await start_fork(harness, FORK1)
    await wait_for_state(handle, lambda s: s.phase == "awaiting_approval")
    await handle.signal(PreviewWorkflow.approve, approve(sha=OTHER))
    await wait_until(
        lambda: any(n and "is not this pull request's newest commit" in n for _, n in reports(harness)),
        what="the refusal",
    )
    state = await handle.query(PreviewWorkflow.get_state)
    assert state.phase == "awaiting_approval" and state.approved_shas == []


async def test_a_refused_command_is_told_and_changes_nothing(harness: Harness) -> None:
    handle = await start_fork(harness, FORK1)
    await wait_for_state(handle, lambda s: s.phase == "awaiting_approval")
    refusal = RefusalSignal(requested_by="visitor", command="approve", reason="only maintainers can.",
                            request_id=new_id())  # fmt: skip
    await handle.signal(PreviewWorkflow.refuse, refusal)
    await wait_until(lambda: ("awaiting_approval", "@visitor: only maintainers can.") in reports(harness),
                     what="the notice on the waiting comment")  # fmt: skip
    assert not harness.recorder.args(A.CREATE_DEPLOYMENT)


async def test_policy_always_trusts_forks_and_never_refuses_them(harness: Harness) -> None:
    harness.recorder.fork_policy = "always"
    handle = await start_fork(harness, FORK1)
    await wait_for_state(handle, is_active(FORK1))
    await handle.signal(PreviewWorkflow.close, CloseSignal(delivery_id=new_id()))
    await handle.result()

    harness.recorder.fork_policy = "never"
    handle = await start_fork(harness, FORK2)
    blocked = await wait_for_state(handle, lambda s: s.phase == "fork_blocked")
    assert blocked.deployed_sha is None
    await wait_until(lambda: ("fork_blocked", None) in reports(harness), what="the PR told")
    assert [c.commit_sha for c in harness.recorder.args(A.CREATE_DEPLOYMENT)] == [FORK1]


async def test_under_always_a_fork_that_changes_previewd_toml_waits_for_approval(harness: Harness) -> None:
    harness.recorder.fork_policy = "always"
    harness.recorder.config_changing_shas = {FORK1}
    handle = await start_fork(harness, FORK1)
    await wait_for_state(handle, lambda s: s.phase == "awaiting_approval")
    [check] = harness.recorder.args(A.CONFIG_CHANGED)
    assert (check.head_sha, check.base_sha) == (FORK1, BASE)
    assert not harness.recorder.args(A.CREATE_DEPLOYMENT)
    await wait_until(
        lambda: any(phase == "awaiting_approval" and notice and "previewd.toml" in notice
                    for phase, notice in reports(harness)),
        what="the PR told why",
    )  # fmt: skip

    await handle.signal(PreviewWorkflow.approve, approve())
    await wait_for_state(handle, is_active(FORK1))
    # Approved: the head's own previewd.toml is used (no config sha other than the commit's).
    [clone] = harness.recorder.args(A.CLONE)
    assert clone.config_sha == ""


async def test_under_always_an_unchanged_previewd_toml_is_read_at_the_base(harness: Harness) -> None:
    harness.recorder.fork_policy = "always"
    handle = await start_fork(harness, FORK1)
    await wait_for_state(handle, is_active(FORK1))
    [clone] = harness.recorder.args(A.CLONE)
    assert clone.config_sha == BASE


async def test_branch_pushes_never_ask_for_approval(harness: Harness) -> None:
    handle = await harness.start("sha-1")
    await wait_for_state(handle, is_active("sha-1"))
    assert not harness.recorder.args(A.FORK_POLICY)
    await handle.signal(PreviewWorkflow.approve, approve())
    await wait_until(lambda: any(n and "does not come from a fork" in n for _, n in reports(harness)),
                     what="the notice")  # fmt: skip


async def test_the_dashboards_approval_is_answered_at_once(harness: Harness) -> None:
    handle = await start_fork(harness, FORK1)
    await wait_for_state(handle, lambda s: s.phase == "awaiting_approval")

    with pytest.raises(WorkflowUpdateFailedError) as refused:
        await handle.execute_update(PreviewWorkflow.approve_commit, approve(sha=OTHER, who="dash"))
    assert "is not this pull request's newest commit" in str(refused.value.cause)
    assert (await handle.query(PreviewWorkflow.get_state)).approved_shas == []

    approved = await handle.execute_update(PreviewWorkflow.approve_commit, approve(sha=FORK1, who="dash"))
    assert approved == FORK1
    live = await wait_for_state(handle, is_active(FORK1))
    assert live.approved_by == ["dash"]


def refused(harness: Harness, who: str) -> bool:
    return any(n and n.startswith(f"@{who}:") and "needs push access" in n for _, n in reports(harness))


def command(name: str, who: str, argument: str = "", at: str = LATER) -> CommandSignal:
    return CommandSignal(
        command=name, argument=argument, requested_by=who, request_id=new_id(), created_at=at
    )


async def test_a_comment_command_is_carried_out_only_for_people_with_push(harness: Harness) -> None:
    harness.recorder.permissions = {"member-without-push": "read", "maintainer": "write"}
    handle = await start_fork(harness, FORK1)
    await wait_for_state(handle, lambda s: s.phase == "awaiting_approval")
    for who in ("member-without-push", "stranger"):
        await handle.signal(PreviewWorkflow.command, command("approve", who))
        await wait_until(partial(refused, harness, who), what=f"{who} refused")
    asked = [(p.login, p.project_id) for p in harness.recorder.args(GITHUB_PERMISSION)]
    assert asked == [("member-without-push", harness.project_id), ("stranger", harness.project_id)]
    state = await handle.query(PreviewWorkflow.get_state)
    assert state.approved_shas == [] and not harness.recorder.args(A.CREATE_DEPLOYMENT)

    # A prefix is refused even from a maintainer; the full sha is not.
    await handle.signal(PreviewWorkflow.command, command("approve", "maintainer", FORK1[:7]))
    await wait_until(lambda: any(n and "not a full commit sha" in n for _, n in reports(harness)),
                     what="the short sha refused")  # fmt: skip
    await handle.signal(PreviewWorkflow.command, command("approve", "maintainer", FORK1))
    live = await wait_for_state(handle, is_active(FORK1))
    assert live.approved_by == ["maintainer"]

    await handle.signal(PreviewWorkflow.command, command("destroy", "member-without-push"))
    await handle.signal(PreviewWorkflow.command, command("destroy", "maintainer"))
    await wait_for_state(handle, lambda s: s.phase == "destroyed")
    assert [p.login for p in harness.recorder.args(GITHUB_PERMISSION)][-2:] == [
        "member-without-push",
        "maintainer",
    ]
