"""FlyReconcileWorkflow: run hourly by a Temporal schedule, destroys preview apps with no open PR."""

from __future__ import annotations

from datetime import timedelta

from temporalio import workflow
from temporalio.common import RetryPolicy

with workflow.unsafe.imports_passed_through():
    from activities.fly.reconcile import ReconcileActivities
    from workflows.fly_reconcile_io import ReconcileInput, ReconcileResult

SCHEDULE_ID = "previewd-fly-reconcile"
EVERY = timedelta(hours=1)


@workflow.defn(name="FlyReconcileWorkflow")
class FlyReconcileWorkflow:
    @workflow.run
    async def run(self, input: ReconcileInput) -> ReconcileResult:
        return await workflow.execute_activity_method(
            ReconcileActivities.reconcile,
            input,
            start_to_close_timeout=timedelta(minutes=30),
            retry_policy=RetryPolicy(maximum_attempts=3),
        )
