"""PreviewWorkflow: one long-lived workflow per pull request.

It keeps the PR's preview in step with the newest pushed sha. Signal handlers only record what was
asked into `PreviewState`; the run loop decides what to do about it (samples-python's
`message_passing/safe_message_handlers`). Every change of what is wanted (a push of another sha, a
redeploy, a close, a destroy) bumps `state.generation`: a deployment started in an older generation is
superseded (workflows/deployer.py cancels its clone, build or start and cleans it up) and the newest sha
is deployed instead. Close tears the preview down and ends the run; destroy tears it down and waits for
the next push or redeploy. All state lives in one `PreviewState`, handed over when the workflow
continues as new.
"""

from __future__ import annotations

import asyncio
from datetime import timedelta

from temporalio import workflow
from temporalio.common import RetryPolicy
from temporalio.exceptions import ActivityError

with workflow.unsafe.imports_passed_through():
    from activities.github.permission import GitHubPermissionActivities
    from activities.source import SourceActivities
    from activities.store import StoreActivities
    from models.repo_config import FILE_NAME as CONFIG_FILE
    from workflows.activity_io import NON_RETRYABLE, ConfigChangeInput, DeploymentRef, PermissionInput
    from workflows.approval import approval_problem
    from workflows.deployer import STORE_TIMEOUT, Deployer
    from workflows.expiry import ExpiryClock
    from workflows.lifetime import DURATION_HELP, extension_hours
    from workflows.markdown import code_span
    from workflows.pr_reporter import PRReporter
    from workflows.preview_events import PreviewEvents
    from workflows.signals import (
        APPROVE_UPDATE,
        STATE_QUERY,
        WORKFLOW_NAME,
        ApproveSignal,
        CloseSignal,
        CommandSignal,
        LifetimeAction,
        LifetimeSignal,
        ManualSignal,
        PreviewInput,
        PreviewState,
        PushSignal,
        RefusalSignal,
        SignalName,
    )
    from workflows.sleeper import Sleeper
    from workflows.vocabulary import DeploymentStatus, Phase

# After a push replaced an in-flight build, wait this long without another change before building:
# a burst of pushes ends in one build of its last sha. The first push of a quiet PR builds at once.
QUIET_AFTER_SUPERSEDE = timedelta(seconds=1)
RECENT_DELIVERIES = 100
APPROVALS_KEPT = 50
# Reading a project's fork policy: a project that is gone answers at once (and is trusted with nothing).
FORK_POLICY_RETRY = RetryPolicy(
    maximum_interval=timedelta(seconds=10), non_retryable_error_types=NON_RETRYABLE
)
# A fork's push is held back until a maintainer approves its sha under this policy (models.Project).
APPROVE_POLICY = "approve"
TRUST_POLICY = "always"
# A fork's previewd.toml against its base: a scratch fetch of two commits, retried a few times.
CONFIG_CHECK_TIMEOUT = timedelta(minutes=10)
CONFIG_CHECK_RETRY = RetryPolicy(maximum_attempts=3, non_retryable_error_types=NON_RETRYABLE)
# GitHub's permission levels that include push: who may steer previews from a PR comment.
PUSH_LEVELS = frozenset({"admin", "write"})
PERMISSION_TIMEOUT = timedelta(seconds=30)
# Asking GitHub who wrote a comment: a few minutes of retries, then the command is refused (and can
# be given again) rather than kept waiting behind an outage.
PERMISSION_RETRY = RetryPolicy(
    maximum_interval=timedelta(seconds=30), maximum_attempts=8, non_retryable_error_types=NON_RETRYABLE
)


@workflow.defn(name=WORKFLOW_NAME)
class PreviewWorkflow:
    @workflow.init
    def __init__(self, input: PreviewInput) -> None:
        self.state = input.state or PreviewState(project_id=input.project_id, pr_number=input.pr_number)
        self._reporter = PRReporter(self.state)
        self._events = PreviewEvents(self.state, self._reporter)
        self._deployer = Deployer(self.state, self._events)
        self._expiry = ExpiryClock(self.state, self._events)
        self._sleeper = Sleeper(self.state)

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
        self._expiry.restart()
        if self.state.phase in (Phase.CLOSED, Phase.DESTROYED, Phase.EXPIRED):
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
        self.state.forced_generation = self.state.generation
        self._expiry.restart()

    @workflow.signal(name=SignalName.RESET_DATABASE)
    def reset_database(self, signal: ManualSignal) -> None:
        """The PR's database dropped and made afresh (template, seed) by a redeploy."""
        closing = self.state.close_requested or self.state.phase == Phase.CLOSED
        if self._seen(signal.request_id) or self.state.last_push is None or closing:
            return
        self.state.database_reset_requested = True
        self.redeploy(ManualSignal(requested_by=signal.requested_by))

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

    @workflow.signal(name=SignalName.COMMAND)
    def command(self, signal: CommandSignal) -> None:
        """A `/preview` comment: recorded; `_run_commands` asks GitHub about its author first."""
        if self._seen(signal.request_id):
            return
        self.state.pending_commands = self.state.pending_commands + [signal]

    @workflow.signal(name=SignalName.SLOT_FREE)
    def slot_free(self) -> None:
        """One of the project's build slots came free: a deployment waiting for one asks again now."""
        self.state.slot_nudges += 1

    @workflow.signal(name=SignalName.LIFETIME)
    def lifetime(self, signal: LifetimeSignal) -> None:
        """Keep, unpin or extend the preview (the dashboard, the API, or a vouched-for comment)."""
        if self._seen(signal.request_id):
            return
        self._reporter.notify(self._expiry.apply(signal))

    @workflow.signal(name=SignalName.WAKE)
    def wake(self, signal: ManualSignal) -> None:
        """A request reached the sleeping preview through the proxy. Asked many times (every waiting
        request's refresh): one wake. Kept when it comes while the preview is still falling asleep
        (its route already says asleep): it wakes as soon as it is."""
        self.state.wake_requested = True

    @workflow.signal(name=SignalName.SLEEP)
    def sleep(self, signal: ManualSignal) -> None:
        """More of the project's previews are awake than max_live_previews: this one is the least
        recently used."""
        if not self.state.asleep:
            self.state.sleep_requested = True

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
        asyncio.create_task(self._events.run())
        asyncio.create_task(self._run_commands())
        asyncio.create_task(self._expiry.run())
        while True:
            await self._until_something_to_do()
            if self.state.close_requested:
                await self._deployer.teardown(self.state.close_reason or "pull request closed")
                self._sleeper.forget()
                self.state.close_requested = False
                self.state.close_reason = ""
                self.state.phase = Phase.CLOSED
                # A reopen that arrived during teardown keeps the workflow going; otherwise the run
                # ends. Temporal refuses to complete a run that has unprocessed signals, so a push that
                # races with the end is handled by this same run, never lost.
                if self.state.desired is None:
                    await self._events.all_sent()
                    return self.state
                continue
            if self.state.destroy_requested_by is not None:
                await self._deployer.teardown(f"destroyed by {self.state.destroy_requested_by}")
                self._sleeper.forget()
                self.state.destroy_requested_by = None
                continue
            if self.state.expire_requested:
                self._want_nothing()  # until a push or a redeploy brings it back, as after a destroy
                await self._deployer.teardown("expired: no push or request for too long", Phase.EXPIRED)
                self._sleeper.forget()
                self._expiry.expired()
                continue
            # Checked before each new deployment too, so a PR that never goes quiet still hands over.
            # A pending push is part of the state, so the next run deploys it.
            if self._should_continue_as_new():
                await workflow.wait_condition(workflow.all_handlers_finished)
                await self._events.all_sent()
                workflow.continue_as_new(
                    PreviewInput(
                        project_id=self.state.project_id, pr_number=self.state.pr_number, state=self.state
                    )
                )
            if not self._deploy_wanted():
                await self._sleeper.tend()  # a wake, a sleep, or the idle timer
                continue
            desired = self.state.desired
            if desired is None or await self._held_back_as_fork(desired):
                continue
            outcome = await self._deployer.deploy(desired)
            if outcome == DeploymentStatus.ACTIVE:
                await self._sleeper.went_live(self.state.can_sleep)
            else:
                self._sleeper.after_deploy()
            if outcome == DeploymentStatus.SUPERSEDED:
                await self._wait_for_quiet()

    async def _until_something_to_do(self) -> None:
        """Until a message asks for something, or the idle timer of the live preview fires."""

        def ready() -> bool:
            return self._has_work() or self._should_continue_as_new() or self._sleeper.has_work()

        timer = self._sleeper.next_check_in()
        if timer is None:
            await workflow.wait_condition(ready)
            return
        if timer <= timedelta(0):
            return
        try:
            await workflow.wait_condition(ready, timeout=timer)
        except TimeoutError:
            return

    async def _run_commands(self) -> None:
        """Each `/preview` comment in turn, carried out only when GitHub says its author may push to the
        repository. Taken off the list once decided: a continue-as-new while GitHub is being asked
        leaves it for the next run, which asks again."""
        while True:
            await workflow.wait_condition(lambda: bool(self.state.pending_commands))
            signal = self.state.pending_commands[0]
            try:
                level = await workflow.execute_activity_method(
                    GitHubPermissionActivities.permission,
                    PermissionInput(project_id=self.state.project_id, login=signal.requested_by),
                    start_to_close_timeout=PERMISSION_TIMEOUT,
                    retry_policy=PERMISSION_RETRY,
                )
            except ActivityError:
                level = ""
            self.state.pending_commands = self.state.pending_commands[1:]
            self._carry_out(signal, level)

    def _carry_out(self, signal: CommandSignal, level: str) -> None:
        who = signal.requested_by or "someone"
        command = f"/preview {signal.command}"
        if level not in PUSH_LEVELS:
            why = (
                "previewd could not ask GitHub who you are on this repository; try again later"
                if not level
                else f"it needs push access to this repository, and GitHub gives you {code_span(level)}"
            )
            self._reporter.notify(f"@{who}: {code_span(command)} was not carried out: {why}.")
            return
        if signal.command == "redeploy":
            self.redeploy(ManualSignal(requested_by=who))
        elif signal.command == "reset-db":
            self.reset_database(ManualSignal(requested_by=who))
        elif signal.command == "destroy":
            self.destroy(ManualSignal(requested_by=who))
        elif signal.command in (LifetimeAction.KEEP, LifetimeAction.UNPIN):
            self.lifetime(LifetimeSignal(action=LifetimeAction(signal.command), requested_by=who))
        elif signal.command == LifetimeAction.EXTEND:
            hours = extension_hours(signal.argument)
            if hours is None:
                asked = code_span(f"{command} {signal.argument}".strip())
                self._reporter.notify(f"@{who}: {asked} was not carried out: it needs {DURATION_HELP}.")
                return
            self.lifetime(LifetimeSignal(action=LifetimeAction.EXTEND, hours=hours, requested_by=who))
        elif signal.command == "approve":
            self.approve(
                ApproveSignal(
                    sha=signal.argument, requested_by=who, source="comment", created_at=signal.created_at
                )
            )
        else:
            self._reporter.notify(f"@{who}: {code_span(command)} is not a command.")

    def _has_work(self) -> bool:
        return self._stopping() or self.state.expire_requested or self._deploy_wanted()

    def _stopping(self) -> bool:
        return self.state.close_requested or self.state.destroy_requested_by is not None

    def _deploy_wanted(self) -> bool:
        desired = self.state.desired
        return desired is not None and desired.sha != self.state.attempted_sha

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
        approved = desired.sha in self.state.approved_shas
        if policy == APPROVE_POLICY and approved:
            return False
        changes_config = False
        if policy == TRUST_POLICY:
            # Trusted like a branch, except for previewd.toml: it decides what runs and with what, so a
            # fork that changes it waits for a maintainer like under "approve".
            if approved:
                return False
            changes_config = await self._fork_changes_config(desired)
            if self.state.generation != generation:
                return True
            if not changes_config:
                return False
        self.state.attempted_sha = desired.sha
        phase = (
            Phase.FORK_BLOCKED if policy not in (APPROVE_POLICY, TRUST_POLICY) else Phase.AWAITING_APPROVAL
        )
        self.state.phase = phase
        self._deployer.record("", desired.sha, phase)
        ref = DeploymentRef(
            project_id=self.state.project_id, pr_number=self.state.pr_number, commit_sha=desired.sha
        )
        self._events.held_back(ref, phase)
        if changes_config:
            self._reporter.notify(
                f"This pull request from a fork changes {code_span(CONFIG_FILE)}, which decides what "
                "runs and with what: a maintainer approves it first, whatever the project's fork policy."
            )
        return True

    async def _fork_changes_config(self, desired: PushSignal) -> bool:
        """Whether the fork's head has another previewd.toml than its base; yes when that cannot be
        told (no base sha in the push, the repository unreadable): approval is the safe side."""
        if not desired.base_sha:
            return True
        try:
            return await workflow.execute_activity_method(
                SourceActivities.config_changed,
                ConfigChangeInput(
                    project_id=self.state.project_id, head_sha=desired.sha, base_sha=desired.base_sha
                ),
                start_to_close_timeout=CONFIG_CHECK_TIMEOUT,
                retry_policy=CONFIG_CHECK_RETRY,
            )
        except ActivityError:
            return True
