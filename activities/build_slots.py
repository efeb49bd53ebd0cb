"""The `build_slots` activities: a deployment takes its project's build slot, or learns its place in
line, and gives the slot back when its build is over (models/build_slots.py holds the queue).

Short calls on the shared queue, never a long wait: a deployment that waits does so in its workflow (a
timer, cut short by the `slot_free` signal sent here), holding no worker slot of any kind. Before each
answer the asker's project is cleaned of rows whose workflow run is gone, so a terminated workflow or a
release that never came cannot keep a slot for ever.
"""

from __future__ import annotations

import logging
import uuid
from datetime import timedelta

from temporalio import activity
from temporalio.client import Client
from temporalio.exceptions import ApplicationError
from temporalio.service import RPCError

from activities.context import WorkerContext
from models import build_slots
from models.build_slots import Holder
from runtime.temporal_client import workflow_running
from workflows.activity_io import LONGEST_SLOT_RECHECK, ActivityName, BuildSlotAnswer, BuildSlotInput

log = logging.getLogger("previewd.build_slots")

# A row with no proof of life for this long has its workflow asked whether it still runs. Building
# rows never ask: a crashed build's slot comes back within this. Waiting rows prove themselves at each
# ask (at least every LONGEST_SLOT_RECHECK): doubted only once silent for twice that.
BUILDING_UNCONFIRMED_AFTER = timedelta(seconds=15)
WAITING_UNCONFIRMED_AFTER = 2 * LONGEST_SLOT_RECHECK + timedelta(seconds=5)
# Questions to Temporal one ask may cost: the rest are asked about by the next ask.
MOST_DOUBTED_PER_ASK = 20
# Waiting rows told at once when a slot comes free: the first ones may take it, and the place of each
# of them changed. Rows further back learn their new place at their next ask.
WAKE_AT_MOST = 10


class BuildSlotActivities:
    def __init__(self, ctx: WorkerContext, temporal: Client) -> None:
        self.ctx = ctx
        self.temporal = temporal

    async def _limit(self, project_id: str) -> int:
        project = await self.ctx.project(project_id)
        # A config saved before the ceiling was lowered is held under it here.
        return min(project.config().max_concurrent_builds, self.ctx.settings.ceilings.builds_per_project)

    @activity.defn(name=ActivityName.TAKE_BUILD_SLOT)
    async def take(self, input: BuildSlotInput) -> BuildSlotAnswer:
        limit = await self._limit(input.project_id)
        project_id, deployment_id = uuid.UUID(input.project_id), uuid.UUID(input.deployment_id)
        await self._reclaim(project_id, besides=deployment_id)
        async with self.ctx.db.session() as session:
            place = await build_slots.take_or_queue(
                session, project_id=project_id, deployment_id=deployment_id, workflow_id=input.workflow_id,
                run_id=input.run_id, limit=limit,
            )  # fmt: skip
        return BuildSlotAnswer(granted=place.granted, ahead=place.ahead)

    @activity.defn(name=ActivityName.LEAVE_BUILD_QUEUE)
    async def leave(self, input: BuildSlotInput) -> None:
        try:
            wake = max(await self._limit(input.project_id), WAKE_AT_MOST)
        except ApplicationError:  # the project is gone: nobody of it waits to be told
            wake = 0
        async with self.ctx.db.session() as session:
            waiting = await build_slots.leave(
                session, deployment_id=uuid.UUID(input.deployment_id), wake=wake
            )
        for holder in waiting:
            await self._tell_slot_free(holder)

    async def _reclaim(self, project_id: uuid.UUID, *, besides: uuid.UUID) -> None:
        async with self.ctx.db.session() as session:
            doubtful = await build_slots.unconfirmed(
                session, project_id=project_id, besides=besides, building_after=BUILDING_UNCONFIRMED_AFTER,
                waiting_after=WAITING_UNCONFIRMED_AFTER, most=MOST_DOUBTED_PER_ASK,
            )  # fmt: skip
        alive: list[uuid.UUID] = []
        gone: list[uuid.UUID] = []
        for holder in doubtful:
            running = await self._runs(holder)
            if running is True:
                alive.append(holder.deployment_id)
            elif running is False:
                gone.append(holder.deployment_id)
        async with self.ctx.db.session() as session:
            await build_slots.confirm(session, alive)
            reclaimed = await build_slots.reclaim(session, project_id=project_id, gone=gone)
        if reclaimed:
            log.info(
                "build queue of project %s: reclaimed %d slot(s) of builds that are over",
                project_id,
                reclaimed,
            )

    async def _runs(self, holder: Holder) -> bool | None:
        """Whether the holder's workflow run still runs; None when Temporal cannot say (kept)."""
        return await workflow_running(self.temporal, holder.workflow_id, holder.run_id)

    async def _tell_slot_free(self, holder: Holder) -> None:
        """Best effort: a waiting workflow that misses this asks again at its next timer anyway."""
        # Imported here: workflows.preview imports this module (through workflows.deployer).
        from workflows.preview import PreviewWorkflow

        handle = self.temporal.get_workflow_handle(holder.workflow_id, run_id=holder.run_id)
        try:
            await handle.signal(PreviewWorkflow.slot_free)
        except RPCError as error:
            log.info("could not tell %s that a build slot is free: %s", holder.workflow_id, error)
