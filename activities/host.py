"""The `host` activity: which worker will clone, build and run a deployment."""

from __future__ import annotations

from temporalio import activity

from activities.context import WorkerContext
from workflows.activity_io import ActivityName, ClaimHostQueueResult


class HostActivities:
    def __init__(self, ctx: WorkerContext) -> None:
        self.ctx = ctx

    @activity.defn(name=ActivityName.CLAIM_HOST_QUEUE)
    async def claim_queue(self) -> ClaimHostQueueResult:
        # Runs on the shared queue; whichever worker picks it up lends its own queues.
        return ClaimHostQueueResult(host_queue=self.ctx.host_queue, build_queue=self.ctx.build_queue)
