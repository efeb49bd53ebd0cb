"""The Temporal schedules of the GitHub reconciles (workflows/github_reconcile.py), made or brought
in line with the settings by whichever worker starts; an interval of 0 removes its schedule."""

from __future__ import annotations

import logging
from datetime import timedelta
from typing import Any

from temporalio.client import (
    Client,
    Schedule,
    ScheduleActionStartWorkflow,
    ScheduleAlreadyRunningError,
    ScheduleIntervalSpec,
    ScheduleSpec,
    ScheduleUpdate,
    ScheduleUpdateInput,
)
from temporalio.service import RPCError, RPCStatusCode

from config import Settings
from workflows.github_reconcile import (
    DRIFT_SCHEDULE_ID,
    REDELIVERY_SCHEDULE_ID,
    DriftWorkflow,
    RedeliveryWorkflow,
)
from workflows.github_reconcile_io import DriftInput, RedeliverInput

log = logging.getLogger("previewd.github.schedules")


async def ensure_github_schedules(client: Client, settings: Settings) -> None:
    queue = settings.temporal_task_queue
    await _ensure(client, REDELIVERY_SCHEDULE_ID, settings.previewd_redelivery_interval_minutes,
                  RedeliveryWorkflow.run, RedeliverInput(), queue)  # fmt: skip
    await _ensure(client, DRIFT_SCHEDULE_ID, settings.previewd_drift_interval_minutes,
                  DriftWorkflow.run, DriftInput(), queue)  # fmt: skip


async def _ensure(
    client: Client, schedule_id: str, minutes: int, run: Any, argument: Any, queue: str
) -> None:
    handle = client.get_schedule_handle(schedule_id)
    if minutes == 0:
        try:
            await handle.delete()
            log.info("removed schedule %s (its interval is 0)", schedule_id)
        except RPCError as error:
            if error.status != RPCStatusCode.NOT_FOUND:
                raise
        return
    every = timedelta(minutes=minutes)
    schedule = Schedule(
        action=ScheduleActionStartWorkflow(run, argument, id=schedule_id, task_queue=queue),
        spec=ScheduleSpec(intervals=[ScheduleIntervalSpec(every=every)]),
    )
    try:
        await client.create_schedule(schedule_id, schedule)
        log.info("created schedule %s (every %s)", schedule_id, every)
    except ScheduleAlreadyRunningError:

        def replace(_: ScheduleUpdateInput) -> ScheduleUpdate:
            return ScheduleUpdate(schedule=schedule)

        # The interval or task queue may have changed since it was made.
        await handle.update(replace)
