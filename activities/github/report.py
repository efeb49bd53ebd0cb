"""The `github.report` activity: tell the PR where its preview is — the sticky comment, a GitHub
Deployment per previewd deployment with its statuses, and a `previewd` commit status for branch
protection — and bring every deployment that ended since the last report to its final state on GitHub
(activities/github/deployments.py), whatever this report's own phase."""

from __future__ import annotations

import hashlib
from collections import OrderedDict
from typing import Any

from temporalio import activity

from activities.context import WorkerContext
from activities.github.app_auth import GitHubApp
from activities.github.client import GitHubApiError
from activities.github.deployments import SKIPPED_DESCRIPTION, PostedCommitStates, PullDeployments
from activities.github.errors import as_activity_error
from activities.github.pr_comment import MARKER, comment_body
from workflows.activity_io import GITHUB_REPORT, ReportInput
from workflows.vocabulary import ReportPhase

DEPLOYMENT_STATE: dict[str, str] = {
    ReportPhase.QUEUED: "queued",
    ReportPhase.BUILDING: "in_progress",
    ReportPhase.DEPLOYING: "in_progress",
    ReportPhase.READY: "success",
    ReportPhase.FAILED: "failure",
    ReportPhase.DESTROYED: "inactive",
    # The sha was not built: its GitHub deployment is not live (the live one stays as it is).
    ReportPhase.SKIPPED: "inactive",
}
COMMIT_STATE: dict[str, str] = {
    ReportPhase.QUEUED: "pending",
    ReportPhase.BUILDING: "pending",
    ReportPhase.DEPLOYING: "pending",
    ReportPhase.READY: "success",
    ReportPhase.FAILED: "failure",
    # Branch protection that requires a working preview also waits for the maintainer's approval.
    ReportPhase.AWAITING_APPROVAL: "pending",
    # Nothing the preview depends on changed: a check that requires a preview passes.
    ReportPhase.SKIPPED: "success",
}
COMMIT_DESCRIPTION: dict[str, str] = {
    ReportPhase.SKIPPED: SKIPPED_DESCRIPTION,
    ReportPhase.AWAITING_APPROVAL: "Waiting for a maintainer's approval (/preview approve)",
}
COMMENTS_PER_PAGE = 100
COMMENT_IDS_KEPT = 5000


class GitHubReportActivities:
    def __init__(self, ctx: WorkerContext, app: GitHubApp | None) -> None:
        self.ctx = ctx
        self.app = app
        # (repository, PR) -> sticky comment id and a digest of the body this worker last wrote, so an
        # edit needs no search and an unchanged body no write. Lost on restart (the marker finds the
        # comment again). One PR's reports are sent one at a time, so another worker's edit in between
        # is only ever a retry of an older report, which the next report's body overwrites.
        self.comments: OrderedDict[tuple[str, int], tuple[int, str]] = OrderedDict()
        self.commit_states = PostedCommitStates()

    @activity.defn(name=GITHUB_REPORT)
    async def report(self, report: ReportInput) -> None:
        project = await self.ctx.project(report.project_id)
        if self.app is None or project.github_installation_id is None:
            return  # not a GitHub App installation's repository: nobody to tell
        try:
            token = await self.app.installation_token(project.github_installation_id)
            await Reporter(
                self.app, token, project.github_repo_full_name, self.ctx.settings.previewd_base_url,
                self.comments, self.commit_states,
            ).send(report)  # fmt: skip
        except GitHubApiError as error:
            raise as_activity_error(error) from None


class Reporter:
    def __init__(
        self, app: GitHubApp, token: str, repo: str, base_url: str,
        comments: OrderedDict[tuple[str, int], tuple[int, str]],
        commit_states: PostedCommitStates | None = None,
    ) -> None:  # fmt: skip
        self.app, self.token, self.repo, self.base_url = app, token, repo, base_url
        self.comments = comments
        self.commit_states = commit_states or PostedCommitStates()

    async def call(self, method: str, path: str, json: Any = None) -> Any:
        return await self.app.api.request(method, f"/repos/{self.repo}{path}", token=self.token, json=json)

    def logs_url(self, deployment_id: str) -> str | None:
        return f"{self.base_url}/deployments/{deployment_id}" if deployment_id else None

    async def send(self, report: ReportInput) -> None:
        """Settlements of other deployments first (an older attempt at the same sha must not have the
        last word on its commit status), then this report, then the settlement of its own deployment
        (it ended after this report's phase)."""
        deployments = PullDeployments(self.call, self.repo, report.pr_number, self.commit_states)
        settled = report.settled or []
        own = [s for s in settled if report.deployment_id and s.deployment_id == report.deployment_id]
        for other in settled:
            if other not in own:
                await deployments.settle(other, self.logs_url(other.deployment_id))
        if not report.settle_only:
            await self.tell(report, deployments, ended=bool(own))
        for mine in own:
            await deployments.settle(mine, self.logs_url(mine.deployment_id))

    async def tell(self, report: ReportInput, deployments: PullDeployments, *, ended: bool) -> None:
        """`ended`: this report's deployment has its settlement in the same report, which says how it
        ended on GitHub; this one then only updates the comment."""
        logs_url = self.logs_url(report.deployment_id)
        # A newer push or a close overtook this sha: the comment does not announce it (its deployment
        # and commit status still say it is live: it is, until the newer sha replaces it).
        if report.phase != ReportPhase.READY or await self.still_newest(report):
            await self.sticky_comment(comment_body(report, logs_url), report.pr_number)
        if report.comment_only or not report.sha or ended:
            return
        if logs_url is not None and report.phase is not None and report.phase in DEPLOYMENT_STATE:
            if not await self.deployment_status(report, report.phase, logs_url, deployments):
                return  # its deployment has ended: a late retry of an older report changes nothing
        if report.phase in COMMIT_STATE:
            description = COMMIT_DESCRIPTION.get(report.phase, f"Preview {report.phase}")
            await deployments.commit_status(
                report.sha, report.deployment_id, COMMIT_STATE[report.phase], description, logs_url
            )

    async def still_newest(self, report: ReportInput) -> bool:
        pull = await self.call("GET", f"/pulls/{report.pr_number}")
        return bool(pull.get("state") == "open" and (pull.get("head") or {}).get("sha") == report.sha)

    async def sticky_comment(self, body: str, pr_number: int) -> None:
        key = (self.repo, pr_number)
        digest = hashlib.sha256(body.encode()).hexdigest()
        if (known := self.comments.get(key)) is not None:
            comment_id, written = known
            if written == digest:
                return  # a retry, or a report that changes nothing on the comment: no write spent
            try:
                await self.call("PATCH", f"/issues/comments/{comment_id}", {"body": body})
                self._remember(key, comment_id, digest)
                return
            except GitHubApiError as error:
                if error.status != 404:
                    raise
                del self.comments[key]  # someone deleted it: find it by the marker, or post anew
        self._remember(key, await self._find_or_post(body, pr_number), digest)

    def _remember(self, key: tuple[str, int], comment_id: int, digest: str) -> None:
        self.comments[key] = (comment_id, digest)
        self.comments.move_to_end(key)
        while len(self.comments) > COMMENT_IDS_KEPT:
            self.comments.popitem(last=False)

    async def _find_or_post(self, body: str, pr_number: int) -> int:
        page = 1
        while True:
            comments = await self.call(
                "GET", f"/issues/{pr_number}/comments?per_page={COMMENTS_PER_PAGE}&page={page}"
            )
            for comment in comments:
                if MARKER in str(comment.get("body", "")):
                    if comment.get("body") != body:
                        await self.call("PATCH", f"/issues/comments/{comment['id']}", {"body": body})
                    return int(comment["id"])
            if len(comments) < COMMENTS_PER_PAGE:
                break
            page += 1
        created = await self.call("POST", f"/issues/{pr_number}/comments", {"body": body})
        return int(created["id"])

    async def deployment_status(
        self, report: ReportInput, phase: ReportPhase, logs_url: str, deployments: PullDeployments
    ) -> bool:
        """False when the deployment had already ended on GitHub (nothing was posted)."""
        if phase == ReportPhase.DESTROYED:
            github_id = await deployments.find(report.sha, report.deployment_id)
            if github_id is None:
                return True  # nothing was ever created for it: nothing to close
        else:
            github_id = await deployments.find_or_create(report.sha, report.deployment_id)
        status: dict[str, Any] = {"log_url": logs_url}
        if report.phase == ReportPhase.READY and report.url:
            status["environment_url"] = report.url
        return await deployments.advance(github_id, DEPLOYMENT_STATE[phase], status)
