"""previewd's Temporal schedules (the Fly reconcile, log retention, the GitHub reconciles): made by
whichever worker starts first, and brought in line with what this worker was configured with."""

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

log = logging.getLogger("previewd.schedules")


async def ensure_schedule(
    client: Client, schedule_id: str, run: Any, argument: Any, *, every: timedelta, task_queue: str
) -> None:
    """Start `run(argument)` every `every` on `task_queue`, under `schedule_id` (the workflow id too)."""
    schedule = Schedule(
        action=ScheduleActionStartWorkflow(run, argument, id=schedule_id, task_queue=task_queue),
        spec=ScheduleSpec(intervals=[ScheduleIntervalSpec(every=every)]),
    )
    try:
        await client.create_schedule(schedule_id, schedule)
        log.info("created schedule %s (every %s)", schedule_id, every)
    except ScheduleAlreadyRunningError:

        def replace(_: ScheduleUpdateInput) -> ScheduleUpdate:
            return ScheduleUpdate(schedule=schedule)

        # The interval or task queue may have changed since it was made.
        await client.get_schedule_handle(schedule_id).update(replace)


async def remove_schedule(client: Client, schedule_id: str) -> None:
    try:
        await client.get_schedule_handle(schedule_id).delete()
        log.info("removed schedule %s (its interval is 0)", schedule_id)
    except RPCError as error:
        if error.status != RPCStatusCode.NOT_FOUND:
            raise
