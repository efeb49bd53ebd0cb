"""BuildQueue: a deployment's wait for its project's build slot, inside the PR's workflow.

The slot is taken before the clone and the build are scheduled on any worker, so a deployment that
waits holds no worker slot (models/build_slots.py keeps the queue, first come first served). The wait
is a durable timer between short `build_slots.take` calls; the `slot_free` signal, sent when a slot
of the project comes free, cuts it short. While it waits, the PR and the dashboard see its place
("2 builds ahead"), told again only when the place changes. A supersede or a close cancels the wait,
and the deployment's cleanup gives the place back (`leave`), like a finished build's slot.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta

from temporalio import workflow
from temporalio.common import RetryPolicy

with workflow.unsafe.imports_passed_through():
    from activities.build_slots import BuildSlotActivities
    from workflows.activity_io import LONGEST_SLOT_RECHECK, NON_RETRYABLE, BuildSlotInput, DeploymentRef
    from workflows.pr_reporter import PRReporter
    from workflows.signals import PreviewState, workflow_id_for
    from workflows.vocabulary import Phase

# Asked again after this long without a `slot_free` signal (a holder that died never sends one; its
# slot is reclaimed at the next ask), doubling up to the longest: a long wait adds few events.
FIRST_RECHECK = timedelta(seconds=5)
LONGEST_RECHECK = LONGEST_SLOT_RECHECK
SLOT_TIMEOUT = timedelta(seconds=30)
# Bookkeeping in Postgres, retried until it answers; a project that is gone fails the deployment.
SLOT_RETRY = RetryPolicy(maximum_interval=timedelta(seconds=10), non_retryable_error_types=NON_RETRYABLE)


class BuildQueue:
    def __init__(self, state: PreviewState, reporter: PRReporter) -> None:
        self._state = state
        self._reporter = reporter

    def _input(self, ref: DeploymentRef) -> BuildSlotInput:
        return BuildSlotInput(
            deployment_id=ref.deployment_id,
            project_id=ref.project_id,
            workflow_id=workflow_id_for(ref.project_id, ref.pr_number),
            run_id=workflow.info().run_id,
        )

    async def wait_for_slot(self, ref: DeploymentRef) -> None:
        """Returns once the deployment holds one of its project's build slots."""
        told: int | None = None
        recheck = FIRST_RECHECK
        while True:
            nudges = self._state.slot_nudges  # a signal during the ask below is not missed
            answer = await workflow.execute_activity_method(
                BuildSlotActivities.take,
                self._input(ref),
                start_to_close_timeout=SLOT_TIMEOUT,
                retry_policy=SLOT_RETRY,
                # A supersede waits for an ask in flight to finish, so the `leave` after it finds its row.
                cancellation_type=workflow.ActivityCancellationType.WAIT_CANCELLATION_COMPLETED,
            )
            if answer.granted:
                self._state.builds_ahead = None
                return
            self._state.builds_ahead = answer.ahead
            if answer.ahead != told:
                told = answer.ahead
                self._reporter.tell(ref, Phase.QUEUED, builds_ahead=answer.ahead)
            try:
                await workflow.wait_condition(self._nudged_since(nudges), timeout=recheck)
            except TimeoutError:
                recheck = min(recheck * 2, LONGEST_RECHECK)

    def _nudged_since(self, count: int) -> Callable[[], bool]:
        return lambda: self._state.slot_nudges != count

    async def leave(self, ref: DeploymentRef) -> None:
        """The deployment's build is over, or it stopped waiting: its slot or place goes to the next."""
        self._state.builds_ahead = None
        await workflow.execute_activity_method(
            BuildSlotActivities.leave,
            self._input(ref),
            start_to_close_timeout=SLOT_TIMEOUT,
            retry_policy=SLOT_RETRY,
        )
