"""A long-lived PR workflow continues as new when Temporal suggests it, and keeps its state.

This module runs its own dev server whose continue-as-new suggestion comes after a few dozen events
(the default is 4,096), so a handful of pushes is enough to cross it several times.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import datetime, timedelta

import pytest
from temporalio.client import Client, WorkflowExecutionDescription, WorkflowExecutionStatus
from temporalio.testing import WorkflowEnvironment

from tests.workflows.harness import (
    Harness,
    dev_server_path,
    is_active,
    new_id,
    running_workers,
    wait_for_state,
    wait_until,
)
from workflows.activity_io import GITHUB_REPORT, CreateDeploymentInput
from workflows.activity_io import ActivityName as A
from workflows.preview import PreviewWorkflow
from workflows.signals import RefusalSignal
from workflows.vocabulary import ReportPhase

# One fake deployment takes a little under 60 events, so the suggestion arrives during the second.
SUGGEST_CONTINUE_AS_NEW_AT = 60


@pytest.fixture(scope="module")
async def limited_env() -> AsyncIterator[WorkflowEnvironment]:
    """A dev server of this module's own, so its low history limit never reaches other tests."""
    env = await WorkflowEnvironment.start_local(
        dev_server_existing_path=str(dev_server_path()),
        dev_server_extra_args=[
            "--dynamic-config-value",
            f"limit.historyCount.suggestContinueAsNew={SUGGEST_CONTINUE_AS_NEW_AT}",
        ],
    )
    async with env:
        yield env


@pytest.fixture
async def limited_harness(limited_env: WorkflowEnvironment) -> AsyncIterator[Harness]:
    async with running_workers(limited_env.client) as harness:
        yield harness


@dataclass
class Run:
    run_id: str
    events: int
    suggested_at: int | None  # the first event (1-based) whose workflow task carried the suggestion
    deployed: list[str]  # the shas whose deployment this run created
    next_run_id: str | None  # set when the run ended by continuing as new


async def run_chain(client: Client, workflow_id: str, first_run_id: str) -> list[Run]:
    """Every run of the workflow from its first, following the continued-as-new links."""
    runs: list[Run] = []
    run_id: str | None = first_run_id
    while run_id is not None:
        history = await client.get_workflow_handle(workflow_id, run_id=run_id).fetch_history()
        suggested_at, deployed, next_run_id = None, [], None
        for number, event in enumerate(history.events, start=1):
            if event.HasField("workflow_task_started_event_attributes"):
                if event.workflow_task_started_event_attributes.suggest_continue_as_new:
                    suggested_at = suggested_at or number
            elif event.HasField("activity_task_scheduled_event_attributes"):
                scheduled = event.activity_task_scheduled_event_attributes
                if scheduled.activity_type.name == A.CREATE_DEPLOYMENT:
                    payloads = scheduled.input.payloads
                    [created] = await client.data_converter.decode(payloads, [CreateDeploymentInput])
                    deployed.append(created.commit_sha)
            elif event.HasField("workflow_execution_continued_as_new_event_attributes"):
                next_run_id = event.workflow_execution_continued_as_new_event_attributes.new_execution_run_id
        runs.append(Run(run_id, len(history.events), suggested_at, deployed, next_run_id))
        run_id = next_run_id
    return runs


async def wait_until_settled(client: Client, workflow_id: str, timeout: float = 10.0) -> str:
    """Until the open run has no activity or workflow task outstanding: it waits for a signal (or, just
    after continuing as new, for the server's short first-task backoff between runs to pass).

    The workflow only continues as new when it has nothing else to do: a push that arrives while the
    previous deployment still retires its predecessor defers it to the next quiet moment. Pushing only
    once the workflow is quiet lets each run continue as new as soon as it is suggested.
    """
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        description = await client.get_workflow_handle(workflow_id).describe()
        raw = description.raw_description
        if (
            description.status == WorkflowExecutionStatus.RUNNING
            and not raw.pending_activities
            and not raw.HasField("pending_workflow_task")
        ):
            return description.run_id
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"workflow {workflow_id} not quiet after {timeout}s: {raw}")
        await asyncio.sleep(0.02)


async def test_continues_as_new_when_suggested_and_keeps_its_state(limited_harness: Harness) -> None:
    harness, rec = limited_harness, limited_harness.recorder
    client = harness.client
    shas = [f"sha-{n}" for n in range(1, 7)]
    first_delivery = new_id()
    handle = await harness.start(shas[0], delivery_id=first_delivery)
    first_run_id = handle.first_execution_run_id
    assert first_run_id is not None
    await wait_for_state(handle, is_active(shas[0]))
    await wait_until_settled(client, handle.id)
    for sha in shas[1:]:
        await harness.push(handle, sha)
        await wait_for_state(handle, is_active(sha))
        await wait_until_settled(client, handle.id)

    # Each run that ended did so by continuing as new, after the server had suggested it; together the
    # runs deployed every sha once, in order, and later shas were deployed by a continued run.
    runs = await run_chain(client, handle.id, first_run_id)
    assert [sha for run in runs for sha in run.deployed] == shas, runs
    assert runs[0].deployed[0] == "sha-1" and len([run for run in runs if run.deployed]) >= 2, runs
    for run in runs[:-1]:
        assert run.next_run_id is not None and run.suggested_at is not None, run
        assert run.suggested_at >= SUGGEST_CONTINUE_AS_NEW_AT, run
    first = await client.get_workflow_handle(handle.id, run_id=first_run_id).describe()
    assert first.status == WorkflowExecutionStatus.CONTINUED_AS_NEW
    latest = await client.get_workflow_handle(handle.id).describe()
    assert latest.status == WorkflowExecutionStatus.RUNNING
    assert latest.run_id == runs[-1].run_id != first_run_id

    # The state came along: sha-1's history entry and delivery id were recorded by the first run.
    state = await wait_for_state(handle, is_active("sha-6"))
    deployment_ids = [rec.deployment_ids_for(sha) for sha in shas]
    assert all(len(ids) == 1 for ids in deployment_ids), deployment_ids
    assert [(e.sha, e.status) for e in state.history] == [(sha, "active") for sha in shas]
    assert [e.deployment_id for e in state.history] == [ids[0] for ids in deployment_ids]
    assert state.recent_delivery_ids[0] == first_delivery and len(state.recent_delivery_ids) == 6
    assert state.pushes_seen == 6 and state.attempted_sha == "sha-6"
    assert state.current_deployment_id == deployment_ids[-1][0]
    assert state.host_queue == harness.host_queue and state.app_name == "pr-1-app"
    # Every deployment after the first reused the app name and replaced (then retired) the one before
    # it, across the continue-as-new boundaries too.
    assert [c.app_name for c in rec.args(A.CREATE_DEPLOYMENT)] == [None] + ["pr-1-app"] * 5
    previous_ids = [a.previous_deployment_id for a in rec.args(A.ACTIVATE)]
    assert previous_ids == [None] + [ids[0] for ids in deployment_ids[:-1]]
    retired = [call for call in rec.calls if call.name == A.RETIRE]
    assert [call.arg.deployment_id for call in retired] == [ids[0] for ids in deployment_ids[:-1]]
    assert {call.task_queue for call in retired} == {harness.host_queue}

    # A redelivery of the very first push, now reaching a later run, is still recognised. It carries
    # an older sha, so acting on it would start a deployment. A fresh push of the live sha follows;
    # signals are handled in order, so once that one is counted the redelivery has been handled too.
    await harness.push(handle, "sha-1", delivery_id=first_delivery)
    await harness.push(handle, "sha-6")
    state = await wait_for_state(handle, lambda s: s.pushes_seen >= 7)

    assert state.pushes_seen == 7 and len(state.recent_delivery_ids) == 7
    assert state.desired is not None and state.desired.sha == "sha-6"
    assert state.phase == "active" and state.deployed_sha == "sha-6"
    assert (await wait_until_settled(client, handle.id)) != first_run_id
    assert len(rec.args(A.CREATE_DEPLOYMENT)) == 6


async def test_a_refusal_after_continuing_as_new_keeps_the_comments_status_rows(
    limited_harness: Harness,
) -> None:
    """What the PR was told last is part of the state: a notice added in a later run keeps it."""
    harness, rec = limited_harness, limited_harness.recorder
    client = harness.client
    handle = await harness.start("sha-1")
    first_run_id = handle.first_execution_run_id
    await wait_for_state(handle, is_active("sha-1"))
    live_run_id = await wait_until_settled(client, handle.id)
    for n in range(2, 7):  # push until the workflow has continued as new
        if live_run_id != first_run_id:
            break
        await harness.push(handle, f"sha-{n}")
        await wait_for_state(handle, is_active(f"sha-{n}"))
        live_run_id = await wait_until_settled(client, handle.id)
    assert live_run_id != first_run_id, "the workflow never continued as new"
    live = await handle.query(PreviewWorkflow.get_state)

    refusal = RefusalSignal(requested_by="visitor", command="redeploy", reason="only maintainers can.",
                            request_id=new_id())  # fmt: skip
    await handle.signal(PreviewWorkflow.refuse, refusal)
    await wait_until(lambda: any(r.notice for r in rec.args(GITHUB_REPORT)), what="the refusal told")

    [told] = [report for report in rec.args(GITHUB_REPORT) if report.notice]
    assert told.notice == "@visitor: only maintainers can."
    assert told.comment_only
    assert (told.phase, told.url, told.sha) == (ReportPhase.READY, live.url, live.deployed_sha)
    assert told.deployment_id == live.current_deployment_id


async def test_the_expiry_timer_outlives_continue_as_new(limited_harness: Harness) -> None:
    """The deadline is counted from the push in the run that saw it, not from the start of the run
    that continued: its inputs travel in the state, and the new run's timer sleeps until then."""
    harness, rec = limited_harness, limited_harness.recorder
    rec.expire_after_seconds, rec.day_seconds = 8.0, 1.0
    handle = await harness.start("sha-1")
    first_run_id = handle.first_execution_run_id
    live = await wait_for_state(handle, lambda s: is_active("sha-1")(s) and bool(s.expires_at))
    pushed = datetime.fromisoformat(live.expiry_counted_from)
    await asyncio.sleep(3)
    # Refusals told on the PR grow the history (a signal and a report each) until the run hands over.
    while (await describe_latest(harness, handle.id)).run_id == first_run_id:
        refusal = RefusalSignal(requested_by="visitor", command="x", reason="no.", request_id=new_id())
        await handle.signal(PreviewWorkflow.refuse, refusal)
        await asyncio.sleep(0.1)
    continued = await wait_for_state(handle, lambda s: s.expires_at == live.expires_at)
    assert continued.expiry_counted_from == live.expiry_counted_from

    expired = await wait_for_state(handle, lambda s: s.phase == "expired", timeout=20)
    at = datetime.fromisoformat(expired.history[-1].at)
    assert pushed + timedelta(seconds=8) <= at < pushed + timedelta(seconds=10.5), (pushed, at)
    warnings = [r for r in rec.args(GITHUB_REPORT) if r.notice and "expires at" in r.notice]
    assert len(warnings) == 1
    runs = await run_chain(harness.client, handle.id, str(first_run_id))
    assert len(runs) >= 2 and runs[0].next_run_id is not None


async def describe_latest(harness: Harness, workflow_id: str) -> WorkflowExecutionDescription:
    return await harness.client.get_workflow_handle(workflow_id).describe()
