"""Preview events reach the notification channels: one NotificationWorkflow per event, one send per
event and channel, never collapsed the way the PR comment's phases are."""

from __future__ import annotations

from tests.workflows.harness import Harness, is_active, new_id, wait_for_state, wait_until
from workflows.notification_io import EventKind, NotifyActivity, SendInput
from workflows.preview import PreviewWorkflow
from workflows.signals import CloseSignal, PreviewInput, PushSignal, SignalName, workflow_id_for
from workflows.vocabulary import Phase

CHANNELS = ["channel-a", "channel-b"]


def sends(harness: Harness) -> list[SendInput]:
    found: list[SendInput] = harness.recorder.args(NotifyActivity.SEND)
    return found


def kinds_for(harness: Harness, channel: str) -> list[EventKind]:
    return [s.event.kind for s in sends(harness) if s.channel_id == channel]


async def test_failed_then_recovered_then_destroyed_each_reach_every_channel_once(harness: Harness) -> None:
    harness.recorder.channels = list(CHANNELS)
    harness.recorder.failing_shas.add("sha-broken")
    handle = await harness.start("sha-broken")
    await wait_for_state(handle, lambda s: s.phase == Phase.FAILED)
    await harness.push(handle, "sha-fixed")
    await wait_for_state(handle, is_active("sha-fixed"))
    await handle.signal(PreviewWorkflow.close, CloseSignal(delivery_id=new_id()))
    await handle.result()

    expected = [EventKind.FAILED, EventKind.RECOVERED, EventKind.DESTROYED]
    await wait_until(lambda: len(sends(harness)) == len(expected) * len(CHANNELS), what="every send")
    for channel in CHANNELS:
        assert sorted(kinds_for(harness, channel)) == sorted(expected)
    # One event id per event, the same on both channels; the failure's text stays off the channels.
    ids = {s.event.event_id for s in sends(harness)}
    assert len(ids) == len(expected)
    [failed] = {
        s.event.event_id: s.event for s in sends(harness) if s.event.kind == EventKind.FAILED
    }.values()
    assert failed.sha == "sha-broken" and failed.reason == "" and failed.deployment_id
    # The child workflows were started once each (their ids are the events').
    assert len(harness.recorder.args(NotifyActivity.TARGETS)) == len(expected)


async def test_a_quick_ready_then_close_sends_both_and_the_run_ends(harness: Harness) -> None:
    harness.recorder.channels = ["channel-a"]
    handle = await harness.start("sha-1")
    live = await wait_for_state(handle, is_active("sha-1"))
    await handle.signal(PreviewWorkflow.close, CloseSignal(delivery_id=new_id()))
    final = await handle.result()  # a closed PR's run ends; its notifications go on without it

    await wait_until(lambda: len(sends(harness)) == 2, what="ready and destroyed")
    ready, destroyed = sorted((s.event for s in sends(harness)), key=lambda e: e.at)
    assert (ready.kind, ready.url, ready.sha) == (EventKind.READY, live.url, "sha-1")
    assert (destroyed.kind, destroyed.reason) == (EventKind.DESTROYED, "destroyed")
    assert final.pending_events == [] and final.last_outcome == ""


async def test_a_fork_waiting_for_approval_is_told_once(harness: Harness) -> None:
    harness.recorder.channels = ["channel-a"]
    push = PushSignal(sha="f0f0f01", delivery_id=new_id(), fork=True, updated_at="2026-11-25T10:00:00Z")
    handle = await harness.client.start_workflow(
        PreviewWorkflow.run,
        PreviewInput(project_id=harness.project_id, pr_number=7),
        id=workflow_id_for(harness.project_id, 7),
        task_queue=harness.task_queue,
        start_signal=SignalName.PUSH,
        start_signal_args=[push],
    )
    await wait_for_state(handle, lambda s: s.phase == Phase.AWAITING_APPROVAL)
    await wait_until(lambda: len(sends(harness)) == 1, what="the approval notice")
    [send] = sends(harness)
    assert (send.event.kind, send.event.sha, send.event.pr_number) == (
        EventKind.AWAITING_APPROVAL,
        "f0f0f01",
        7,
    )
    await handle.terminate()


async def test_no_channel_no_send(harness: Harness) -> None:
    handle = await harness.start("sha-1")
    await wait_for_state(handle, is_active("sha-1"))
    await wait_until(lambda: bool(harness.recorder.args(NotifyActivity.TARGETS)), what="the ready event")
    assert sends(harness) == []
    await handle.terminate()


async def test_an_expiring_preview_warns_once_then_is_destroyed_as_expired(harness: Harness) -> None:
    harness.recorder.channels = ["channel-a"]
    harness.recorder.expire_after_seconds, harness.recorder.day_seconds = 3.0, 1.0  # 3 "days" of 1 s
    handle = await harness.start("sha-1")
    live = await wait_for_state(handle, is_active("sha-1"))
    await wait_for_state(handle, lambda s: s.phase == Phase.EXPIRED, timeout=20)

    await wait_until(lambda: len(sends(harness)) == 3, what="ready, expiring and destroyed")
    ready, expiring, destroyed = sorted((s.event for s in sends(harness)), key=lambda e: e.at)
    assert [ready.kind, expiring.kind, destroyed.kind] == [
        EventKind.READY,
        EventKind.EXPIRING,
        EventKind.DESTROYED,
    ]
    assert expiring.expires_at and expiring.url == live.url and expiring.sha == "sha-1"
    assert destroyed.reason == "expired"
    await handle.terminate()
