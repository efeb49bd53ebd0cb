"""Expiry: a durable timer in the PR's workflow warns a "day" before and tears an unused preview down
(status `expired`); a later request re-arms it, a pin survives it and new pushes, an extension moves it.

A "day" here is one second (store.expiry_facts' `day_seconds`, as PREVIEWD_EXPIRY_UNIT_SECONDS makes
it in the real activity), so the real timers run on a real dev server in seconds.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

from tests.workflows.harness import Harness, is_active, new_id, wait_for_state, wait_until
from workflows.activity_io import GITHUB_REPORT, ReportInput
from workflows.activity_io import ActivityName as A
from workflows.preview import PreviewWorkflow
from workflows.signals import CommandSignal, LifetimeAction, LifetimeSignal, ManualSignal, PreviewState
from workflows.vocabulary import Phase, ReportPhase, Settlement


def _expire_in(harness: Harness, days: float) -> None:
    harness.recorder.expire_after_seconds = days
    harness.recorder.day_seconds = 1.0


def _reports(harness: Harness) -> list[ReportInput]:
    return list(harness.recorder.args(GITHUB_REPORT))


def _armed(sha: str) -> Callable[[PreviewState], bool]:
    """Live, and its expiry worked out (the clock reads the facts just after it went live)."""
    return lambda state: is_active(sha)(state) and bool(state.expires_at)


def _expired(state: PreviewState) -> bool:
    return state.phase == Phase.EXPIRED


async def _signal(handle: object, action: LifetimeAction, hours: int = 0, who: str = "alice") -> None:
    signal = LifetimeSignal(action=action, hours=hours, requested_by=who, request_id=new_id())
    await handle.signal(PreviewWorkflow.lifetime, signal)  # type: ignore[attr-defined]


async def test_an_unused_preview_is_warned_then_expires_and_a_push_brings_it_back(harness: Harness) -> None:
    _expire_in(harness, 3)
    handle = await harness.start("sha-1")
    live = await wait_for_state(handle, _armed("sha-1"))
    started = datetime.fromisoformat(live.expiry_counted_from)

    expired = await wait_for_state(handle, _expired, timeout=20)

    rec = harness.recorder
    [marked] = rec.args(A.MARK_DESTROYED)
    assert (marked.deployment_ids, marked.status) == ([live.current_deployment_id], "expired")
    assert expired.current_deployment_id is None and expired.url is None and expired.expires_at == ""
    assert [entry.status for entry in expired.history] == ["active", "expired"]
    assert datetime.fromisoformat(expired.history[-1].at) >= started + timedelta(seconds=3)
    # The PR is told by a task of its own, a moment after the state says expired.
    await wait_until(lambda: any(r.phase == ReportPhase.EXPIRED for r in _reports(harness)), what="report")
    reports = _reports(harness)
    warnings = [i for i, r in enumerate(reports) if r.notice and "expires at" in r.notice]
    finals = [i for i, r in enumerate(reports) if r.phase == ReportPhase.EXPIRED]
    assert len(warnings) == 1 and finals and warnings[0] < finals[0]
    warning = reports[warnings[0]].notice or ""
    assert "/preview keep" in warning and "/preview extend 3d" in warning and "UTC" in warning
    # Settled like a destroyed live preview: GitHub's deployment ends success, then inactive.
    settled = [s for r in reports[finals[0] :] for s in r.settled or []]
    assert [(s.deployment_id, s.outcome) for s in settled][:1] == [
        (live.current_deployment_id, Settlement.DESTROYED)
    ]

    await harness.push(handle, "sha-2")
    back = await wait_for_state(handle, lambda s: is_active("sha-2")(s) and bool(s.expires_at))
    assert datetime.fromisoformat(back.expires_at) > datetime.fromisoformat(expired.history[-1].at)


async def test_a_later_request_re_arms_the_timer(harness: Harness) -> None:
    _expire_in(harness, 3)
    handle = await harness.start("sha-1")
    live = await wait_for_state(handle, _armed("sha-1"))
    first_deadline = datetime.fromisoformat(live.expiry_counted_from) + timedelta(seconds=3)
    await asyncio.sleep(1.5)
    request_at = datetime.now(UTC)
    harness.recorder.last_request_at = request_at.isoformat()

    # The first wake (the warning, a "day" before) reads the request and moves the deadline.
    moved = (request_at + timedelta(seconds=3)).isoformat()
    re_armed = await wait_for_state(handle, lambda s: s.expires_at == moved)
    assert re_armed.phase == Phase.ACTIVE
    await asyncio.sleep(max(0.0, (first_deadline - datetime.now(UTC)).total_seconds()) + 0.5)
    assert (await handle.query(PreviewWorkflow.get_state)).phase == Phase.ACTIVE

    expired = await wait_for_state(handle, _expired, timeout=20)
    assert datetime.fromisoformat(expired.history[-1].at) >= request_at + timedelta(seconds=3)


async def test_a_pinned_preview_survives_its_expiry_and_a_new_push_until_unpinned(harness: Harness) -> None:
    _expire_in(harness, 2)
    handle = await harness.start("sha-1")
    await wait_for_state(handle, is_active("sha-1"))
    await _signal(handle, LifetimeAction.KEEP)
    await wait_for_state(handle, lambda s: s.pinned_by == "alice")

    await asyncio.sleep(3)
    await harness.push(handle, "sha-2")
    await wait_for_state(handle, is_active("sha-2"))
    await asyncio.sleep(3)

    state = await handle.query(PreviewWorkflow.get_state)
    assert (state.phase, state.pinned_by, state.expires_at) == (Phase.ACTIVE, "alice", "")
    assert not harness.recorder.args(A.MARK_DESTROYED)
    notices = [r.notice for r in _reports(harness) if r.notice]
    assert any("@alice pinned this preview" in n for n in notices)

    await _signal(handle, LifetimeAction.UNPIN, who="bob")
    unpinned_at = datetime.now(UTC)
    expired = await wait_for_state(handle, _expired, timeout=20)
    assert datetime.fromisoformat(expired.history[-1].at) >= unpinned_at + timedelta(seconds=1.5)


async def test_extend_pushes_the_expiry_out(harness: Harness) -> None:
    _expire_in(harness, 2)
    handle = await harness.start("sha-1")
    live = await wait_for_state(handle, _armed("sha-1"))
    due = datetime.fromisoformat(live.expiry_counted_from) + timedelta(seconds=2)

    await _signal(handle, LifetimeAction.EXTEND, hours=72)  # three "days": three seconds here
    extended = await wait_for_state(handle, lambda s: bool(s.extended_until))
    until = datetime.fromisoformat(extended.extended_until)
    assert until >= due + timedelta(seconds=3) - timedelta(milliseconds=50)
    told = "@alice extended this preview: it does not expire before"
    await wait_until(lambda: any(told in (r.notice or "") for r in _reports(harness)), what="the notice")

    expired = await wait_for_state(handle, _expired, timeout=20)
    assert datetime.fromisoformat(expired.history[-1].at) >= until


async def test_lifetime_commands_need_push_access_and_a_valid_duration(harness: Harness) -> None:
    _expire_in(harness, 30)
    harness.recorder.permissions = {"writer": "write", "reader": "read"}
    handle = await harness.start("sha-1")
    await wait_for_state(handle, is_active("sha-1"))

    async def comment(command: str, who: str, argument: str = "", told: str = "") -> None:
        """Comment, and wait until the PR was told `told` (notices collapse when they come quicker
        than GitHub answers, as on a real PR)."""
        signal = CommandSignal(command=command, argument=argument, requested_by=who, request_id=new_id())
        await handle.signal(PreviewWorkflow.command, signal)
        await wait_until(lambda: any((r.notice or "").startswith(told) for r in _reports(harness)), what=told)

    await comment(
        "extend", "reader", "3d", told="@reader: `/preview extend` was not carried out: it needs push"
    )
    await comment("keep", "reader", told="@reader: `/preview keep` was not carried out: it needs push")
    await comment(
        "extend", "writer", "forever", told="@writer: `/preview extend forever` was not carried out"
    )
    state = await handle.query(PreviewWorkflow.get_state)
    assert (state.extended_until, state.pinned_by) == ("", "")
    await comment("keep", "writer", told="@writer pinned this preview")
    assert (await handle.query(PreviewWorkflow.get_state)).pinned_by == "writer"
    await comment("extend", "writer", "1w")
    extended = await wait_for_state(handle, lambda s: bool(s.extended_until))
    # Seven "days" (seconds) from now: the preview is pinned, so it had no deadline to extend.
    assert datetime.fromisoformat(extended.extended_until) > datetime.now(UTC) + timedelta(seconds=6)


async def test_a_redeploy_after_expiry_is_counted_afresh(harness: Harness) -> None:
    _expire_in(harness, 2)
    handle = await harness.start("sha-1")
    await wait_for_state(handle, is_active("sha-1"))
    await wait_for_state(handle, _expired, timeout=20)

    await handle.signal(PreviewWorkflow.redeploy, ManualSignal(requested_by="bob", request_id=new_id()))
    back = await wait_for_state(handle, lambda s: is_active("sha-1")(s) and bool(s.expires_at))
    assert datetime.fromisoformat(back.expires_at) > datetime.fromisoformat(back.history[-2].at)
    await wait_for_state(handle, _expired, timeout=20)
    assert [e.status for e in (await handle.query(PreviewWorkflow.get_state)).history][-1] == "expired"


async def test_a_clock_that_cannot_read_its_project_stops_and_never_expires_the_preview(
    harness: Harness,
) -> None:
    _expire_in(harness, 1)
    harness.recorder.project_gone = True
    handle = await harness.start("sha-1")
    await wait_for_state(handle, is_active("sha-1"))
    await wait_until(lambda: bool(harness.recorder.args(A.EXPIRY_FACTS)), what="the facts asked for")
    await asyncio.sleep(2.5)

    state = await handle.query(PreviewWorkflow.get_state)
    assert (state.phase, state.expires_at) == (Phase.ACTIVE, "")
    assert len(harness.recorder.args(A.EXPIRY_FACTS)) == 1  # not retried: the project is gone
    harness.recorder.project_gone = False
    await harness.push(handle, "sha-2")  # looked at again
    await wait_for_state(handle, _expired, timeout=20)
