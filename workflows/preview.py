"""PreviewWorkflow: one long-lived workflow per pull request.

It keeps the PR's preview in step with the newest pushed sha. Signal handlers only record what was
asked into `PreviewState`; the run loop decides what to do about it (samples-python's
`message_passing/safe_message_handlers`). Every change of what is wanted (a push of another sha, a
redeploy, a close, a destroy) bumps `state.generation`: a deployment started in an older generation is
superseded, its clone, build or start is cancelled (cancellation reaches the activity through its
heartbeat) and the newest sha is deployed instead. Close tears the preview down and ends the run;
destroy tears it down and waits for the next push or redeploy. All state lives in one `PreviewState`,
handed over when the workflow continues as new.
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
    from activities.source import SourceActivities
    from activities.store import StoreActivities
    from workflows.activity_io import (
        NON_RETRYABLE,
        ActivateInput,
        ClaimHostQueueResult,
        CreateDeploymentInput,
        DeploymentRef,
        DeployResult,
        DestroyInput,
        FailDeploymentInput,
        MarkDestroyedInput,
        SetStatusInput,
    )
    from workflows.approval import approval_problem
    from workflows.failures import describe_failure
    from workflows.pr_reporter import PRReporter
    from workflows.signals import (
        APPROVE_UPDATE,
        DESTROY_FAILED,
        STATE_QUERY,
        WORKFLOW_NAME,
        ApproveSignal,
        CloseSignal,
        HistoryEntry,
        ManualSignal,
        PreviewInput,
        PreviewState,
        PushSignal,
        RefusalSignal,
        SignalName,
        workflow_id_for,
    )
    from workflows.vocabulary import STATUS_FOR_PHASE, DeploymentStatus, Phase

T = TypeVar("T")

# After a push replaced an in-flight build, wait this long without another change before building:
# a burst of pushes ends in one build of its last sha. The first push of a quiet PR builds at once.
QUIET_AFTER_SUPERSEDE = timedelta(seconds=1)
RECENT_DELIVERIES = 100
HISTORY_LENGTH = 20
APPROVALS_KEPT = 50

# Bookkeeping in Postgres: retried until the database answers.
STORE_TIMEOUT = timedelta(seconds=30)
STORE_RETRY = RetryPolicy(maximum_interval=timedelta(seconds=10))
# Work on a host-specific queue: heartbeats let a dead worker be noticed and cancellation reach the
# process; WAIT_CANCELLATION_COMPLETED makes sure a superseded build is really stopped before the next.
HOST_WORK_RETRY = RetryPolicy(maximum_attempts=3, non_retryable_error_types=NON_RETRYABLE)
CANCEL_AND_WAIT = workflow.ActivityCancellationType.WAIT_CANCELLATION_COMPLETED
# Reading a project's fork policy: a project that is gone answers at once (and is trusted with nothing).
FORK_POLICY_RETRY = RetryPolicy(
    maximum_interval=timedelta(seconds=10), non_retryable_error_types=NON_RETRYABLE
)
# A fork's push is held back until a maintainer approves its sha under this policy (models.Project).
APPROVE_POLICY = "approve"
TRUST_POLICY = "always"


@dataclass
class _Attempt:
    """One deployment on its way to going live, and what its cleanup needs if it never gets there."""

    ref: DeploymentRef
    # state.generation when it started: a different one now means something else is wanted.
    generation: int
    host: ClaimHostQueueResult | None = None


@workflow.defn(name=WORKFLOW_NAME)
class PreviewWorkflow:
    @workflow.init
    def __init__(self, input: PreviewInput) -> None:
        self.state = input.state or PreviewState(project_id=input.project_id, pr_number=input.pr_number)
        self._reporter = PRReporter(self.state)

    # -- messages: each records what was asked; the run loop acts on it --------------------------

    @workflow.signal(name=SignalName.PUSH)
    def push(self, signal: PushSignal) -> None:
        if self._seen(signal.delivery_id):
            return
        # The sha already wanted (a ready_for_review of the same head, say) changes nothing: a build of
        # it carries on.
        if self.state.desired is None or self.state.desired.sha != signal.sha:
            self.state.generation += 1
        self.state.desired = signal
        self.state.last_push = signal
        self.state.pushes_seen += 1
        if self.state.phase in (Phase.CLOSED, Phase.DESTROYED):
            self.state.phase = Phase.QUEUED

    @workflow.signal(name=SignalName.CLOSE)
    def close(self, signal: CloseSignal) -> None:
        if self._seen(signal.delivery_id):
            return
        self.state.close_requested = True
        self.state.close_reason = signal.reason
        self._want_nothing()

    @workflow.signal(name=SignalName.REDEPLOY)
    def redeploy(self, signal: ManualSignal) -> None:
        # Never for a closed PR, nor one closing: only a push (a reopen) brings its preview back.
        closing = self.state.close_requested or self.state.phase == Phase.CLOSED
        if self._seen(signal.request_id) or self.state.last_push is None or closing:
            return
        self.state.desired = self.state.last_push
        self.state.attempted_sha = None  # built afresh, even when that sha is live or failed
        self.state.generation += 1

    @workflow.signal(name=SignalName.DESTROY)
    def destroy(self, signal: ManualSignal) -> None:
        if self._seen(signal.request_id):
            return
        self.state.destroy_requested_by = signal.requested_by or "someone"
        self._want_nothing()

    @workflow.signal(name=SignalName.APPROVE)
    def approve(self, signal: ApproveSignal) -> None:
        """From a PR comment: a refusal is told on the PR, where the approval was given."""
        if self._seen(signal.request_id):
            return
        if (problem := self._approval_problem(signal)) is not None:
            self._reporter.notify(f"@{signal.requested_by or 'someone'}: {problem}")
            return
        self._approve(signal)

    @workflow.update(name=APPROVE_UPDATE)
    def approve_commit(self, signal: ApproveSignal) -> str:
        """From the dashboard: the person who pressed the button hears at once whether it took."""
        if not self._seen(signal.request_id):
            self._approve(signal)
        return self.state.desired.sha if self.state.desired else ""

    @approve_commit.validator
    def _validate_approval(self, signal: ApproveSignal) -> None:
        # A rejected update leaves nothing in the history, and the page shows the reason.
        if (problem := self._approval_problem(signal)) is not None:
            raise ValueError(problem[:1].upper() + problem[1:])

    @workflow.signal(name=SignalName.REFUSE)
    def refuse(self, signal: RefusalSignal) -> None:
        if self._seen(signal.request_id):
            return
        self._reporter.notify(f"@{signal.requested_by or 'someone'}: {signal.reason}")

    @workflow.query(name=STATE_QUERY)
    def get_state(self) -> PreviewState:
        return self.state

    def _want_nothing(self) -> None:
        self.state.desired = None
        self.state.generation += 1

    def _approval_problem(self, signal: ApproveSignal) -> str | None:
        problem = approval_problem(signal, self.state.desired)
        if problem is None and self.state.phase == Phase.FORK_BLOCKED:
            problem = "this project does not preview pull requests from forks; an approval changes nothing."
        return problem

    def _approve(self, signal: ApproveSignal) -> None:
        desired = self.state.desired
        if desired is None:
            return
        if desired.sha not in self.state.approved_shas:
            self.state.approved_shas = (self.state.approved_shas + [desired.sha])[-APPROVALS_KEPT:]
            self.state.approved_by = (self.state.approved_by + [signal.requested_by or "someone"])[
                -APPROVALS_KEPT:
            ]
        if self.state.attempted_sha == desired.sha and self.state.phase == Phase.AWAITING_APPROVAL:
            self.state.attempted_sha = None  # held back for want of this approval: deploy it now

    def _seen(self, delivery_id: str) -> bool:
        """Deliveries can reach us twice (a dispatcher retry after a lost ack); act on each once."""
        if not delivery_id:
            return False
        if delivery_id in self.state.recent_delivery_ids:
            return True
        self.state.recent_delivery_ids = (self.state.recent_delivery_ids + [delivery_id])[-RECENT_DELIVERIES:]
        return False

    # -- the run loop -------------------------------------------------------------------------

    @workflow.run
    async def run(self, input: PreviewInput) -> PreviewState:
        asyncio.create_task(self._reporter.run())
        while True:
            await workflow.wait_condition(lambda: self._has_work() or self._should_continue_as_new())
            if self.state.close_requested:
                await self._teardown(self.state.close_reason or "pull request closed")
                self.state.close_requested = False
                self.state.close_reason = ""
                self.state.phase = Phase.CLOSED
                # A reopen that arrived during teardown keeps the workflow going; otherwise the run
                # ends. Temporal refuses to complete a run that has unprocessed signals, so a push that
                # races with the end is handled by this same run, never lost.
                if self.state.desired is None:
                    await self._reporter.all_sent()
                    return self.state
                continue
            if self.state.destroy_requested_by is not None:
                await self._teardown(f"destroyed by {self.state.destroy_requested_by}")
                self.state.destroy_requested_by = None
                continue
            # Checked before each new deployment too, so a PR that never goes quiet still hands over.
            # A pending push is part of the state, so the next run deploys it.
            if self._should_continue_as_new():
                await workflow.wait_condition(workflow.all_handlers_finished)
                await self._reporter.all_sent()
                workflow.continue_as_new(
                    PreviewInput(
                        project_id=self.state.project_id, pr_number=self.state.pr_number, state=self.state
                    )
                )
            desired = self.state.desired
            if desired is None or not self._deploy_wanted() or await self._held_back_as_fork(desired):
                continue
            if await self._deploy(desired) == DeploymentStatus.SUPERSEDED:
                await self._wait_for_quiet()

    def _has_work(self) -> bool:
        return self._stopping() or self._deploy_wanted()

    def _stopping(self) -> bool:
        return self.state.close_requested or self.state.destroy_requested_by is not None

    def _deploy_wanted(self) -> bool:
        desired = self.state.desired
        return desired is not None and desired.sha != self.state.attempted_sha

    def _superseded(self, attempt: _Attempt) -> bool:
        return self.state.generation != attempt.generation

    def _should_continue_as_new(self) -> bool:
        return workflow.info().is_continue_as_new_suggested()

    async def _wait_for_quiet(self) -> None:
        """Until what is wanted has not changed for QUIET_AFTER_SUPERSEDE, or the PR is going away."""
        while not self._stopping():
            if await self._unchanged_for(QUIET_AFTER_SUPERSEDE):
                return

    async def _unchanged_for(self, period: timedelta) -> bool:
        generation = self.state.generation
        try:
            await workflow.wait_condition(lambda: self.state.generation != generation, timeout=period)
        except TimeoutError:
            return True
        return False

    async def _held_back_as_fork(self, desired: PushSignal) -> bool:
        """A fork's sha is built with the project's secrets only once a maintainer approved it, unless
        the project trusts forks; with policy "never" it is not built at all."""
        if not desired.fork:
            return False
        generation = self.state.generation
        try:
            policy = await workflow.execute_activity_method(
                StoreActivities.fork_policy,
                self.state.project_id,
                start_to_close_timeout=STORE_TIMEOUT,
                retry_policy=FORK_POLICY_RETRY,
            )
        except ActivityError:
            policy = APPROVE_POLICY  # the project is gone or unreadable: trust nothing
        if self.state.generation != generation:
            return True  # something else is wanted now: look at it afresh
        if policy == TRUST_POLICY or (policy == APPROVE_POLICY and desired.sha in self.state.approved_shas):
            return False
        self.state.attempted_sha = desired.sha
        phase = Phase.AWAITING_APPROVAL if policy == APPROVE_POLICY else Phase.FORK_BLOCKED
        self.state.phase = phase
        self._record("", desired.sha, phase)
        ref = DeploymentRef(
            project_id=self.state.project_id, pr_number=self.state.pr_number, commit_sha=desired.sha
        )
        self._reporter.tell(ref, phase)
        return True

    # -- one deployment -----------------------------------------------------------------------

    async def _deploy(self, push: PushSignal) -> DeploymentStatus:
        """Deploy one sha: ACTIVE once it is live, FAILED, or SUPERSEDED when something else became
        wanted before it was live."""
        generation = self.state.generation
        self.state.attempted_sha = push.sha
        attempt = _Attempt(ref=await self._create_deployment(push), generation=generation)
        try:
            outcome = await self._until_live(attempt)
        except asyncio.CancelledError:
            await self._not_live(attempt, failure=None)  # the workflow itself is being cancelled
            raise
        if isinstance(outcome, DeployResult):
            await self._go_live(attempt.ref, outcome.app_url, attempt.host)
            return DeploymentStatus.ACTIVE
        await self._not_live(attempt, failure=outcome)
        return DeploymentStatus.SUPERSEDED if outcome is None else DeploymentStatus.FAILED

    async def _create_deployment(self, push: PushSignal) -> DeploymentRef:
        deployment_id = str(workflow.uuid4())
        self.state.building_deployment_id = deployment_id
        self.state.phase = Phase.QUEUED
        created = await workflow.execute_activity_method(
            StoreActivities.create_deployment,
            CreateDeploymentInput(
                deployment_id=deployment_id,
                project_id=self.state.project_id,
                pr_number=self.state.pr_number,
                pr_title=push.title,
                pr_author=push.author,
                commit_sha=push.sha,
                workflow_id=workflow_id_for(self.state.project_id, self.state.pr_number),
                app_name=self.state.app_name,
            ),
            start_to_close_timeout=STORE_TIMEOUT,
            retry_policy=STORE_RETRY,
        )
        self.state.app_name = created.app_name
        return DeploymentRef(
            deployment_id=deployment_id,
            project_id=self.state.project_id,
            pr_number=self.state.pr_number,
            commit_sha=push.sha,
            app_name=created.app_name,
        )

    async def _until_live(self, attempt: _Attempt) -> DeployResult | str | None:
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

    async def _build_and_start(self, attempt: _Attempt) -> DeployResult:
        ref = attempt.ref
        # Clone, build and run share a working directory, so they run on one worker: whichever worker
        # answers this claim on the shared queue lends its own host queue.
        attempt.host = host = await workflow.execute_activity_method(
            HostActivities.claim_queue, start_to_close_timeout=timedelta(seconds=30)
        )
        self._reporter.tell(ref, Phase.QUEUED)
        await self._enter(ref, Phase.BUILDING)
        await _on_host(
            SourceActivities.clone, ref, host.host_queue, timedelta(minutes=10), timedelta(seconds=20)
        )
        # The build enforces the project's own time limit; 7 hours only bounds a lost worker.
        await _on_host(
            BuildActivities.build, ref, host.build_queue, timedelta(hours=7), timedelta(seconds=10)
        )
        await self._enter(ref, Phase.DEPLOYING)
        return await _on_host(
            PlatformActivities.deploy, ref, host.host_queue, timedelta(minutes=10), timedelta(seconds=10)
        )

    async def _enter(self, ref: DeploymentRef, phase: Phase) -> None:
        """The deployment's row, the PR and the state move to `phase` together."""
        await self._set_status(ref.deployment_id, STATUS_FOR_PHASE[phase])
        self._reporter.tell(ref, phase)
        self.state.phase = phase

    async def _go_live(self, ref: DeploymentRef, url: str, host: ClaimHostQueueResult | None) -> None:
        """Never interrupted, so the store and the state agree: a newer push is looked at afterwards."""
        previous_id, previous_queue = self.state.current_deployment_id, self.state.host_queue
        await workflow.execute_activity_method(
            StoreActivities.activate,
            ActivateInput(deployment_id=ref.deployment_id, previous_deployment_id=previous_id, app_url=url),
            start_to_close_timeout=STORE_TIMEOUT,
            retry_policy=STORE_RETRY,
        )
        self.state.current_deployment_id = ref.deployment_id
        self.state.building_deployment_id = None
        self.state.deployed_sha = ref.commit_sha
        self.state.url = url
        self.state.host_queue = host.host_queue if host else None
        self.state.phase = Phase.ACTIVE
        desired = self.state.desired
        if desired is not None and desired.sha == ref.commit_sha and not self.state.close_requested:
            self._reporter.tell(ref, Phase.ACTIVE, url=url)  # only for the sha still wanted
        self._record(ref.deployment_id, ref.commit_sha, DeploymentStatus.ACTIVE)
        if previous_id is not None and previous_id != ref.deployment_id:
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
            self.state.attempted_sha = None
            self.state.phase = Phase.QUEUED
        else:
            failed = await workflow.execute_activity_method(
                StoreActivities.fail_deployment,
                FailDeploymentInput(deployment_id=ref.deployment_id, error=failure),
                start_to_close_timeout=STORE_TIMEOUT,
                retry_policy=STORE_RETRY,
            )
            self._reporter.tell(ref, Phase.FAILED, error=failure, log_tail=failed.log_tail)
            # A failed new sha leaves an older live preview serving; the PR stays usable.
            self.state.phase = Phase.ACTIVE if self.state.current_deployment_id else Phase.FAILED
        self.state.building_deployment_id = None
        status = DeploymentStatus.SUPERSEDED if failure is None else DeploymentStatus.FAILED
        self._record(ref.deployment_id, ref.commit_sha, status, failure)
        if attempt.host is not None:
            await self._retire(ref, attempt.host.host_queue)

    async def _set_status(self, deployment_id: str, status: DeploymentStatus) -> None:
        await workflow.execute_activity_method(
            StoreActivities.set_status,
            SetStatusInput(deployment_id=deployment_id, status=status),
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

    # -- teardown -----------------------------------------------------------------------------

    async def _teardown(self, reason: str) -> None:
        app_name = self.state.app_name
        current = self.state.current_deployment_id
        if app_name:
            try:
                await workflow.execute_activity_method(
                    PlatformActivities.destroy,
                    DestroyInput(
                        project_id=self.state.project_id,
                        pr_number=self.state.pr_number,
                        app_name=app_name,
                        deployment_ids=[current] if current else [],
                    ),
                    task_queue=self.state.host_queue or workflow.info().task_queue,
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
                    self._record(current, self.state.deployed_sha or "", DESTROY_FAILED, message)
                current = None
        if current:
            await workflow.execute_activity_method(
                StoreActivities.mark_destroyed,
                MarkDestroyedInput(deployment_ids=[current], reason=reason),
                start_to_close_timeout=STORE_TIMEOUT,
                retry_policy=STORE_RETRY,
            )
            self._record(current, self.state.deployed_sha or "", DeploymentStatus.DESTROYED)
            if self.state.deployed_sha:
                self._reporter.tell(
                    DeploymentRef(deployment_id=current, project_id=self.state.project_id,
                                  pr_number=self.state.pr_number, commit_sha=self.state.deployed_sha),
                    Phase.DESTROYED,
                )  # fmt: skip
        self.state.current_deployment_id = None
        self.state.deployed_sha = None
        self.state.url = None
        self.state.attempted_sha = None
        self.state.host_queue = None
        self.state.phase = Phase.DESTROYED

    def _record(self, deployment_id: str, sha: str, status: str, error: str | None = None) -> None:
        entry = HistoryEntry(
            deployment_id=deployment_id, sha=sha, status=status, at=workflow.now().isoformat(), error=error
        )
        self.state.history = (self.state.history + [entry])[-HISTORY_LENGTH:]


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


async def _outcome(work: asyncio.Task[DeployResult]) -> DeployResult | str | None:
    """How clone-build-start ended: the started preview, a failure's message, or None when stopped.

    A stop arrives as an ActivityError whose cause is a cancellation when it reached a running
    activity, or as asyncio.CancelledError when it came between two activities."""
    try:
        return await work
    except asyncio.CancelledError:
        return None
    except ActivityError as error:
        return None if is_cancelled_exception(error) else describe_failure(error)
