"""Sleep and wake in PreviewWorkflow (workflows/sleeper.py), with fake activities on a real dev server:
the durable idle timer, the sleep and wake signals, max_live_previews after each go-live or wake, and
a platform that cannot sleep (Fly) never timed."""

from __future__ import annotations

from typing import Any

from temporalio.client import Client

from tests.workflows.harness import Recorder, is_active, new_id, running_workers, wait_for_state, wait_until
from workflows.activity_io import ActivityName
from workflows.preview import PreviewWorkflow
from workflows.signals import CloseSignal, ManualSignal
from workflows.vocabulary import Phase

VISIT = ManualSignal(requested_by="a visit")


async def test_idle_preview_sleeps_on_its_host_and_a_visit_wakes_it(client: Client) -> None:
    recorder = Recorder(sleeps=True, idle_seconds_left=0.5)
    async with running_workers(client, recorder) as h:
        handle = await h.start("sha-1")
        await wait_for_state(handle, is_active("sha-1"))
        # Not idle yet: the workflow waits the time left on a timer and asks again.
        await wait_until(lambda: len(recorder.args(ActivityName.SLEEP_IF_IDLE)) >= 2, what="a second check")
        recorder.idle = True
        state = await wait_for_state(handle, lambda s: s.phase == Phase.SLEEPING)
        assert state.asleep and state.idle_check_at is None and state.deployed_sha == "sha-1"
        checks = [c for c in recorder.calls if c.name == ActivityName.SLEEP_IF_IDLE]
        assert {c.task_queue for c in checks} == {h.host_queue}  # on the preview's host
        assert checks[-1].arg.ref.app_name == "pr-1-app" and checks[-1].arg.awake_since
        # GitHub hears nothing of a sleep: no report after the one that said it was ready.
        reports = recorder.args("github.report")
        assert [r.phase for r in reports][-1] == "ready"

        recorder.idle = False
        for _ in range(3):  # every waiting request asks; one wake
            await handle.signal(PreviewWorkflow.wake, VISIT)
        state = await wait_for_state(handle, is_active("sha-1"))
        assert not state.asleep
        await wait_until(lambda: len(recorder.args(ActivityName.LIVE_LIMIT)) == 2, what="limit after wake")
        assert len(recorder.args(ActivityName.WAKE)) == 1
        assert [c.task_queue for c in recorder.calls if c.name == ActivityName.WAKE] == [h.host_queue]
        assert len(recorder.args("github.report")) == len(reports)

        await handle.signal(PreviewWorkflow.close, CloseSignal(delivery_id=new_id()))
        await handle.result()


async def test_max_live_previews_signal_sleeps_it_and_a_push_goes_live_awake(client: Client) -> None:
    recorder = Recorder(sleeps=True)
    async with running_workers(client, recorder) as h:
        handle = await h.start("sha-1")
        await wait_for_state(handle, is_active("sha-1"))
        limit = await _first(recorder, ActivityName.LIVE_LIMIT)
        assert limit.project_id == h.project_id and limit.app_name == "pr-1-app"
        await handle.signal(PreviewWorkflow.sleep, ManualSignal(requested_by="max_live_previews"))
        await wait_for_state(handle, lambda s: s.phase == Phase.SLEEPING)
        assert len(recorder.args(ActivityName.SLEEP_NOW)) == 1
        await handle.signal(PreviewWorkflow.sleep, ManualSignal(requested_by="max_live_previews"))
        await h.push(handle, "sha-2")
        state = await wait_for_state(handle, is_active("sha-2"))
        assert not state.asleep
        assert len(recorder.args(ActivityName.SLEEP_NOW)) == 1  # asked while asleep: nothing to do
        assert not recorder.args(ActivityName.WAKE)  # the new sha started awake, no wake needed
        await handle.signal(PreviewWorkflow.close, CloseSignal(delivery_id=new_id()))
        final = await handle.result()
        assert final.phase == Phase.CLOSED and not final.asleep and final.idle_check_at is None


async def test_a_platform_that_cannot_sleep_is_never_timed(client: Client) -> None:
    async with running_workers(client, Recorder(sleeps=False)) as h:
        handle = await h.start("sha-1")
        state = await wait_for_state(handle, is_active("sha-1"))
        assert state.idle_check_at is None
        await handle.signal(PreviewWorkflow.sleep, ManualSignal(requested_by="max_live_previews"))
        await handle.signal(PreviewWorkflow.wake, VISIT)
        await handle.signal(PreviewWorkflow.close, CloseSignal(delivery_id=new_id()))
        await handle.result()
        names = h.recorder.names()
        for name in (
            ActivityName.SLEEP_IF_IDLE,
            ActivityName.SLEEP_NOW,
            ActivityName.WAKE,
            ActivityName.LIVE_LIMIT,
        ):
            assert name not in names


async def _first(recorder: Recorder, name: str) -> Any:
    await wait_until(lambda: bool(recorder.args(name)), what=name)
    return recorder.args(name)[0]
