"""PreviewWorkflow: one long-lived workflow per pull request.

It keeps the PR's preview in step with the newest pushed sha: a push that arrives while an older sha
is being built cancels that build (cancellation reaches the activity through its heartbeat) and the
newest sha is deployed instead. Close tears the preview down and ends the run; destroy tears it down
and waits for the next push or redeploy. All state lives in one `PreviewState`, handed over when the
workflow continues as new.
"""

from __future__ import annotations

import asyncio
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import TypeVar

from temporalio import workflow
from temporalio.common import RetryPolicy
from temporalio.exceptions import ActivityError, ApplicationError, is_cancelled_exception

with workflow.unsafe.imports_passed_through():
    from workflows.activity_io import (
        GITHUB_REPORT,
        NON_RETRYABLE,
        ActivateInput,
        ActivityName,
        ClaimHostQueueResult,
        CreateDeploymentInput,
        CreateDeploymentResult,
        DeploymentRef,
        DeployResult,
        DestroyInput,
        ErrorType,
        FailDeploymentInput,
        FailDeploymentResult,
        MarkDestroyedInput,
        ReportInput,
        SetStatusInput,
    )
    from workflows.signals import (
        ApproveSignal,
        CloseSignal,
        HistoryEntry,
        ManualSignal,
        PreviewInput,
        PreviewState,
        PushSignal,
        RefusalSignal,
        workflow_id_for,
    )

T = TypeVar("T")

# After a push replaced an in-flight build, wait this long without another push before building:
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


@workflow.defn(name="PreviewWorkflow")
class PreviewWorkflow:
    @workflow.init
    def __init__(self, input: PreviewInput) -> None:
        self.state = input.state or PreviewState(project_id=input.project_id, pr_number=input.pr_number)
        self._deploy_task: asyncio.Task[None] | None = None
        # Set when a signal handler cancels the in-flight deployment (as opposed to the workflow
        # itself being cancelled), so the main loop carries on instead of ending.
        self._interrupted = False
        # True only while clone, build and start run. Once a sha is live (or has failed), its
        # bookkeeping finishes uninterrupted and the main loop picks up the newer push afterwards.
        self._cancellable = False
        # GitHub reporting: the latest thing to tell the PR, sent by a task of its own so that a
        # GitHub outage never holds a preview back; a burst of phases collapses into the newest.
        self._reporting = False
        self._report: ReportInput | None = None
        self._report_in_flight = False
        # The last thing the PR was told: a notice (a refused command) is added to it.
        self._last_told: ReportInput | None = None

    # -- signals and query --------------------------------------------------------------------

    @workflow.signal
    def push(self, signal: PushSignal) -> None:
        if self._seen(signal.delivery_id):
            return
        self.state.desired = signal
        self.state.last_push = signal
        self.state.pushes_seen += 1
        if self.state.phase in ("closed", "destroyed"):
            self.state.phase = "queued"
        self._interrupt_deploy(unless_sha=signal.sha)

    @workflow.signal
    def close(self, signal: CloseSignal) -> None:
        if self._seen(signal.delivery_id):
            return
        self.state.close_requested = True
        self.state.close_reason = signal.reason
        self.state.desired = None
        self._interrupt_deploy()

    @workflow.signal
    def redeploy(self, signal: ManualSignal) -> None:
        # Never for a closed PR, nor one closing: only a push (a reopen) brings its preview back.
        closing = self.state.close_requested or self.state.phase == "closed"
        if self._seen(signal.request_id) or self.state.last_push is None or closing:
            return
        self.state.desired = self.state.last_push
        self.state.force_redeploy = True
        self._interrupt_deploy()

    @workflow.signal
    def destroy(self, signal: ManualSignal) -> None:
        if self._seen(signal.request_id):
            return
        self.state.destroy_requested_by = signal.requested_by or "someone"
        self.state.desired = None
        self._interrupt_deploy()

    @workflow.signal
    def approve(self, signal: ApproveSignal) -> None:
        """From a PR comment: a refusal is told on the PR, where the approval was given."""
        if self._seen(signal.request_id):
            return
        if (problem := self._approval_problem(signal)) is not None:
            self._notify(f"@{signal.requested_by or 'someone'}: {problem}")
            return
        self._approve(signal)

    @workflow.update(name="approve_commit")
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

    def _approval_problem(self, signal: ApproveSignal) -> str | None:
        problem = _approval_problem(signal, self.state.desired)
        if problem is None and self.state.phase == "fork_blocked":
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
        if self.state.attempted_sha == desired.sha and self.state.phase == "awaiting_approval":
            self.state.attempted_sha = None  # held back for want of this approval: deploy it now

    @workflow.signal
    def refuse(self, signal: RefusalSignal) -> None:
        if self._seen(signal.request_id):
            return
        self._notify(f"@{signal.requested_by or 'someone'}: {signal.reason}")

    @workflow.query(name="state")
    def get_state(self) -> PreviewState:
        return self.state

    # -- main loop ----------------------------------------------------------------------------

    @workflow.run
    async def run(self, input: PreviewInput) -> PreviewState:
        # Patched: runs recorded before reporting existed replay without it.
        if workflow.patched("github-reporting"):
            self._reporting = True
            asyncio.create_task(self._reporter())
        while True:
            await workflow.wait_condition(lambda: self._has_work() or self._should_continue_as_new())
            if self.state.close_requested:
                await self._teardown(self.state.close_reason or "pull request closed")
                self.state.close_requested = False
                self.state.close_reason = ""
                self.state.phase = "closed"
                # A reopen that arrived during teardown keeps the workflow going; otherwise the run
                # ends. Temporal refuses to complete a run that has unprocessed signals, so a push that
                # races with the end is handled by this same run, never lost.
                if self.state.desired is None:
                    await self._reports_sent()
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
                await self._reports_sent()
                workflow.continue_as_new(
                    PreviewInput(
                        project_id=self.state.project_id, pr_number=self.state.pr_number, state=self.state
                    )
                )
            if self._deploy_wanted():
                if await self._held_back_as_fork():
                    continue
                await self._run_deploy()

    def _has_work(self) -> bool:
        return (
            self.state.close_requested or self.state.destroy_requested_by is not None or self._deploy_wanted()
        )

    def _deploy_wanted(self) -> bool:
        desired = self.state.desired
        if desired is None:
            return False
        return self.state.force_redeploy or desired.sha != self.state.attempted_sha

    def _should_continue_as_new(self) -> bool:
        return workflow.info().is_continue_as_new_suggested()

    def _seen(self, delivery_id: str) -> bool:
        """Deliveries can reach us twice (a dispatcher retry after a lost ack); act on each once."""
        if not delivery_id:
            return False
        if delivery_id in self.state.recent_delivery_ids:
            return True
        self.state.recent_delivery_ids = (self.state.recent_delivery_ids + [delivery_id])[-RECENT_DELIVERIES:]
        return False

    def _interrupt_deploy(self, unless_sha: str | None = None) -> None:
        task = self._deploy_task
        if task is None or task.done() or not self._cancellable:
            return
        if unless_sha is not None and self.state.attempted_sha == unless_sha:
            return
        self._cancellable = False
        self._interrupted = True
        task.cancel()

    async def _run_deploy(self) -> None:
        superseded_before = self._interrupted
        self._interrupted = False
        checked = self.state.desired
        if superseded_before:
            await self._wait_for_quiet()
            if not self._deploy_wanted() or self.state.close_requested or self.state.destroy_requested_by:
                return
            if self.state.desired is not checked:
                return  # a newer push: the main loop looks at it first (a fork's may need approval)
        target = self.state.desired
        if target is None:
            return
        self.state.attempted_sha = target.sha
        self.state.force_redeploy = False
        self._deploy_task = asyncio.create_task(self._deploy(target))
        try:
            await self._deploy_task
        except asyncio.CancelledError:
            if not self._interrupted:
                raise  # the workflow itself is being cancelled
        finally:
            self._deploy_task = None

    async def _held_back_as_fork(self) -> bool:
        """A fork's sha is built with the project's secrets only once a maintainer approved it, unless
        the project trusts forks; with policy "never" it is not built at all."""
        desired = self.state.desired
        if desired is None or not desired.fork:
            return False
        # Patched: runs recorded before fork approval existed never held a push back.
        if not workflow.patched("fork-approval"):
            return False
        try:
            policy = await workflow.execute_activity(
                ActivityName.FORK_POLICY,
                self.state.project_id,
                result_type=str,
                start_to_close_timeout=STORE_TIMEOUT,
                retry_policy=RetryPolicy(
                    maximum_interval=timedelta(seconds=10), non_retryable_error_types=NON_RETRYABLE
                ),
            )
        except ActivityError:
            policy = "approve"  # the project is gone or unreadable: trust nothing
        if self.state.desired is not desired:
            return True  # a push came meanwhile: look at it afresh
        if policy == "always" or (policy == "approve" and desired.sha in self.state.approved_shas):
            return False
        self.state.attempted_sha = desired.sha
        self.state.force_redeploy = False
        phase = "awaiting_approval" if policy == "approve" else "fork_blocked"
        self.state.phase = phase
        self._record("", desired.sha, phase)
        self._tell(
            DeploymentRef(
                project_id=self.state.project_id, pr_number=self.state.pr_number, commit_sha=desired.sha
            ),
            phase,
        )
        return True

    async def _wait_for_quiet(self) -> None:
        while True:
            seen = self.state.pushes_seen

            def pushed_or_stopping(seen: int = seen) -> bool:
                return (
                    self.state.pushes_seen != seen
                    or self.state.close_requested
                    or self.state.destroy_requested_by is not None
                )

            try:
                await workflow.wait_condition(pushed_or_stopping, timeout=QUIET_AFTER_SUPERSEDE)
            except TimeoutError:
                return
            if self.state.close_requested or self.state.destroy_requested_by is not None:
                return

    # -- one deployment -----------------------------------------------------------------------

    async def _deploy(self, push: PushSignal) -> None:
        deployment_id = str(workflow.uuid4())
        self.state.building_deployment_id = deployment_id
        self.state.phase = "queued"
        created = await workflow.execute_activity(
            ActivityName.CREATE_DEPLOYMENT,
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
            result_type=CreateDeploymentResult,
            start_to_close_timeout=STORE_TIMEOUT,
            retry_policy=STORE_RETRY,
        )
        self.state.app_name = created.app_name
        ref = DeploymentRef(
            deployment_id=deployment_id,
            project_id=self.state.project_id,
            pr_number=self.state.pr_number,
            commit_sha=push.sha,
            app_name=created.app_name,
        )
        host: ClaimHostQueueResult | None = None
        # A push, close or destroy that came while the row was being written could not cancel us
        # yet: honour it now rather than build a sha nobody wants. (Patched: older histories ran on.)
        stale = (
            self.state.desired is not push or self.state.close_requested or self.state.destroy_requested_by
        )
        if stale and workflow.patched("supersede-after-create"):
            self._interrupted = True
            await self._supersede(ref, None)
            return
        self._cancellable = True
        try:
            # Clone, build and run share a working directory, so they run on one worker: whichever
            # worker answers this claim on the shared queue lends its own host queue.
            host = await workflow.execute_activity(
                ActivityName.CLAIM_HOST_QUEUE,
                start_to_close_timeout=timedelta(seconds=30),
                result_type=ClaimHostQueueResult,
            )
            self._tell(ref, "queued")
            await self._set_status(deployment_id, "building")
            self._tell(ref, "building")
            self.state.phase = "building"
            await _on_host(
                ActivityName.CLONE, ref, host.host_queue, timedelta(minutes=10), timedelta(seconds=20)
            )
            # The build enforces the project's own time limit; 7 hours only bounds a lost worker.
            await _on_host(
                ActivityName.BUILD, ref, host.build_queue, timedelta(hours=7), timedelta(seconds=10)
            )
            await self._set_status(deployment_id, "deploying")
            self._tell(ref, "deploying")
            self.state.phase = "deploying"
            deployed = await _on_host(
                ActivityName.DEPLOY,
                ref,
                host.host_queue,
                timedelta(minutes=10),
                timedelta(seconds=10),
                DeployResult,
            )
        except ActivityError as error:
            if not is_cancelled_exception(error):
                self._cancellable = False
                await self._fail(ref, host, _describe_failure(error))
                return
            await self._supersede(ref, host)
            raise asyncio.CancelledError() from error
        except asyncio.CancelledError:
            await self._supersede(ref, host)
            raise
        self._cancellable = False
        previous_id, previous_queue = self.state.current_deployment_id, self.state.host_queue
        await workflow.execute_activity(
            ActivityName.ACTIVATE,
            ActivateInput(
                deployment_id=deployment_id, previous_deployment_id=previous_id, app_url=deployed.app_url
            ),
            start_to_close_timeout=STORE_TIMEOUT,
            retry_policy=STORE_RETRY,
        )
        self.state.current_deployment_id = deployment_id
        self.state.building_deployment_id = None
        self.state.deployed_sha = push.sha
        self.state.url = deployed.app_url
        self.state.host_queue = host.host_queue
        self.state.phase = "active"
        if self.state.desired is push and not self.state.close_requested:
            self._tell(ref, "ready", url=deployed.app_url)
        self._record(deployment_id, push.sha, "active")
        if previous_id is not None and previous_id != deployment_id:
            # The new process already serves traffic; only now stop the old one.
            await self._retire(replace(ref, deployment_id=previous_id), previous_queue)

    async def _set_status(self, deployment_id: str, status: str) -> None:
        await workflow.execute_activity(
            ActivityName.SET_STATUS,
            SetStatusInput(deployment_id=deployment_id, status=status),
            start_to_close_timeout=STORE_TIMEOUT,
            retry_policy=STORE_RETRY,
        )

    async def _fail(self, ref: DeploymentRef, host: ClaimHostQueueResult | None, message: str) -> None:
        failed = await workflow.execute_activity(
            ActivityName.FAIL_DEPLOYMENT,
            FailDeploymentInput(deployment_id=ref.deployment_id, error=message),
            start_to_close_timeout=STORE_TIMEOUT,
            retry_policy=STORE_RETRY,
            result_type=FailDeploymentResult,
        )
        self._tell(ref, "failed", error=message, log_tail=failed.log_tail)
        self.state.building_deployment_id = None
        # A failed new sha leaves an older live preview serving; the PR stays usable.
        self.state.phase = "active" if self.state.current_deployment_id else "failed"
        self._record(ref.deployment_id, ref.commit_sha, "failed", message)
        if host is not None:
            await self._retire(ref, host.host_queue)

    async def _supersede(self, ref: DeploymentRef, host: ClaimHostQueueResult | None) -> None:
        # We were cancelled; activities started from here on are not, so the cleanup runs.
        await self._set_status(ref.deployment_id, "superseded")
        self.state.building_deployment_id = None
        # An unfinished attempt does not count: a later push back to this sha must build it.
        self.state.attempted_sha = None
        self.state.phase = "queued"
        self._record(ref.deployment_id, ref.commit_sha, "superseded")
        if host is not None:
            await self._retire(ref, host.host_queue)

    async def _retire(self, ref: DeploymentRef, host_queue: str | None) -> None:
        """Stop an old deployment's process and files. Cleanup, so its failure is recorded, never
        allowed to fail the PR's workflow (the live preview and the state are what matter)."""
        try:
            await workflow.execute_activity(
                ActivityName.RETIRE,
                ref,
                task_queue=host_queue or workflow.info().task_queue,
                start_to_close_timeout=timedelta(minutes=2),
                retry_policy=RetryPolicy(maximum_attempts=10, maximum_interval=timedelta(seconds=30)),
            )
        except ActivityError as error:
            workflow.logger.warning(
                "retiring deployment %s failed: %s", ref.deployment_id, _describe_failure(error)
            )

    async def _teardown(self, reason: str) -> None:
        self._interrupted = False
        app_name = self.state.app_name
        current = self.state.current_deployment_id
        if app_name:
            try:
                await workflow.execute_activity(
                    ActivityName.DESTROY,
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
                message = _describe_failure(error)
                workflow.logger.warning("destroying %s failed: %s", app_name, message)
                if current:
                    self._record(current, self.state.deployed_sha or "", "destroy failed", message)
                current = None
        if current:
            await workflow.execute_activity(
                ActivityName.MARK_DESTROYED,
                MarkDestroyedInput(deployment_ids=[current], reason=reason),
                start_to_close_timeout=STORE_TIMEOUT,
                retry_policy=STORE_RETRY,
            )
            self._record(current, self.state.deployed_sha or "", "destroyed")
            if self.state.deployed_sha:
                self._tell(
                    DeploymentRef(deployment_id=current, project_id=self.state.project_id,
                                  pr_number=self.state.pr_number, commit_sha=self.state.deployed_sha),
                    "destroyed",
                )  # fmt: skip
        self.state.current_deployment_id = None
        self.state.deployed_sha = None
        self.state.url = None
        self.state.attempted_sha = None
        self.state.host_queue = None
        self.state.phase = "destroyed"

    # -- telling the PR -----------------------------------------------------------------------

    def _tell(
        self, ref: DeploymentRef, phase: str, *, url: str | None = None, error: str | None = None,
        log_tail: list[str] | None = None,
    ) -> None:  # fmt: skip
        if self._reporting:
            self._report = self._last_told = ReportInput(
                project_id=ref.project_id, pr_number=ref.pr_number, sha=ref.commit_sha,
                deployment_id=ref.deployment_id, phase=phase, url=url, error=error, log_tail=log_tail,
            )  # fmt: skip

    def _notify(self, notice: str) -> None:
        """Add a line to the sticky comment, keeping what it says about the preview."""
        if not self._reporting:
            return
        pending = self._report
        base = (
            pending
            or self._last_told
            or ReportInput(project_id=self.state.project_id, pr_number=self.state.pr_number)
        )
        self._report = self._last_told = replace(
            base, notice=notice, comment_only=pending is None or pending.comment_only
        )

    async def _reporter(self) -> None:
        while True:
            await workflow.wait_condition(lambda: self._report is not None)
            report, self._report = self._report, None
            self._report_in_flight = True
            try:
                await workflow.execute_activity(
                    GITHUB_REPORT,
                    report,
                    start_to_close_timeout=timedelta(minutes=1),
                    # Until GitHub answers (an outage only delays the PR's news); never for a refusal.
                    retry_policy=RetryPolicy(
                        maximum_interval=timedelta(minutes=5),
                        non_retryable_error_types=[str(ErrorType.GITHUB_REJECTED)],
                    ),
                )
            except ActivityError as failure:
                workflow.logger.warning("telling the PR failed: %s", _describe_failure(failure))
            finally:
                self._report_in_flight = False

    async def _reports_sent(self) -> None:
        """Before the run ends or hands over: the PR has been told the last thing there was to tell."""
        if self._reporting:
            await workflow.wait_condition(lambda: self._report is None and not self._report_in_flight)

    def _record(self, deployment_id: str, sha: str, status: str, error: str | None = None) -> None:
        entry = HistoryEntry(
            deployment_id=deployment_id, sha=sha, status=status, at=workflow.now().isoformat(), error=error
        )
        self.state.history = (self.state.history + [entry])[-HISTORY_LENGTH:]


async def _on_host(
    name: str,
    ref: DeploymentRef,
    task_queue: str,
    start_to_close: timedelta,
    heartbeat: timedelta,
    result_type: type[T] | None = None,
) -> T:
    """Work on one host's queue: retried a few times (a dead worker), never for a user's error."""
    result: T = await workflow.execute_activity(
        name,
        ref,
        task_queue=task_queue,
        start_to_close_timeout=start_to_close,
        heartbeat_timeout=heartbeat,
        retry_policy=HOST_WORK_RETRY,
        cancellation_type=CANCEL_AND_WAIT,
        result_type=result_type,
    )
    return result


def _approval_problem(signal: ApproveSignal, desired: PushSignal | None) -> str | None:
    """Why an approval does not apply to the sha waiting for one, or None when it does."""
    if desired is None:
        return "there is no commit waiting for approval."
    if not desired.fork:
        return "this pull request does not come from a fork; there is nothing to approve."
    short = desired.sha[:12]
    if signal.sha:
        if len(signal.sha) < 7 or not desired.sha.lower().startswith(signal.sha.lower()):
            wrong = signal.sha[:40]
            return f"`{wrong}` is not this pull request's newest commit (`{short}`); nothing was approved."
        return None
    # Without a sha, an approval only covers what the maintainer could have seen: a push that GitHub
    # stamped at or after the approval's time is a commit they did not look at.
    approved_at, pushed_at = _instant(signal.created_at), _instant(desired.updated_at)
    if approved_at is None or (pushed_at is not None and approved_at <= pushed_at):
        return f"commit `{short}` was pushed after your approval; comment `/preview approve` again."
    return None


def _instant(value: str) -> datetime | None:
    try:
        instant = datetime.fromisoformat(value.replace("Z", "+00:00")) if value else None
    except ValueError:
        return None
    # GitHub's times carry a zone; a bare one is taken as UTC rather than failing the comparison.
    return instant.replace(tzinfo=instant.tzinfo or UTC) if instant else None


def _describe_failure(error: ActivityError) -> str:
    cause = error.cause
    if isinstance(cause, ApplicationError):
        return cause.message
    if cause is not None:
        return f"{type(cause).__name__}: {cause}"
    return str(error)
