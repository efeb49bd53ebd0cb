"""ExpiryClock: a live preview nobody pushed to or visited for the project's `expire_after_days` is
torn down (status `expired`), and the PR is warned a day before.

A durable timer in the PR's own workflow, not a cron scan: it sleeps until the warning or the
deadline, then reads the facts afresh (the project's setting, the preview's last request) and either
sleeps again (a later request moved the deadline) or asks the run loop to expire the preview. Only the
deadline's inputs live in `PreviewState`, so a continue-as-new starts the timer again where it was.
Pinned previews (`/preview keep`) never expire; `/preview extend` moves the deadline out.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from temporalio import workflow
from temporalio.common import RetryPolicy
from temporalio.exceptions import ActivityError

with workflow.unsafe.imports_passed_through():
    from activities.store import StoreActivities
    from workflows.activity_io import NON_RETRYABLE, ExpiryFacts, ExpiryFactsInput
    from workflows.deployer import STORE_TIMEOUT
    from workflows.failures import describe_failure
    from workflows.lifetime import MAX_EXTENSION_DAYS, deadline, shown
    from workflows.preview_events import PreviewEvents
    from workflows.signals import LifetimeAction, LifetimeSignal, PreviewState

# The warning comes this many "days" (ExpiryFacts.day_seconds) before the deadline.
WARN_DAYS_BEFORE = 1
# Retried while Postgres is away; a project that is gone answers at once (its clock then stops).
FACTS_RETRY = RetryPolicy(maximum_interval=timedelta(seconds=10), non_retryable_error_types=NON_RETRYABLE)


def _at(text: str) -> datetime | None:
    return datetime.fromisoformat(text) if text else None


class ExpiryClock:
    def __init__(self, state: PreviewState, events: PreviewEvents) -> None:
        self._state = state
        self._events = events

    def restart(self) -> None:
        """Something moved the expiry (a push, a redeploy): counted afresh from now."""
        self._state.expiry_counted_from = workflow.now().isoformat()
        self._state.expire_requested = False
        self._state.expiry_generation += 1

    def _armed(self) -> bool:
        """A preview is live and no newer deployment is on its way (which restarts the count anyway).
        Not tied to one phase: a live preview waiting for a fork's approval, or asleep, expires too."""
        state = self._state
        return (
            state.current_deployment_id is not None
            and state.building_deployment_id is None
            and not state.pinned_by
            and not state.expire_requested
        )

    def _key(self) -> tuple[int, str | None]:
        # A new live deployment (a redeploy that went live, say) is looked at afresh too.
        return self._state.expiry_generation, self._state.current_deployment_id

    async def run(self) -> None:
        while True:
            await workflow.wait_condition(self._armed)
            key = self._key()
            try:
                facts = await workflow.execute_activity_method(
                    StoreActivities.expiry_facts,
                    ExpiryFactsInput(project_id=self._state.project_id, app_name=self._state.app_name or ""),
                    start_to_close_timeout=STORE_TIMEOUT,
                    retry_policy=FACTS_RETRY,
                )
            except ActivityError as error:
                # Never expire what cannot be looked at; the next push or redeploy looks again.
                workflow.logger.warning(
                    "reading the expiry of the preview failed: %s", describe_failure(error)
                )
                await self._sleep(key, None)
                continue
            self._state.day_seconds = facts.day_seconds
            if self._key() != key or not self._armed():
                continue
            await self._sleep(key, self._decide(facts))

    async def _sleep(self, key: tuple[int, str | None], wake: timedelta | None) -> None:
        """Until `wake` has passed (None: forever), or something moved the expiry."""
        try:
            await workflow.wait_condition(lambda: self._key() != key or not self._armed(), timeout=wake)
        except TimeoutError:
            pass  # due: the loop reads the facts again

    def _decide(self, facts: ExpiryFacts) -> timedelta | None:
        """Warn or expire when due; how long to sleep before looking again (None: until something
        changes)."""
        state = self._state
        if facts.after_seconds <= 0:
            state.expires_at = ""
            return None
        now = workflow.now()
        if not state.expiry_counted_from:
            state.expiry_counted_from = now.isoformat()  # a run from before expiry existed
        due = deadline(
            counted_from=datetime.fromisoformat(state.expiry_counted_from),
            last_request=_at(facts.last_request_at),
            after=timedelta(seconds=facts.after_seconds),
            extended_until=_at(state.extended_until),
        )
        state.expires_at = due.isoformat()
        if now >= due:
            state.expire_requested = True
            return None
        warn_at = due - timedelta(seconds=facts.day_seconds * WARN_DAYS_BEFORE)
        if now < warn_at:
            return warn_at - now
        if state.expiry_warned_for != state.expires_at:
            state.expiry_warned_for = state.expires_at
            self._events.expiring(
                state.expires_at,
                f"This preview expires at {shown(due)} unless it gets a push or a visit before then. "
                "Comment `/preview keep` to keep it until `/preview unpin`, or `/preview extend 3d` to "
                "give it three more days.",
            )
        return due - now

    def expired(self) -> None:
        """The run loop tore the preview down: nothing left to count."""
        state = self._state
        state.expire_requested = False
        state.expires_at = state.extended_until = state.expiry_warned_for = ""

    def apply(self, signal: LifetimeSignal) -> str:
        """Keep, unpin or extend; returns what the PR is told."""
        state = self._state
        who = f"@{signal.requested_by or 'someone'}"
        state.expiry_generation += 1
        state.expire_requested = False
        if signal.action == LifetimeAction.KEEP:
            state.pinned_by = signal.requested_by or "someone"
            state.expires_at = state.expiry_warned_for = ""
            return f"{who} pinned this preview: it does not expire until someone comments `/preview unpin`."
        if signal.action == LifetimeAction.UNPIN:
            was = state.pinned_by
            state.pinned_by = ""
            if not was:
                return f"{who}: this preview was not pinned; nothing changed."
            self.restart()  # a full period from now, not an expiry that fell due while pinned
            return f"{who} unpinned this preview: it expires again after the project's usual time unused."
        now = workflow.now()
        hours = min(max(signal.hours, 1), MAX_EXTENSION_DAYS * 24)
        day = timedelta(seconds=state.day_seconds)
        current = max(_at(state.expires_at) or now, _at(state.extended_until) or now, now)
        until = min(current + day * hours / 24, now + day * MAX_EXTENSION_DAYS)
        state.extended_until = until.isoformat()
        pinned = (
            " (it is pinned: it does not expire before `/preview unpin` anyway)" if state.pinned_by else ""
        )
        return f"{who} extended this preview: it does not expire before {shown(until)}{pinned}."
