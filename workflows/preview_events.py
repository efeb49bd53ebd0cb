"""PreviewEvents: the one home of "something happened to this preview" (ready, failed, recovered,
destroyed, expiring soon, waiting for approval). Each event goes to both of its audiences:

- the PR (workflows/pr_reporter.py), whose comment shows the newest phase: a burst collapses there;
- the project's notification channels, which get every event, never collapsed (a quick ready then
  destroyed sends both): each event starts a NotificationWorkflow (workflows/notification.py) as an
  abandoned child, so no receiver ever holds the preview back or keeps a closed PR's run open.

Events wait in `PreviewState.pending_events` until their child has started, so one raised just before
a continue-as-new is started by the next run. "Recovered" needs the last outcome, kept in the state.
"""

from __future__ import annotations

from temporalio import workflow
from temporalio.exceptions import WorkflowAlreadyStartedError

with workflow.unsafe.imports_passed_through():
    from workflows.activity_io import DeploymentRef
    from workflows.notification import NotificationWorkflow
    from workflows.notification_io import EventKind, PreviewEvent
    from workflows.pr_reporter import PRReporter
    from workflows.signals import PreviewState
    from workflows.vocabulary import Phase, Settlement

# PreviewState.last_outcome: whether the PR's last deployment that ended went live or failed.
WENT_LIVE, FAILED = "ready", "failed"


class PreviewEvents:
    def __init__(self, state: PreviewState, reporter: PRReporter) -> None:
        self._state = state
        self.reporter = reporter
        self._starting = False

    # -- the events ----------------------------------------------------------------------------

    def ready(self, ref: DeploymentRef, url: str, *, announce: bool) -> None:
        """`ref` went live. Announced on the PR only while its sha is still the one wanted (otherwise
        GitHub's statuses say it is live); the channels hear of it either way."""
        if announce:
            self.reporter.tell(ref, Phase.ACTIVE, url=url)
        else:
            self.reporter.settle(ref, Settlement.LIVE)
        recovered = self._state.last_outcome == FAILED
        self._state.last_outcome = WENT_LIVE
        self._emit(EventKind.RECOVERED if recovered else EventKind.READY, ref, url=url)

    def failed(self, ref: DeploymentRef, error: str, log_tail: list[str] | None) -> None:
        self.reporter.tell(ref, Phase.FAILED, error=error, log_tail=log_tail)
        self.reporter.settle(ref, Settlement.FAILED)  # told even when a newer phase collapses it
        self._state.last_outcome = FAILED
        # The error stays off the channels: a build's output may hold anything (see the logs link).
        self._emit(EventKind.FAILED, ref)

    def destroyed(self, ref: DeploymentRef, phase: Phase) -> None:
        self.reporter.tell(ref, phase)
        self.reporter.settle(ref, Settlement.DESTROYED)
        self._state.last_outcome = ""
        self._emit(EventKind.DESTROYED, ref, reason=str(phase))

    def expiring(self, expires_at: str, notice: str) -> None:
        self.reporter.notify(notice)
        state = self._state
        ref = DeploymentRef(
            project_id=state.project_id, pr_number=state.pr_number, commit_sha=state.deployed_sha or "",
            deployment_id=state.current_deployment_id or "",
        )  # fmt: skip
        self._emit(EventKind.EXPIRING, ref, url=state.url or "", expires_at=expires_at, key=expires_at)

    def held_back(self, ref: DeploymentRef, phase: Phase) -> None:
        """A fork's sha waits for a maintainer (AWAITING_APPROVAL) or is not previewed (FORK_BLOCKED)."""
        self.reporter.tell(ref, phase)
        self.reporter.hold_back(ref.commit_sha)
        if phase == Phase.AWAITING_APPROVAL:
            key = f"{ref.commit_sha}-{self._state.generation}"
            self._emit(EventKind.AWAITING_APPROVAL, ref, key=key)

    # -- sending ---------------------------------------------------------------------------------

    def _emit(
        self, kind: EventKind, ref: DeploymentRef, *, url: str = "", expires_at: str = "",
        reason: str = "", key: str = "",
    ) -> None:  # fmt: skip
        key = key or ref.deployment_id or ref.commit_sha
        # From the state, not workflow.info(): the same on a replay under another workflow id.
        pr = f"{self._state.project_id}-pr-{self._state.pr_number}"
        event = PreviewEvent(
            event_id=f"{pr}-{kind}-{key}", kind=kind,
            project_id=ref.project_id or self._state.project_id,
            pr_number=ref.pr_number or self._state.pr_number,
            sha=ref.commit_sha, deployment_id=ref.deployment_id, url=url, at=workflow.now().isoformat(),
            expires_at=expires_at, reason=reason,
        )  # fmt: skip
        self._state.pending_events = self._state.pending_events + [event]

    async def run(self) -> None:
        """Start each event's NotificationWorkflow, oldest first, for as long as the run lasts."""
        while True:
            await workflow.wait_condition(lambda: bool(self._state.pending_events))
            event = self._state.pending_events[0]
            self._starting = True
            try:
                await workflow.start_child_workflow(
                    NotificationWorkflow.run,
                    event,
                    id=f"notify-{event.event_id}",
                    task_queue=workflow.info().task_queue,
                    parent_close_policy=workflow.ParentClosePolicy.ABANDON,
                )
            except WorkflowAlreadyStartedError:
                pass  # this very event was started already: one message, not two
            finally:
                self._starting = False
            self._state.pending_events = self._state.pending_events[1:]

    async def all_sent(self) -> None:
        """Before the run ends or hands over: the PR has been told, and every event's notification
        workflow has started (it goes on by itself)."""
        await self.reporter.all_sent()
        await workflow.wait_condition(lambda: not self._state.pending_events and not self._starting)
