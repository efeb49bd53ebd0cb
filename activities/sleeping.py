"""What a platform that can put previews to sleep provides to PreviewWorkflow's sleeper
(workflows/sleeper.py). The local platform implements it (activities/local/sleep.py); the workflow
calls these activities through this Protocol, so a renamed or retyped activity fails mypy."""

from __future__ import annotations

from typing import Protocol

from temporalio import activity

from workflows.activity_io import ActivityName, DeploymentRef, IdleCheckInput, IdleCheckResult, LiveLimitInput


class SleepingActivities(Protocol):
    @activity.defn(name=ActivityName.SLEEP_IF_IDLE)
    async def sleep_if_idle(self, input: IdleCheckInput) -> IdleCheckResult:
        """Sleep the live preview if it is idle; otherwise how long until it might be."""
        ...

    @activity.defn(name=ActivityName.SLEEP_NOW)
    async def sleep_now(self, ref: DeploymentRef) -> bool:
        """Sleep the live preview at once; False when it no longer serves its route."""
        ...

    @activity.defn(name=ActivityName.WAKE)
    async def wake(self, ref: DeploymentRef) -> None:
        """Start the sleeping preview and route to it once it answers."""
        ...

    @activity.defn(name=ActivityName.LIVE_LIMIT)
    async def live_limit(self, input: LiveLimitInput) -> list[str]:
        """Ask the least recently used awake previews beyond max_live_previews to sleep."""
        ...
