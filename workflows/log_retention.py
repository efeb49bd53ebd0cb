"""LogRetentionWorkflow: run daily by a Temporal schedule, deletes the logs of deployments that
finished more than their project's `log_retention_days` ago."""

from __future__ import annotations

from datetime import timedelta

from temporalio import workflow
from temporalio.common import RetryPolicy

with workflow.unsafe.imports_passed_through():
    from activities.log_retention import LogRetentionActivities
    from workflows.log_retention_io import RetentionInput, RetentionResult

SCHEDULE_ID = "previewd-log-retention"
EVERY = timedelta(days=1)


@workflow.defn(name="LogRetentionWorkflow")
class LogRetentionWorkflow:
    @workflow.run
    async def run(self, input: RetentionInput) -> RetentionResult:
        # Idempotent and resumable: a retry goes on with what is left (each deployment is marked once
        # its lines are gone), so a long first run after an upgrade is fine to cut short.
        return await workflow.execute_activity_method(
            LogRetentionActivities.delete_expired_logs,
            input,
            start_to_close_timeout=timedelta(hours=1),
            heartbeat_timeout=timedelta(minutes=2),
            retry_policy=RetryPolicy(maximum_attempts=5),
        )
