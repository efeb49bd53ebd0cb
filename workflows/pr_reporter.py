"""PRReporter: how PreviewWorkflow tells a PR where its preview stands.

The latest thing to tell is sent by a task of its own, so a GitHub outage never holds a preview back,
and a burst of phases collapses into the newest. What was told last lives in the workflow's state
(`PreviewState.last_report`): a notice added later (a refused command) keeps the comment's status rows,
also after a continue-as-new.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta

from temporalio import workflow
from temporalio.common import RetryPolicy
from temporalio.exceptions import ActivityError

with workflow.unsafe.imports_passed_through():
    from activities.github.report import GitHubReportActivities
    from workflows.activity_io import DeploymentRef, ErrorType, ReportInput
    from workflows.failures import describe_failure
    from workflows.signals import PreviewState
    from workflows.vocabulary import REPORT_FOR_PHASE, Phase, ReportPhase

# Until GitHub answers (an outage only delays the PR's news); never for a refusal.
REPORT_RETRY = RetryPolicy(
    maximum_interval=timedelta(minutes=5), non_retryable_error_types=[str(ErrorType.GITHUB_REJECTED)]
)


class PRReporter:
    def __init__(self, state: PreviewState) -> None:
        self._state = state
        self._pending: ReportInput | None = None
        self._in_flight = False

    def tell(
        self, ref: DeploymentRef, phase: Phase | ReportPhase, *, url: str | None = None,
        error: str | None = None, log_tail: list[str] | None = None,
    ) -> None:  # fmt: skip
        self._pending = self._state.last_report = ReportInput(
            project_id=ref.project_id, pr_number=ref.pr_number, sha=ref.commit_sha,
            deployment_id=ref.deployment_id,
            phase=REPORT_FOR_PHASE[phase] if isinstance(phase, Phase) else phase, url=url, error=error,
            log_tail=log_tail,
        )  # fmt: skip

    def notify(self, notice: str) -> None:
        """Add a line to the sticky comment, keeping what it says about the preview."""
        pending = self._pending
        base = (
            pending
            or self._state.last_report
            or ReportInput(project_id=self._state.project_id, pr_number=self._state.pr_number)
        )
        self._pending = self._state.last_report = replace(
            base, notice=notice, comment_only=pending is None or pending.comment_only
        )

    async def run(self) -> None:
        """Send what there is to tell, one report at a time, for as long as the run lasts."""
        while True:
            await workflow.wait_condition(lambda: self._pending is not None)
            report, self._pending = self._pending, None
            if report is None:  # the condition above says otherwise; this only narrows the type
                continue
            self._in_flight = True
            try:
                await workflow.execute_activity_method(
                    GitHubReportActivities.report,
                    report,
                    start_to_close_timeout=timedelta(minutes=1),
                    retry_policy=REPORT_RETRY,
                )
            except ActivityError as failure:
                workflow.logger.warning("telling the PR failed: %s", describe_failure(failure))
            finally:
                self._in_flight = False

    async def all_sent(self) -> None:
        """Before the run ends or hands over: the PR has been told the last thing there was to tell."""
        await workflow.wait_condition(lambda: self._pending is None and not self._in_flight)
