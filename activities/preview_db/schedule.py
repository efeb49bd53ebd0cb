"""The Temporal schedule that runs DatabaseReconcileWorkflow (orphans dropped, sizes checked)."""

from __future__ import annotations

from temporalio.client import Client

from activities.schedules import ensure_schedule
from workflows.database_reconcile import EVERY, SCHEDULE_ID, DatabaseReconcileWorkflow
from workflows.preview_db_io import DatabaseGcInput


async def ensure_database_schedule(client: Client, task_queue: str) -> None:
    await ensure_schedule(
        client, SCHEDULE_ID, DatabaseReconcileWorkflow.run, DatabaseGcInput(apply=True), every=EVERY,
        task_queue=task_queue,
    )  # fmt: skip
