"""Deployer: one deployment of a PR's sha, from its row to live (or to its cleanup), and the teardown of
the PR's preview. PreviewWorkflow's run loop decides when; this module knows how.

A deployment started in one generation of `PreviewState` is superseded as soon as the generation
changes: its clone, build or start is cancelled (the cancellation reaches the running activity through
its heartbeat) and it leaves through the same cleanup as a failed one. Once started, a preview goes live
uninterrupted, so the store and the state agree; a newer push is looked at afterwards.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, replace
from datetime import timedelta
from typing import Any, TypeVar

from temporalio import workflow
from temporalio.common import RetryPolicy
from temporalio.exceptions import ActivityError, is_cancelled_exception
from temporalio.types import MethodAsyncSingleParam

with workflow.unsafe.imports_passed_through():
    from activities.build import BuildActivities
    from activities.host import HostActivities
    from activities.platform import PlatformActivities
    from activities.preview_db.protocol import PreviewDatabases
    from activities.source import SourceActivities
    from activities.store import StoreActivities
    from workflows.activity_io import (
        NON_RETRYABLE,
        ActivateInput,
        ClaimHostQueueResult,
        CloneResult,
        CreateDeploymentInput,
        DeploymentRef,
        DeployResult,
        DestroyInput,
        FailDeploymentInput,
        MarkDestroyedInput,
        SetStatusInput,
    )
    from workflows.build_queue import BuildQueue
    from workflows.failures import describe_failure
    from workflows.preview_db_io import DropDatabaseInput, EnsureDatabaseInput
    from workflows.preview_events import PreviewEvents
    from workflows.signals import DESTROY_FAILED, HistoryEntry, PreviewState, PushSignal, workflow_id_for
    from workflows.vocabulary import STATUS_FOR_PHASE, DeploymentStatus, Phase, ReportPhase, Settlement

T = TypeVar("T")

HISTORY_LENGTH = 20
# Bookkeeping in Postgres: retried until the database answers.
STORE_TIMEOUT = timedelta(seconds=30)
STORE_RETRY = RetryPolicy(maximum_interval=timedelta(seconds=10))
# Work on a host-specific queue: heartbeats let a dead worker be noticed and cancellation reach the
# process; WAIT_CANCELLATION_COMPLETED makes sure a superseded build is really stopped before the next.
HOST_WORK_RETRY = RetryPolicy(maximum_attempts=3, non_retryable_error_types=NON_RETRYABLE)
CANCEL_AND_WAIT = workflow.ActivityCancellationType.WAIT_CANCELLATION_COMPLETED


@dataclass
class _Attempt:
    """One deployment on its way to going live, and what its cleanup needs if it never gets there."""

    ref: DeploymentRef
    # state.generation when it started: a different one now means something else is wanted.
    generation: int
    host: ClaimHostQueueResult | None = None
    # It asked for its project's build slot: its cleanup gives the slot (or its place in line) back.
    queued: bool = False


class Deployer:
    def __init__(self, state: PreviewState, events: PreviewEvents) -> None:
        self._state = state
        self._events = events
        self._reporter = events.reporter
        self._queue = BuildQueue(state, events.reporter)

    def _superseded(self, attempt: _Attempt) -> bool:
        return self._state.generation != attempt.generation

    async def deploy(self, push: PushSignal) -> DeploymentStatus:
        """Deploy one sha: ACTIVE once it is live, FAILED, or SUPERSEDED when something else became
        wanted before it was live."""
        generation = self._state.generation
        self._state.attempted_sha = push.sha
        self._reporter.release_held_back(by_sha=push.sha)
        attempt = _Attempt(ref=await self._create_deployment(push), generation=generation)
        if push.fork and push.sha not in self._state.approved_shas:
            # A fork trusted without approval: its previewd.toml is its base's (the same file, or the
            # push would have waited for approval: PreviewWorkflow._held_back_as_fork).
            attempt.ref.config_sha = push.base_sha
        if self._state.forced_generation != generation and self._state.deployed_sha != push.sha:
            attempt.ref.live_sha = self._state.deployed_sha or ""
        try:
            outcome = await self._until_live(attempt)
        except asyncio.CancelledError:
            await self._not_live(attempt, failure=None)  # the workflow itself is being cancelled
            raise
        if isinstance(outcome, DeployResult):
            # The new process serves, awake, whatever its predecessor was (workflows/sleeper.py).
            self._state.can_sleep, self._state.asleep = outcome.sleeps, False
            await self._go_live(attempt, outcome.app_url)
            return DeploymentStatus.ACTIVE
        if isinstance(outcome, CloneResult):
            await self._skipped(attempt, outcome.message)
            return DeploymentStatus.SKIPPED
        await self._not_live(attempt, failure=outcome)
        return DeploymentStatus.SUPERSEDED if outcome is None else DeploymentStatus.FAILED

    async def _create_deployment(self, push: PushSignal) -> DeploymentRef:
        deployment_id = str(workflow.uuid4())
        self._state.building_deployment_id = deployment_id
        self._state.phase = Phase.QUEUED
        created = await workflow.execute_activity_method(
            StoreActivities.create_deployment,
            CreateDeploymentInput(
                deployment_id=deployment_id,
                project_id=self._state.project_id,
                pr_number=self._state.pr_number,
                pr_title=push.title,
                pr_author=push.author,
                pr_branch=push.head_ref,
                commit_sha=push.sha,
                workflow_id=workflow_id_for(self._state.project_id, self._state.pr_number),
                app_name=self._state.app_name,
            ),
            start_to_close_timeout=STORE_TIMEOUT,
            retry_policy=STORE_RETRY,
        )
        self._state.app_name = created.app_name
        return DeploymentRef(
            deployment_id=deployment_id,
            project_id=self._state.project_id,
            pr_number=self._state.pr_number,
            commit_sha=push.sha,
            app_name=created.app_name,
        )

    async def _until_live(self, attempt: _Attempt) -> DeployResult | CloneResult | str | None:
        """Claim a host, clone, build and start: the started preview, a failure's message, or None
        when something else became wanted first."""
        if self._superseded(attempt):
            return None  # wanted no more while its row was being written: build nothing
        work = asyncio.create_task(self._build_and_start(attempt))
        try:
            await workflow.wait_condition(lambda: work.done() or self._superseded(attempt))
        finally:
            # Superseded, or the workflow itself is being cancelled: stop the work (a no-op once it is
            # done) and let it finish stopping before anything is cleaned up.
            work.cancel()
            outcome = await _outcome(work)
        return outcome

    async def _build_and_start(self, attempt: _Attempt) -> DeployResult | CloneResult:
        ref = attempt.ref
        # The project's build slot first, before any worker is asked for anything: a deployment that
        # waits in its project's queue holds no worker slot.
        attempt.queued = True
        await self._queue.wait_for_slot(ref)
        # Clone, build and run share a working directory, so they run on one worker: whichever worker
        # answers this claim on the shared queue lends its own host queue.
        attempt.host = host = await workflow.execute_activity_method(
            HostActivities.claim_queue, start_to_close_timeout=timedelta(seconds=30)
        )
        self._reporter.tell(ref, Phase.QUEUED)
        await self._enter(ref, Phase.BUILDING)
        cloned = await _on_host(
            SourceActivities.clone, ref, host.host_queue, timedelta(minutes=10), timedelta(seconds=20)
        )
        if cloned.skipped:
            return cloned
        await self._ensure_database(ref, host.host_queue)
        # The build enforces the project's own time limit; 7 hours only bounds a lost worker.
        await _on_host(
            BuildActivities.build, ref, host.build_queue, timedelta(hours=7), timedelta(seconds=10)
        )
        await self._enter(ref, Phase.DEPLOYING)
        return await _on_host(
            PlatformActivities.deploy, ref, host.host_queue, timedelta(minutes=10), timedelta(seconds=10)
        )

    async def _ensure_database(self, ref: DeploymentRef, host_queue: str) -> None:
        """The PR's own database, before the build (its release command migrates it): made on the
        first deployment, kept after; made afresh when a reset was asked for. A no-op for a project
        without one. On the host queue: a `.sql` seed is read from this deployment's checkout."""
        reset = self._state.database_reset_requested
        await workflow.execute_activity_method(
            PreviewDatabases.ensure,
            EnsureDatabaseInput(
                project_id=ref.project_id,
                pr_number=ref.pr_number,
                deployment_id=ref.deployment_id,
                reset=reset,
            ),
            task_queue=host_queue,
            start_to_close_timeout=timedelta(minutes=10),
            retry_policy=HOST_WORK_RETRY,
            cancellation_type=CANCEL_AND_WAIT,
        )
        if reset:
            self._state.database_reset_requested = False

    async def _enter(self, ref: DeploymentRef, phase: Phase) -> None:
        """The deployment's row, the PR and the state move to `phase` together."""
        await self._set_status(ref.deployment_id, STATUS_FOR_PHASE[phase])
        self._reporter.tell(ref, phase)
        self._state.phase = phase

    async def _go_live(self, attempt: _Attempt, url: str) -> None:
        """Never interrupted, so the store and the state agree: a newer push is looked at afterwards."""
        ref, host = attempt.ref, attempt.host
        previous_id, previous_queue = self._state.current_deployment_id, self._state.host_queue
        previous_sha = self._state.deployed_sha or ""
        await workflow.execute_activity_method(
            StoreActivities.activate,
            ActivateInput(deployment_id=ref.deployment_id, previous_deployment_id=previous_id, app_url=url),
            start_to_close_timeout=STORE_TIMEOUT,
            retry_policy=STORE_RETRY,
        )
        await self._give_back_slot(attempt)
        self._state.current_deployment_id = ref.deployment_id
        self._state.building_deployment_id = None
        self._state.deployed_sha = ref.commit_sha
        self._state.url = url
        self._state.host_queue = host.host_queue if host else None
        self._state.phase = Phase.ACTIVE
        desired = self._state.desired
        wanted = desired is not None and desired.sha == ref.commit_sha and not self._state.close_requested
        self._events.ready(ref, url, announce=wanted)
        self.record(ref.deployment_id, ref.commit_sha, DeploymentStatus.ACTIVE)
        if previous_id is not None and previous_id != ref.deployment_id:
            self._reporter.settle(
                replace(ref, deployment_id=previous_id, commit_sha=previous_sha),
                Settlement.REPLACED,
                by_sha=ref.commit_sha,
            )
            # The new process already serves traffic; only now stop the old one.
            await self._retire(replace(ref, deployment_id=previous_id), previous_queue)

    async def _not_live(self, attempt: _Attempt, failure: str | None) -> None:
        """The one way out for a deployment that did not go live: it failed (`failure` says why) or was
        superseded (None). Its row says which, and its half-built work is retired."""
        ref = attempt.ref
        if failure is None:
            # Activities started after a cancellation are not cancelled themselves, so this runs.
            await self._set_status(ref.deployment_id, DeploymentStatus.SUPERSEDED)
            # An unfinished attempt does not count: a later push back to this sha must build it.
            self._state.attempted_sha = None
            self._state.phase = Phase.QUEUED
            desired = self._state.desired
            self._reporter.settle(ref, Settlement.SUPERSEDED, by_sha=desired.sha if desired else "")
        else:
            failed = await workflow.execute_activity_method(
                StoreActivities.fail_deployment,
                FailDeploymentInput(deployment_id=ref.deployment_id, error=failure),
                start_to_close_timeout=STORE_TIMEOUT,
                retry_policy=STORE_RETRY,
            )
            self._events.failed(ref, failure, failed.log_tail)
            # A failed new sha leaves an older live preview serving; the PR stays usable.
            self._state.phase = Phase.ACTIVE if self._state.current_deployment_id else Phase.FAILED
        self._state.building_deployment_id = None
        status = DeploymentStatus.SUPERSEDED if failure is None else DeploymentStatus.FAILED
        self.record(ref.deployment_id, ref.commit_sha, status, failure)
        await self._give_back_slot(attempt)
        if attempt.host is not None:
            await self._retire(ref, attempt.host.host_queue)

    async def _skipped(self, attempt: _Attempt, message: str) -> None:
        """No watch path changed since the live sha: the row says so, the live preview stays, and the
        clone is thrown away."""
        ref = attempt.ref
        await self._set_status(ref.deployment_id, DeploymentStatus.SKIPPED, message)
        self._reporter.tell(ref, ReportPhase.SKIPPED)
        self._reporter.settle(ref, Settlement.SKIPPED)  # told even when a newer push collapses it
        self._state.building_deployment_id = None
        self._state.phase = Phase.ACTIVE if self._state.current_deployment_id else Phase.IDLE
        self.record(ref.deployment_id, ref.commit_sha, DeploymentStatus.SKIPPED)
        await self._give_back_slot(attempt)
        if attempt.host is not None:
            await self._retire(ref, attempt.host.host_queue)

    async def _give_back_slot(self, attempt: _Attempt) -> None:
        """After the row says the build is over (so no two builds of a project ever overlap on the
        record), before the old preview is retired: the next build in line need not wait for that."""
        if attempt.queued:
            attempt.queued = False
            await self._queue.leave(attempt.ref)

    async def _set_status(
        self, deployment_id: str, status: DeploymentStatus, message: str | None = None
    ) -> None:
        await workflow.execute_activity_method(
            StoreActivities.set_status,
            SetStatusInput(deployment_id=deployment_id, status=status, message=message),
            start_to_close_timeout=STORE_TIMEOUT,
            retry_policy=STORE_RETRY,
        )

    async def _retire(self, ref: DeploymentRef, host_queue: str | None) -> None:
        """Stop an old deployment's process and files. Cleanup, so its failure is recorded, never
        allowed to fail the PR's workflow (the live preview and the state are what matter)."""
        try:
            await workflow.execute_activity_method(
                PlatformActivities.retire,
                ref,
                task_queue=host_queue or workflow.info().task_queue,
                start_to_close_timeout=timedelta(minutes=2),
                retry_policy=RetryPolicy(maximum_attempts=10, maximum_interval=timedelta(seconds=30)),
            )
        except ActivityError as error:
            workflow.logger.warning(
                "retiring deployment %s failed: %s", ref.deployment_id, describe_failure(error)
            )

    async def teardown(self, reason: str, phase: Phase = Phase.DESTROYED) -> None:
        """Destroy the PR's preview; it ends in `phase` (DESTROYED, or EXPIRED), and so does its row."""
        status = STATUS_FOR_PHASE[phase]
        app_name = self._state.app_name
        current = self._state.current_deployment_id
        if app_name:
            try:
                await workflow.execute_activity_method(
                    PlatformActivities.destroy,
                    DestroyInput(
                        project_id=self._state.project_id,
                        pr_number=self._state.pr_number,
                        app_name=app_name,
                        deployment_ids=[current] if current else [],
                    ),
                    task_queue=self._state.host_queue or workflow.info().task_queue,
                    start_to_close_timeout=timedelta(minutes=5),
                    heartbeat_timeout=timedelta(seconds=30),
                    retry_policy=RetryPolicy(maximum_interval=timedelta(minutes=1)),
                )
            except ActivityError as error:
                # Only a non-retryable answer (say, a revoked Fly token) gets here. The deployment is
                # not marked destroyed; the Fly reconciler removes the app once it can.
                message = describe_failure(error)
                workflow.logger.warning("destroying %s failed: %s", app_name, message)
                if current:
                    self.record(current, self._state.deployed_sha or "", DESTROY_FAILED, message)
                current = None
        if current:
            await workflow.execute_activity_method(
                StoreActivities.mark_destroyed,
                MarkDestroyedInput(deployment_ids=[current], reason=reason, status=status),
                start_to_close_timeout=STORE_TIMEOUT,
                retry_policy=STORE_RETRY,
            )
            self.record(current, self._state.deployed_sha or "", status)
            if self._state.deployed_sha:
                destroyed = DeploymentRef(
                    deployment_id=current,
                    project_id=self._state.project_id,
                    pr_number=self._state.pr_number,
                    commit_sha=self._state.deployed_sha,
                )
                self._events.destroyed(destroyed, phase)
        await self._drop_database()
        self._reporter.release_held_back(by_sha="")
        self._state.current_deployment_id = None
        self._state.deployed_sha = None
        self._state.url = None
        self._state.attempted_sha = None
        self._state.host_queue = None
        self._state.phase = phase

    async def _drop_database(self) -> None:
        """The PR's database and role go with its preview (connections ended first). Cleanup: a
        failure is logged, and the database reconciler (`previewd db gc`) drops it later."""
        try:
            await workflow.execute_activity_method(
                PreviewDatabases.drop,
                DropDatabaseInput(project_id=self._state.project_id, pr_number=self._state.pr_number),
                start_to_close_timeout=timedelta(minutes=2),
                retry_policy=RetryPolicy(maximum_attempts=10, maximum_interval=timedelta(seconds=30)),
            )
        except ActivityError as error:
            workflow.logger.warning("dropping the PR's database failed: %s", describe_failure(error))

    def record(self, deployment_id: str, sha: str, status: str, error: str | None = None) -> None:
        entry = HistoryEntry(
            deployment_id=deployment_id, sha=sha, status=status, at=workflow.now().isoformat(), error=error
        )
        self._state.history = (self._state.history + [entry])[-HISTORY_LENGTH:]


async def _on_host(
    activity: MethodAsyncSingleParam[Any, DeploymentRef, T],
    ref: DeploymentRef,
    task_queue: str,
    start_to_close: timedelta,
    heartbeat: timedelta,
) -> T:
    """Work on one host's queue: retried a few times (a dead worker), never for a user's error."""
    return await workflow.execute_activity_method(
        activity,
        ref,
        task_queue=task_queue,
        start_to_close_timeout=start_to_close,
        heartbeat_timeout=heartbeat,
        retry_policy=HOST_WORK_RETRY,
        cancellation_type=CANCEL_AND_WAIT,
    )


async def _outcome(work: asyncio.Task[DeployResult | CloneResult]) -> DeployResult | CloneResult | str | None:
    """How clone-build-start ended: the started preview, a failure's message, or None when stopped.

    A stop arrives as an ActivityError whose cause is a cancellation when it reached a running
    activity, or as asyncio.CancelledError when it came between two activities."""
    try:
        return await work
    except asyncio.CancelledError:
        return None
    except ActivityError as error:
        return None if is_cancelled_exception(error) else describe_failure(error)
