"""FlyReconcileWorkflow: run hourly by a Temporal schedule, destroys preview apps with no open PR."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import timedelta

from temporalio import workflow
from temporalio.common import RetryPolicy

SCHEDULE_ID = "previewd-fly-reconcile"
RECONCILE_ACTIVITY = "fly.reconcile"
EVERY = timedelta(hours=1)


@dataclass
class ReconcileInput:
    apply: bool = False


@dataclass
class Decision:
    app: str = ""
    action: str = ""  # keep | destroy (dry run) | destroyed | skip
    reason: str = ""


@dataclass
class ReconcileResult:
    decisions: list[Decision] = field(default_factory=list)


@workflow.defn(name="FlyReconcileWorkflow")
class FlyReconcileWorkflow:
    @workflow.run
    async def run(self, input: ReconcileInput) -> ReconcileResult:
        result: ReconcileResult = await workflow.execute_activity(
            RECONCILE_ACTIVITY,
            input,
            result_type=ReconcileResult,
            start_to_close_timeout=timedelta(minutes=30),
            retry_policy=RetryPolicy(maximum_attempts=3),
        )
        return result
