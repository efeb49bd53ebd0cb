"""Sleep and wake on the local platform: the activities PreviewWorkflow's sleeper (workflows/sleeper.py)
calls. A sleeping preview's process and sandbox are gone; its files and its route (marked asleep) stay,
so waking it is the start a restarted worker does (LocalRuntime.launch)."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

from sqlalchemy import func
from sqlmodel import col, select
from temporalio import activity
from temporalio.client import Client, WorkflowHandle
from temporalio.exceptions import ApplicationError
from temporalio.service import RPCError

from activities.context import heartbeat
from activities.local.supervisor import LocalRuntime
from activities.sleeping import SleepingActivities
from models import Deployment, PreviewRoute
from workflows.activity_io import (
    ActivityName,
    DeploymentRef,
    ErrorType,
    IdleCheckInput,
    IdleCheckResult,
    LiveLimitInput,
)
from workflows.preview import PreviewWorkflow
from workflows.signals import ManualSignal, PreviewState

# A project whose previews never sleep (idle_minutes = 0) is looked at again this often, so that a
# changed setting takes effect without a push.
NEVER_SLEEPS_RECHECK_SECONDS = 3600.0
# Never sooner than this: a request that just came in is written by the proxy up to 30 s late.
MIN_CHECK_SECONDS = 1.0


class SleepActivities:
    def __init__(self, runtime: LocalRuntime, temporal: Client) -> None:
        self.runtime = runtime
        self.temporal = temporal

    @activity.defn(name=ActivityName.SLEEP_IF_IDLE)
    async def sleep_if_idle(self, input: IdleCheckInput) -> IdleCheckResult:
        """Sleep the preview if it served no request for the project's idle_minutes (counted from the
        later of its last request and when it went live or woke); otherwise how long until it might."""
        ctx = self.runtime.ctx
        config = (await ctx.project(input.ref.project_id)).config()
        if config.idle_minutes == 0:
            return IdleCheckResult(check_again_seconds=NEVER_SLEEPS_RECHECK_SECONDS)
        idle_for = timedelta(seconds=config.idle_minutes * ctx.settings.previewd_idle_unit_seconds)
        last_active = max(_parse(input.awake_since), await self._last_request(input.ref.app_name))
        left = (last_active + idle_for - datetime.now(UTC)).total_seconds()
        if left > 0:
            return IdleCheckResult(check_again_seconds=max(left, MIN_CHECK_SECONDS))
        if not await self.runtime.sleep(input.ref.deployment_id):
            # Its route serves another deployment now: nothing of this one to sleep.
            return IdleCheckResult(check_again_seconds=idle_for.total_seconds())
        activity.logger.info("%s is asleep after %s without a request", input.ref.app_name, idle_for)
        return IdleCheckResult(slept=True)

    @activity.defn(name=ActivityName.SLEEP_NOW)
    async def sleep_now(self, ref: DeploymentRef) -> bool:
        """Sleep the preview at once (more of the project's previews are awake than it allows)."""
        return await self.runtime.sleep(ref.deployment_id)

    @activity.defn(name=ActivityName.WAKE)
    async def wake(self, ref: DeploymentRef) -> None:
        """Start the sleeping preview from its kept files, and route to it once it answers."""
        if not await self.runtime.wake(ref, heartbeat):
            raise ApplicationError(
                f"{ref.app_name} serves another deployment now",
                type=ErrorType.START_FAILED,
                non_retryable=True,
            )

    @activity.defn(name=ActivityName.LIVE_LIMIT)
    async def live_limit(self, input: LiveLimitInput) -> list[str]:
        """Beyond the project's max_live_previews awake previews, ask the least recently used others'
        workflows to sleep them (never destroyed). The app names asked, least recently used first."""
        ctx = self.runtime.ctx
        # The operator's ceiling holds also for a project saved before it was lowered (or left at the
        # default above it).
        limit = min(
            (await ctx.project(input.project_id)).config().max_live_previews,
            ctx.settings.ceilings.live_previews,
        )
        # Least recently used: by last request, else by when it went live (or woke, or restarted).
        used = func.coalesce(col(PreviewRoute.last_request_at), col(PreviewRoute.updated_at))
        async with ctx.db.session() as session:
            awake = (
                await session.exec(
                    select(PreviewRoute.app_name, Deployment.workflow_id)
                    .join(Deployment, col(Deployment.id) == col(PreviewRoute.deployment_id))
                    .where(col(Deployment.project_id) == uuid.UUID(input.project_id))
                    .where(col(PreviewRoute.asleep).is_(False))
                    .order_by(used, col(PreviewRoute.app_name))
                )
            ).all()
        excess = len(awake) - limit
        if excess <= 0:
            return []
        chosen = [(name, wf) for name, wf in awake if name != input.app_name][:excess]
        for name, workflow_id in chosen:
            handle: WorkflowHandle[PreviewWorkflow, PreviewState] = self.temporal.get_workflow_handle_for(
                PreviewWorkflow.run, workflow_id
            )
            try:
                # Idempotent: a preview asked twice (a retried activity, two wakes at once) sleeps once.
                await handle.signal(
                    PreviewWorkflow.sleep,
                    ManualSignal(requested_by="max_live_previews"),
                )
            except RPCError as error:  # its workflow ended meanwhile: nothing to sleep
                activity.logger.warning("could not ask %s to sleep: %s", name, error.status.name)
        return [name for name, _ in chosen]

    async def _last_request(self, app_name: str) -> datetime:
        async with self.runtime.ctx.db.session() as session:
            route = await session.get(PreviewRoute, app_name)
        if route is None or route.last_request_at is None:
            return datetime.min.replace(tzinfo=UTC)
        return route.last_request_at


def _parse(moment: str) -> datetime:
    if not moment:
        return datetime.min.replace(tzinfo=UTC)
    parsed = datetime.fromisoformat(moment)
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


# The workflow calls these activities through SleepingActivities: mypy holds this class to it.
_: type[SleepingActivities] = SleepActivities
