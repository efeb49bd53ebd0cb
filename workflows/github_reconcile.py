"""The two periodic GitHub reconciles, each run by a Temporal schedule (activities/github/schedules.py):

- RedeliveryWorkflow: GitHub never retries a webhook delivery that failed; this finds the App's
  failed deliveries and asks GitHub to send them again.
- DriftWorkflow: compares each active project's open PRs on GitHub with what previewd received, and
  queues the pushes and closes that never arrived. One activity per project, so one project whose
  repository GitHub refuses to list fails alone.
"""

from __future__ import annotations

import asyncio
from datetime import timedelta

from temporalio import workflow
from temporalio.common import RetryPolicy

with workflow.unsafe.imports_passed_through():
    from activities.github.drift import DriftActivities
    from activities.github.redelivery import RedeliveryActivities
    from workflows.github_reconcile_io import (
        DriftInput,
        DriftResult,
        RedeliverInput,
        RedeliverResult,
    )

REDELIVERY_SCHEDULE_ID = "previewd-github-redelivery"
DRIFT_SCHEDULE_ID = "previewd-github-drift"
# A few tries within the run; the next scheduled run tries again anyway.
RETRY = RetryPolicy(maximum_attempts=3, initial_interval=timedelta(seconds=2))


@workflow.defn(name="GitHubRedeliveryWorkflow")
class RedeliveryWorkflow:
    @workflow.run
    async def run(self, input: RedeliverInput) -> RedeliverResult:
        return await workflow.execute_activity_method(
            RedeliveryActivities.redeliver_failed,
            input,
            start_to_close_timeout=timedelta(minutes=5),
            heartbeat_timeout=timedelta(minutes=1),
            retry_policy=RETRY,
        )


@workflow.defn(name="GitHubDriftWorkflow")
class DriftWorkflow:
    @workflow.run
    async def run(self, input: DriftInput) -> list[DriftResult]:
        projects = await workflow.execute_activity_method(
            DriftActivities.drift_projects,
            start_to_close_timeout=timedelta(minutes=1),
            retry_policy=RETRY,
        )
        wanted = [p for p in projects.project_ids if not input.project_id or p == input.project_id]
        runs = [
            workflow.execute_activity_method(
                DriftActivities.drift,
                DriftInput(project_id=project_id),
                start_to_close_timeout=timedelta(minutes=5),
                retry_policy=RETRY,
            )
            for project_id in wanted
        ]
        results = await asyncio.gather(*runs, return_exceptions=True)
        return [r for r in results if isinstance(r, DriftResult)]
