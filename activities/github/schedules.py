"""The Temporal schedules of the GitHub reconciles (workflows/github_reconcile.py), made or brought
in line with the settings by whichever worker starts; an interval of 0 removes its schedule."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from temporalio.client import Client

from activities.schedules import ensure_schedule, remove_schedule
from config import Settings
from workflows.github_reconcile import (
    DRIFT_SCHEDULE_ID,
    REDELIVERY_SCHEDULE_ID,
    DriftWorkflow,
    RedeliveryWorkflow,
)
from workflows.github_reconcile_io import DriftInput, RedeliverInput


async def ensure_github_schedules(client: Client, settings: Settings) -> None:
    queue = settings.temporal_task_queue
    await _ensure(client, REDELIVERY_SCHEDULE_ID, settings.previewd_redelivery_interval_minutes,
                  RedeliveryWorkflow.run, RedeliverInput(), queue)  # fmt: skip
    await _ensure(client, DRIFT_SCHEDULE_ID, settings.previewd_drift_interval_minutes,
                  DriftWorkflow.run, DriftInput(), queue)  # fmt: skip


async def _ensure(
    client: Client, schedule_id: str, minutes: int, run: Any, argument: Any, queue: str
) -> None:
    if minutes == 0:
        await remove_schedule(client, schedule_id)
        return
    await ensure_schedule(
        client, schedule_id, run, argument, every=timedelta(minutes=minutes), task_queue=queue
    )
