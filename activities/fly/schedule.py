"""The hourly Temporal schedule that runs FlyReconcileWorkflow, made by whichever worker starts first."""

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

from workflows.fly_reconcile import EVERY, SCHEDULE_ID, FlyReconcileWorkflow
from workflows.fly_reconcile_io import ReconcileInput

log = logging.getLogger("previewd.fly.schedule")


async def ensure_reconcile_schedule(client: Client, task_queue: str) -> None:
    try:
        await client.create_schedule(
            SCHEDULE_ID,
            Schedule(
                action=ScheduleActionStartWorkflow(
                    FlyReconcileWorkflow.run,
                    ReconcileInput(apply=True),
                    id=SCHEDULE_ID,
                    task_queue=task_queue,
                ),
                spec=ScheduleSpec(intervals=[ScheduleIntervalSpec(every=EVERY)]),
            ),
        )
        log.info("created schedule %s (every %s)", SCHEDULE_ID, EVERY)
    except ScheduleAlreadyRunningError:
        pass
