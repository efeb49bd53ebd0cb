"""PRReporter: how PreviewWorkflow tells a PR where its preview stands.

The latest thing to tell is sent by a task of its own, so a GitHub outage never holds a preview back,
and a burst of phases collapses into the newest. What was told last lives in the workflow's state
(`PreviewState.last_report`): a notice added later (a refused command) keeps the comment's status rows,
also after a continue-as-new.

Collapsing must not lose how a deployment ended, or GitHub keeps showing it as deploying: every
deployment that ends (superseded, replaced, failed, destroyed, or live while a newer sha was wanted) is
also recorded in `PreviewState.unsettled` and rides along with every report until one gets through,
whatever that report's own phase. The activity finalizes them idempotently (workflows' view wins over
GitHub's latest status only where that status is not final yet).
"""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta

from temporalio import workflow
from temporalio.common import RetryPolicy
from temporalio.exceptions import ActivityError

with workflow.unsafe.imports_passed_through():
    from activities.github.report import GitHubReportActivities
    from workflows.activity_io import DeploymentRef, ErrorType, ReportInput, SettledDeployment
    from workflows.failures import describe_failure
    from workflows.signals import PreviewState
    from workflows.vocabulary import REPORT_FOR_PHASE, Phase, ReportPhase, Settlement

# Until GitHub answers (an outage only delays the PR's news); never for a refusal. The client already
# retries each transient answer a few times within the attempt, so what reaches this policy is an outage
# or a long rate limit: its Retry-After becomes the next delay (activities/github/errors.py), and the
# interval is capped low so that a PR is told within seconds of GitHub coming back, not minutes.
REPORT_RETRY = RetryPolicy(
    initial_interval=timedelta(seconds=1),
    maximum_interval=timedelta(seconds=15),
    non_retryable_error_types=[str(ErrorType.GITHUB_REJECTED)],
)
# A phase on the way (queued, building, deploying) waits this long for a newer one before it is sent:
# queued and building come milliseconds apart, deploying and ready often within a second or two. Each
# report spends several writes of GitHub's content budget (70 a minute per installation), which a
# burst of PRs otherwise exhausts before their closes can be told. A final phase goes at once.
IN_PROGRESS_BATCH = timedelta(seconds=2)
IN_PROGRESS = frozenset({ReportPhase.QUEUED, ReportPhase.BUILDING, ReportPhase.DEPLOYING})
# A bound on the settlements kept while GitHub refuses to answer for good; the oldest go first.
UNSETTLED_KEPT = 50


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

    def settle(self, ref: DeploymentRef, outcome: Settlement, *, by_sha: str = "") -> None:
        """`ref` has ended as `outcome`: GitHub is told with the next report, whatever else it says.
        A later outcome of the same deployment (live, then replaced) takes the earlier one's place."""
        settled = SettledDeployment(
            deployment_id=ref.deployment_id, sha=ref.commit_sha, outcome=outcome, by_sha=by_sha
        )
        kept = [s for s in self._state.unsettled if _key(s) != _key(settled)]
        self._state.unsettled = (kept + [settled])[-UNSETTLED_KEPT:]

    def hold_back(self, sha: str) -> None:
        """A fork's sha waits for approval (its commit status says so): when something else takes its
        place, that status is settled too."""
        self.release_held_back(by_sha=sha)
        self._state.held_back_sha = sha

    def release_held_back(self, *, by_sha: str) -> None:
        held, self._state.held_back_sha = self._state.held_back_sha, None
        if held and held != by_sha:
            ref = DeploymentRef(project_id=self._state.project_id, pr_number=self._state.pr_number,
                                commit_sha=held)  # fmt: skip
            self.settle(ref, Settlement.SUPERSEDED, by_sha=by_sha)

    async def run(self) -> None:
        """Send what there is to tell, one report at a time, for as long as the run lasts."""
        while True:
            await workflow.wait_condition(lambda: self._pending is not None or bool(self._state.unsettled))
            if self._on_the_way():
                try:
                    await workflow.wait_condition(lambda: not self._on_the_way(), timeout=IN_PROGRESS_BATCH)
                except TimeoutError:
                    pass  # nothing newer: send it as it is
            report, self._pending = self._pending, None
            settled = list(self._state.unsettled)
            if report is None:
                report = ReportInput(
                    project_id=self._state.project_id, pr_number=self._state.pr_number, settle_only=True
                )
            self._in_flight = True
            try:
                await workflow.execute_activity_method(
                    GitHubReportActivities.report,
                    replace(report, settled=settled or None),
                    start_to_close_timeout=timedelta(minutes=1),
                    retry_policy=REPORT_RETRY,
                )
            except ActivityError as failure:
                workflow.logger.warning("telling the PR failed: %s", describe_failure(failure))
            finally:
                self._in_flight = False
            # Sent, or refused by GitHub for good (retrying would not change its mind): not sent again.
            # One that ended differently meanwhile compares unequal and stays.
            self._state.unsettled = [s for s in self._state.unsettled if s not in settled]

    def _on_the_way(self) -> bool:
        pending = self._pending
        return pending is not None and pending.phase in IN_PROGRESS and not pending.comment_only

    async def all_sent(self) -> None:
        """Before the run ends or hands over: the PR has been told the last thing there was to tell,
        and GitHub knows how every deployment ended."""
        await workflow.wait_condition(
            lambda: self._pending is None and not self._in_flight and not self._state.unsettled
        )


def _key(settled: SettledDeployment) -> str:
    # A held-back fork sha has no deployment: its sha names it.
    return settled.deployment_id or f"sha:{settled.sha}"
