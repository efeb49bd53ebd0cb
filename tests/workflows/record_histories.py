"""Record PreviewWorkflow histories for the replay tests.

Runs a few scenarios against a local dev server with the fake activities and writes each finished
run's history to tests/workflows/histories/<scenario>.json. The point of the saved histories is that
changed workflow code must still replay them.

    python -m tests.workflows.record_histories [scenario ...]   (default: every scenario)

Before the first release, re-record them all whenever the workflow changes what it does. After it,
re-record nothing: name only a new scenario, so the older histories stay as the released code wrote
them, and change the workflow through `workflow.patched` (see test_replay.py).
"""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

if __package__ in (None, ""):  # run as a file: make the repository root importable
    sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from temporalio.client import WorkflowHandle  # noqa: E402

from tests.workflows import harness as fx  # noqa: E402
from workflows.activity_io import ActivityName  # noqa: E402
from workflows.preview import PreviewWorkflow  # noqa: E402
from workflows.signals import (  # noqa: E402
    CloseSignal,
    CommandSignal,
    LifetimeAction,
    LifetimeSignal,
    ManualSignal,
    PreviewInput,
    PushSignal,
    RefusalSignal,
    SignalName,
    workflow_id_for,
)

HISTORIES = Path(__file__).resolve().parent / "histories"
Handle = WorkflowHandle[Any, Any]


async def close(handle: Handle) -> None:
    await handle.signal(PreviewWorkflow.close, CloseSignal(delivery_id=fx.new_id()))
    await handle.result()


async def open_push_close(h: fx.Harness) -> Handle:
    handle = await h.start("sha-1")
    await fx.wait_for_state(handle, fx.is_active("sha-1"))
    await h.push(handle, "sha-2")
    await fx.wait_for_state(handle, fx.is_active("sha-2"))
    await close(handle)
    return handle


async def superseded_burst(h: fx.Harness) -> Handle:
    shas = [f"sha-{letter}" for letter in "abcde"]
    h.recorder.slow_shas.update(shas[:-1])
    handle = await h.start(shas[0])
    await fx.wait_until(lambda: bool(h.recorder.args(ActivityName.BUILD)), what="the first build")
    for sha in shas[1:]:
        await h.push(handle, sha)
    await fx.wait_for_state(handle, fx.is_active(shas[-1]))
    await close(handle)
    return handle


async def failed_build(h: fx.Harness) -> Handle:
    h.recorder.failing_shas.add("sha-broken")
    handle = await h.start("sha-broken")
    await fx.wait_for_state(handle, lambda state: state.phase == "failed")
    await h.push(handle, "sha-fixed")
    await fx.wait_for_state(handle, fx.is_active("sha-fixed"))
    await close(handle)
    return handle


async def destroy_redeploy(h: fx.Harness) -> Handle:
    handle = await h.start("sha-1")
    await fx.wait_for_state(handle, fx.is_active("sha-1"))
    await handle.signal(PreviewWorkflow.destroy, ManualSignal(requested_by="alice", request_id=fx.new_id()))
    await fx.wait_for_state(handle, lambda state: state.phase == "destroyed")
    await handle.signal(PreviewWorkflow.redeploy, ManualSignal(requested_by="alice", request_id=fx.new_id()))
    await fx.wait_for_state(handle, fx.is_active("sha-1"))
    await close(handle)
    return handle


PUSHED_LATER = "2026-11-25T10:01:00Z"
FORK_SHA = "f0f0f01" + "0" * 33


async def fork_approval(h: fx.Harness) -> Handle:
    """A fork's push waits; a refused command is told; a `/preview approve` from a member without push
    is refused after asking GitHub; one from a maintainer deploys it; a new push waits again."""
    handle = await h.start("sha-fork-1")
    await handle.signal(PreviewWorkflow.close, CloseSignal(delivery_id=fx.new_id()))
    await handle.result()
    h.recorder.permissions = {"member": "read", "maintainer": "write"}
    push = PushSignal(sha=FORK_SHA, delivery_id=fx.new_id(), fork=True, updated_at="2026-11-25T10:00:00Z")
    handle = await h.client.start_workflow(
        PreviewWorkflow.run, PreviewInput(project_id=h.project_id, pr_number=2),
        id=workflow_id_for(h.project_id, 2), task_queue=h.task_queue,
        start_signal=SignalName.PUSH, start_signal_args=[push],
    )  # fmt: skip
    await fx.wait_for_state(handle, lambda state: state.phase == "awaiting_approval")
    refusal = RefusalSignal(requested_by="visitor", command="approve", reason="no.", request_id=fx.new_id())
    await handle.signal(PreviewWorkflow.refuse, refusal)
    for who in ("member", "maintainer"):
        approval = CommandSignal(
            command="approve", argument=FORK_SHA, requested_by=who, request_id=fx.new_id(),
            created_at="2026-11-25T10:01:00Z",
        )  # fmt: skip
        await handle.signal(PreviewWorkflow.command, approval)
    await fx.wait_for_state(handle, fx.is_active(FORK_SHA))
    newer = PushSignal(sha="f0f0f02", delivery_id=fx.new_id(), fork=True, updated_at="2026-11-25T10:02:00Z")
    await handle.signal(PreviewWorkflow.push, newer)
    await fx.wait_for_state(handle, lambda state: state.phase == "awaiting_approval")
    await close(handle)
    return handle


async def queued_for_a_build_slot(h: fx.Harness) -> Handle:
    """One build of the project at once: PR 2 waits in line (told its place), a push while it waits
    leaves the line and queues again, and PR 1's close hands the slot over (`slot_free`)."""
    h.recorder.builds_per_project = 1
    h.recorder.slow_shas.add("sha-1")
    first = await h.start("sha-1", pr_number=1)
    await fx.wait_until(lambda: bool(h.recorder.args(ActivityName.BUILD)), what="PR 1's build")
    handle = await h.start("sha-a", pr_number=2)
    await fx.wait_for_state(handle, lambda state: state.builds_ahead == 1)
    await h.push(handle, "sha-b")
    await fx.wait_until(lambda: bool(h.recorder.deployment_ids_for("sha-b")), what="sha-b in line")
    await fx.wait_for_state(handle, lambda state: state.builds_ahead == 1)
    await close(first)
    await fx.wait_for_state(handle, fx.is_active("sha-b"))
    await close(handle)
    return handle


async def expiry(h: fx.Harness) -> Handle:
    """A preview warned and expired by its timer (a "day" is a second here); a push brings it back; a
    `/preview keep` pins it past its expiry; an extension after an unpin; then the close."""
    h.recorder.expire_after_seconds, h.recorder.day_seconds = 2.0, 1.0
    h.recorder.permissions = {"maintainer": "write"}
    handle = await h.start("sha-1")
    await fx.wait_for_state(handle, lambda state: state.phase == "expired", timeout=20)
    await h.push(handle, "sha-2")
    await fx.wait_for_state(handle, fx.is_active("sha-2"))
    keep = CommandSignal(command="keep", requested_by="maintainer", request_id=fx.new_id())
    await handle.signal(PreviewWorkflow.command, keep)
    await fx.wait_for_state(handle, lambda state: state.pinned_by == "maintainer")
    await asyncio.sleep(2.5)
    for action, hours in ((LifetimeAction.UNPIN, 0), (LifetimeAction.EXTEND, 24)):
        change = LifetimeSignal(action=action, hours=hours, requested_by="alice", request_id=fx.new_id())
        await handle.signal(PreviewWorkflow.lifetime, change)
    await fx.wait_for_state(handle, lambda state: bool(state.extended_until))
    await close(handle)
    return handle


async def sleep_wake(h: fx.Harness) -> Handle:
    """Live, idle: asleep; a visit wakes it; max_live_previews puts it to sleep; a push goes live awake."""
    h.recorder.sleeps = True
    h.recorder.idle = True
    handle = await h.start("sha-1")
    await fx.wait_for_state(handle, lambda state: state.phase == "sleeping")
    h.recorder.idle = False
    await handle.signal(PreviewWorkflow.wake, ManualSignal(requested_by="a visit"))
    await fx.wait_for_state(handle, fx.is_active("sha-1"))
    await handle.signal(PreviewWorkflow.sleep, ManualSignal(requested_by="max_live_previews"))
    await fx.wait_for_state(handle, lambda state: state.phase == "sleeping")
    await h.push(handle, "sha-2")
    await fx.wait_for_state(handle, fx.is_active("sha-2"))
    await close(handle)
    return handle


SCENARIOS: dict[str, Callable[[fx.Harness], Awaitable[Handle]]] = {
    "open_push_close": open_push_close,
    "superseded_burst": superseded_burst,
    "failed_build": failed_build,
    "destroy_redeploy": destroy_redeploy,
    "fork_approval": fork_approval,
    "queued_for_a_build_slot": queued_for_a_build_slot,
    "expiry": expiry,
    "sleep_wake": sleep_wake,
}


async def main(names: list[str]) -> None:
    HISTORIES.mkdir(exist_ok=True)
    unknown = set(names) - set(SCENARIOS)
    if unknown:
        raise SystemExit(f"unknown scenarios: {', '.join(sorted(unknown))}; known: {', '.join(SCENARIOS)}")
    async with fx.dev_server() as env:
        for name, scenario in SCENARIOS.items():
            if names and name not in names:
                continue
            async with fx.running_workers(env.client) as harness:
                handle = await scenario(harness)
                history = await handle.fetch_history()
            path = HISTORIES / f"{name}.json"
            path.write_text(history.to_json() + "\n", encoding="utf-8")
            print(f"wrote {path} ({len(history.events)} events)")


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1:]))
