"""The daily Temporal schedule that runs LogRetentionWorkflow, made by whichever worker starts first."""

from __future__ import annotations

import logging

from temporalio.client import (
    Client,
    Schedule,
    ScheduleActionStartWorkflow,
    ScheduleAlreadyRunningError,
    ScheduleIntervalSpec,
    ScheduleSpec,
)

from workflows.log_retention import EVERY, SCHEDULE_ID, LogRetentionWorkflow
from workflows.log_retention_io import RetentionInput

log = logging.getLogger("previewd.logs.schedule")


async def ensure_retention_schedule(client: Client, task_queue: str) -> None:
    try:
        await client.create_schedule(
            SCHEDULE_ID,
            Schedule(
                action=ScheduleActionStartWorkflow(
                    LogRetentionWorkflow.run, RetentionInput(), id=SCHEDULE_ID, task_queue=task_queue
                ),
                spec=ScheduleSpec(intervals=[ScheduleIntervalSpec(every=EVERY)]),
            ),
        )
        log.info("created schedule %s (every %s)", SCHEDULE_ID, EVERY)
    except ScheduleAlreadyRunningError:
        pass
