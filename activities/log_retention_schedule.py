"""The daily Temporal schedule that runs LogRetentionWorkflow."""

from __future__ import annotations

from temporalio.client import Client

from activities.schedules import ensure_schedule
from workflows.log_retention import EVERY, SCHEDULE_ID, LogRetentionWorkflow
from workflows.log_retention_io import RetentionInput


async def ensure_retention_schedule(client: Client, task_queue: str) -> None:
    await ensure_schedule(
        client, SCHEDULE_ID, LogRetentionWorkflow.run, RetentionInput(), every=EVERY, task_queue=task_queue
    )
