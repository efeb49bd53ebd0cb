"""DatabaseReconcileWorkflow: run by a Temporal schedule. Preview databases whose PR has no running
workflow are dropped (`previewd db gc` does the same by hand, dry-run first), and a preview whose
database grew over its cap is stopped: its workflow is told to destroy it, naming why, which the PR's
comment then says."""

from __future__ import annotations

from datetime import timedelta

from temporalio import workflow
from temporalio.common import RetryPolicy
from temporalio.exceptions import ApplicationError

with workflow.unsafe.imports_passed_through():
    from activities.preview_db.protocol import PreviewDatabases
    from workflows.preview_db_io import DatabaseGcInput, DatabaseGcResult
    from workflows.signals import ManualSignal, SignalName, workflow_id_for

SCHEDULE_ID = "previewd-database-reconcile"
EVERY = timedelta(minutes=10)
RETRY = RetryPolicy(maximum_attempts=3)


@workflow.defn(name="DatabaseReconcileWorkflow")
class DatabaseReconcileWorkflow:
    @workflow.run
    async def run(self, input: DatabaseGcInput) -> DatabaseGcResult:
        result = await workflow.execute_activity_method(
            PreviewDatabases.gc,
            input,
            start_to_close_timeout=timedelta(minutes=10),
            retry_policy=RETRY,
        )
        sizes = await workflow.execute_activity_method(
            PreviewDatabases.sizes, start_to_close_timeout=timedelta(minutes=5), retry_policy=RETRY
        )
        for over in sizes.over:
            why = f"previewd: its database holds {over.size_mb} MB, over the project's {over.limit_mb} MB cap"
            handle = workflow.get_external_workflow_handle(workflow_id_for(over.project_id, over.pr_number))
            try:
                await handle.signal(
                    SignalName.DESTROY, ManualSignal(requested_by=why, request_id=str(workflow.uuid4()))
                )
            except ApplicationError as error:  # the PR's workflow ended meanwhile: gc drops it next
                workflow.logger.info("could not stop PR #%s: %s", over.pr_number, error)
        return result
