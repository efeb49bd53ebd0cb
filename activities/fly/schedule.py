"""The hourly Temporal schedule that runs FlyReconcileWorkflow."""

from __future__ import annotations

from temporalio.client import Client

from activities.schedules import ensure_schedule
from workflows.fly_reconcile import EVERY, SCHEDULE_ID, FlyReconcileWorkflow
from workflows.fly_reconcile_io import ReconcileInput


async def ensure_reconcile_schedule(client: Client, task_queue: str) -> None:
    await ensure_schedule(
        client, SCHEDULE_ID, FlyReconcileWorkflow.run, ReconcileInput(apply=True), every=EVERY,
        task_queue=task_queue,
    )  # fmt: skip
