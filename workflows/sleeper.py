"""Sleeper: a PR's live preview sleeps after `idle_minutes` without a request, wakes on the next one,
and is put to sleep when more of its project's previews are awake than `max_live_previews` allows.

The workflow times idleness itself with a durable timer (its run loop waits until `idle_check_at`),
so the timing survives worker restarts and shows in the Temporal UI. When it fires, an activity on the
preview's host compares the route's last request with the project's setting and either sleeps the
preview or says how long is left. Only platforms that can stop a preview and start it again from its
kept files take part (DeployResult.sleeps: the local platform). Nothing of this is told to GitHub: a
sleeping preview is still the live deployment, neither a failure nor a new deployment.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from temporalio import workflow
from temporalio.common import RetryPolicy
from temporalio.exceptions import ActivityError

with workflow.unsafe.imports_passed_through():
    from activities.sleeping import SleepingActivities
    from workflows.activity_io import DeploymentRef, IdleCheckInput, LiveLimitInput
    from workflows.failures import describe_failure
    from workflows.signals import PreviewState
    from workflows.vocabulary import Phase

# Looking at idleness, sleeping: bookkeeping and a process stop on the preview's host.
SLEEP_TIMEOUT = timedelta(minutes=2)
SLEEP_RETRY = RetryPolicy(maximum_interval=timedelta(seconds=10), maximum_attempts=5)
# Waking starts the preview and waits for its health check (the project's own timeout bounds it).
WAKE_TIMEOUT = timedelta(minutes=10)
WAKE_HEARTBEAT = timedelta(seconds=10)
WAKE_RETRY = RetryPolicy(maximum_attempts=2)
# After a check that could not be made (the host's worker is away, say): try again this much later.
RECHECK_AFTER_FAILURE = timedelta(minutes=1)


class Sleeper:
    def __init__(self, state: PreviewState) -> None:
        self._state = state

    # -- what the run loop asks ---------------------------------------------------------------

    def has_work(self) -> bool:
        """A wake of a sleeping preview, or a sleep of an awake one, was asked for."""
        return (self._state.wake_requested and self._state.asleep) or (
            self._state.sleep_requested and self._awake_and_live()
        )

    def next_check_in(self) -> timedelta | None:
        """How long until the idle timer fires; None when nothing is being timed."""
        if self._state.idle_check_at is None or not self._awake_and_live():
            return None
        return datetime.fromisoformat(self._state.idle_check_at) - workflow.now()

    async def tend(self) -> None:
        """Carry out what was asked (a wake first), or look at idleness once the timer is due."""
        state = self._state
        wake, sleep = state.wake_requested, state.sleep_requested
        state.wake_requested = state.sleep_requested = False
        if wake and state.asleep:
            await self._wake()
        elif sleep and self._awake_and_live():
            await self._sleep_now()
        elif (due := self.next_check_in()) is not None and due <= timedelta(0):
            await self._check_idle()

    # -- what the deployer's outcomes change ----------------------------------------------------

    async def went_live(self, can_sleep: bool) -> None:
        """A new sha is live (and awake, whatever its predecessor was): time its idleness from now,
        and keep the project within max_live_previews."""
        state = self._state
        state.can_sleep, state.asleep = can_sleep, False
        state.wake_requested = state.sleep_requested = False
        await self._awake()

    def after_deploy(self) -> None:
        """A deployment that did not go live leaves the live preview as it was: asleep, if it slept."""
        if self._state.asleep and self._state.phase == Phase.ACTIVE:
            self._state.phase = Phase.SLEEPING

    def forget(self) -> None:
        """The preview is gone (destroyed, closed): nothing to time or wake."""
        state = self._state
        state.asleep = state.wake_requested = state.sleep_requested = False
        state.idle_check_at = None
        state.awake_since = ""

    # -- the activities -------------------------------------------------------------------------

    def _awake_and_live(self) -> bool:
        state = self._state
        return (
            state.can_sleep
            and not state.asleep
            and state.phase == Phase.ACTIVE
            and state.current_deployment_id is not None
            and state.host_queue is not None
        )

    def _live_ref(self) -> DeploymentRef:
        state = self._state
        return DeploymentRef(
            deployment_id=state.current_deployment_id or "",
            project_id=state.project_id,
            pr_number=state.pr_number,
            commit_sha=state.deployed_sha or "",
            app_name=state.app_name or "",
        )

    async def _check_idle(self) -> None:
        try:
            result = await workflow.execute_activity_method(
                SleepingActivities.sleep_if_idle,
                IdleCheckInput(ref=self._live_ref(), awake_since=self._state.awake_since),
                task_queue=self._state.host_queue,
                start_to_close_timeout=SLEEP_TIMEOUT,
                retry_policy=SLEEP_RETRY,
            )
        except ActivityError as error:
            workflow.logger.warning("idle check failed: %s", describe_failure(error))
            self._check_in(RECHECK_AFTER_FAILURE)
            return
        if result.slept:
            self._fell_asleep()
        else:
            self._check_in(timedelta(seconds=result.check_again_seconds))

    async def _sleep_now(self) -> None:
        try:
            slept = await workflow.execute_activity_method(
                SleepingActivities.sleep_now,
                self._live_ref(),
                task_queue=self._state.host_queue,
                start_to_close_timeout=SLEEP_TIMEOUT,
                retry_policy=SLEEP_RETRY,
            )
        except ActivityError as error:
            workflow.logger.warning("sleeping for max_live_previews failed: %s", describe_failure(error))
            return
        if slept:
            self._fell_asleep()

    async def _wake(self) -> None:
        try:
            await workflow.execute_activity_method(
                SleepingActivities.wake,
                self._live_ref(),
                task_queue=self._state.host_queue,
                start_to_close_timeout=WAKE_TIMEOUT,
                heartbeat_timeout=WAKE_HEARTBEAT,
                retry_policy=WAKE_RETRY,
            )
        except ActivityError as error:
            # Still asleep: the next request asks again.
            workflow.logger.warning("waking the preview failed: %s", describe_failure(error))
            return
        self._state.asleep = False
        self._state.phase = Phase.ACTIVE
        await self._awake()

    def _fell_asleep(self) -> None:
        self._state.asleep = True
        self._state.idle_check_at = None
        self._state.phase = Phase.SLEEPING

    async def _awake(self) -> None:
        self._state.awake_since = workflow.now().isoformat()
        if not self._state.can_sleep:
            self._state.idle_check_at = None
            return
        self._check_in(timedelta(0))  # the first check says how long the project's idle time is
        try:
            await workflow.execute_activity_method(
                SleepingActivities.live_limit,
                LiveLimitInput(project_id=self._state.project_id, app_name=self._state.app_name or ""),
                start_to_close_timeout=SLEEP_TIMEOUT,
                retry_policy=SLEEP_RETRY,
            )
        except ActivityError as error:
            workflow.logger.warning("keeping max_live_previews failed: %s", describe_failure(error))

    def _check_in(self, delay: timedelta) -> None:
        self._state.idle_check_at = (workflow.now() + delay).isoformat()
