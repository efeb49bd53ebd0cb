"""The drift reconcile: GitHub's open PRs of a project against what previewd received.

Webhooks get lost (the web app was down, the App's webhook was switched off, a delivery failed and
was never redelivered). Per active GitHub App project this lists the repository's open PRs
(`GET /repos/{o}/{r}/pulls?state=open`, every page; conditional, so an unchanged list costs a 304
and no rate limit) and queues through the outbox what a webhook would have queued:

- a push for an open PR with no push received (opened since the project was connected: older ones
  are the dashboard's one-click deploy's), whose head differs from the last push received, whose
  last received event was a close (it was reopened), or whose workflow no longer runs although its
  push was received and no close (terminated by an operator, failed): a PR's run ends only at a close;
- a close for a PR whose last received event was a push but GitHub says is closed (asked one by one,
  `GET /repos/{o}/{r}/pulls/{n}`: few, since a close ends it).

An unchanged head is never pushed again, so a preview someone destroyed (or that expired) stays
gone. Delivery ids are deterministic (`drift:{project}:{pr}:...:{last row}`), so two reconciles at
once queue one row, and a webhook recorded after the reconcile read the outbox wins over it. Every
action is an AuditEvent in the project's activity.
"""

from __future__ import annotations

import logging
import re
from dataclasses import asdict
from datetime import datetime
from typing import Any

import psycopg
from psycopg.types.json import Jsonb
from sqlmodel import col, select
from temporalio import activity
from temporalio.client import Client

from activities.context import WorkerContext
from activities.github.app_auth import GitHubApp
from activities.github.client import GitHubApiError
from activities.github.errors import as_activity_error
from models import Project
from outbox.enqueue import enqueue_if_unchanged
from outbox.intents import Intent
from outbox.pull_requests import NotACommit, pull_request_push
from outbox.received import WATCHED, Received, received_per_pr
from runtime.temporal_client import workflow_running
from workflows.github_reconcile_io import (
    DRIFT_ACTIVITY,
    DRIFT_PROJECTS_ACTIVITY,
    DriftInput,
    DriftProjects,
    DriftResult,
)
from workflows.signals import CloseSignal, workflow_id_for

log = logging.getLogger("previewd.github.drift")

SHA = re.compile(r"[0-9a-f]{40}")
PER_PAGE = 100
MAX_PAGES = 30
ACTOR = "drift"
AUDIT = """
INSERT INTO audit_events (project_id, actor, action, pr_number, outcome, detail, created_at)
VALUES (%s, %s, %s, %s, 'ok', %s, now())
"""


def opened_before(pull: dict[str, Any], project: Project) -> bool:
    """Whether GitHub says the PR was opened before the project was connected (whole seconds)."""
    try:
        created = datetime.fromisoformat(str(pull.get("created_at")).replace("Z", "+00:00"))
    except ValueError:
        return False
    return created < project.created_at.replace(microsecond=0)


class DriftActivities:
    def __init__(self, ctx: WorkerContext, app: GitHubApp | None, temporal: Client) -> None:
        self.ctx = ctx
        self.app = app
        self.temporal = temporal

    @activity.defn(name=DRIFT_PROJECTS_ACTIVITY)
    async def drift_projects(self) -> DriftProjects:
        """The active projects of a GitHub App installation (none without an App)."""
        if self.app is None:
            return DriftProjects()
        async with self.ctx.db.session() as session:
            ids = await session.exec(
                select(Project.id).where(
                    col(Project.is_active), col(Project.github_installation_id).is_not(None)
                )
            )
            return DriftProjects(project_ids=sorted(str(i) for i in ids.all()))

    @activity.defn(name=DRIFT_ACTIVITY)
    async def drift(self, input: DriftInput) -> DriftResult:
        project = await self.ctx.project(input.project_id)
        result = DriftResult(project_id=input.project_id)
        if self.app is None or project.github_installation_id is None or not project.is_active:
            return result
        try:
            token = await self.app.installation_token(project.github_installation_id)
            repo = project.github_repo_full_name
            pulls, result.not_modified = await self._open_pulls(self.app, token, repo)
            async with self.ctx.db.session() as session:
                received = await received_per_pr(session, project.id)
            result.open_on_github = len(pulls)
            for pull in pulls:
                if line := await self._push_if_missing(project, pull, received.get(str(pull["number"]))):
                    result.actions.append(line)
            open_numbers = {str(p["number"]) for p in pulls}
            for number, seen in sorted(received.items()):
                if seen.open and number not in open_numbers:
                    if line := await self._close_if_closed(self.app, token, project, seen):
                        result.actions.append(line)
        except GitHubApiError as error:
            raise as_activity_error(error) from None
        log.info(
            "drift: %s: %d open on GitHub%s, %d action(s)%s",
            project.github_repo_full_name, result.open_on_github,
            " (unchanged: 304)" if result.not_modified else "", len(result.actions),
            "".join(f"; {a}" for a in result.actions),
        )  # fmt: skip
        return result

    async def _open_pulls(self, app: GitHubApp, token: str, repo: str) -> tuple[list[dict[str, Any]], bool]:
        """Every open PR, and whether every page was a 304 (nothing changed since the last look)."""
        pulls: list[dict[str, Any]] = []
        unchanged = True
        url: str | None = f"/repos/{repo}/pulls"
        params: dict[str, Any] | None = {"state": "open", "per_page": PER_PAGE}
        for _ in range(MAX_PAGES):
            if url is None:
                break
            answer = await app.api.answer("GET", url, token=token, params=params)
            activity.heartbeat()
            pulls += answer.body or []
            unchanged = unchanged and answer.not_modified
            url, params = answer.next_url(), None
        return pulls, unchanged

    async def _push_if_missing(
        self, project: Project, pull: dict[str, Any], seen: Received | None
    ) -> str | None:
        number, sha = int(pull["number"]), str(pull["head"]["sha"])
        updated_at = str(pull.get("updated_at") or "")[:40]
        if not SHA.fullmatch(sha):
            log.warning("drift: PR #%s's head is not a commit sha; left alone", number)
            return None
        if seen is None or seen.push_id is None:
            if opened_before(pull, project):
                # Left to the dashboard's one-click deploy, as before drift: connecting a repository
                # does not build every PR it has open.
                return None
            why = "had no preview"
        elif not seen.open:
            why = "was closed and is open again"
        elif seen.sha != sha:
            if updated_at and seen.updated_at and updated_at < seen.updated_at:
                return None  # GitHub's listing is older than the push we received: it will catch up
            why = f"moved on from {(seen.sha or '')[:7]}"
        elif seen.queued or not await self._workflow_ended(project, number):
            return None
        else:
            why = "had no running workflow"
        after = seen.last_id if seen else 0
        delivery_id = f"drift:{project.id}:{number}:{sha[:12]}:{after}"
        try:
            push = pull_request_push(pull, project.github_repo_id, delivery_id)
        except NotACommit:
            return None
        message = f"drift: PR #{number} at {sha[:7]} {why}; queued a push"
        queued = await self._queue(project, number, Intent.PUSH, asdict(push), after, message, sha)
        return message if queued else None

    async def _workflow_ended(self, project: Project, number: int) -> bool:
        """Whether the PR's workflow has ended (or never ran); False when Temporal cannot say."""
        return await workflow_running(self.temporal, workflow_id_for(str(project.id), number)) is False

    async def _close_if_closed(
        self, app: GitHubApp, token: str, project: Project, seen: Received
    ) -> str | None:
        try:
            pull = await app.api.request(
                "GET", f"/repos/{project.github_repo_full_name}/pulls/{seen.pr_number}", token=token
            )
        except GitHubApiError as error:
            if error.status == 404:
                return None  # not GitHub's to say any more (the repository left the installation?)
            raise
        if pull.get("state") != "closed":
            return None  # opened since the listing: the next reconcile looks again
        delivery_id = f"drift:{project.id}:{seen.pr_number}:close:{seen.last_id}"
        close = CloseSignal(delivery_id=delivery_id, merged=bool(pull.get("merged")))
        message = f"drift: PR #{seen.pr_number} was closed on GitHub while its preview ran; queued a close"
        queued = await self._queue(
            project, seen.pr_number, Intent.CLOSE, asdict(close), seen.last_id, message, seen.sha or ""
        )
        return message if queued else None

    async def _queue(
        self, project: Project, number: int, intent: Intent, args: dict[str, Any], after: int,
        message: str, sha: str,
    ) -> bool:  # fmt: skip
        """The outbox row and its AuditEvent, in one transaction."""
        async with await psycopg.AsyncConnection.connect(self.ctx.db.url) as connection:
            queued = await enqueue_if_unchanged(
                connection, delivery_id=args["delivery_id"], event="drift", action=intent.value,
                project=project, pr_number=number, intent=intent, args=args, after=after, watched=WATCHED,
            )  # fmt: skip
            if queued:
                detail = {"message": message, "sha": sha, "delivery_id": args["delivery_id"]}
                await connection.execute(
                    AUDIT, (project.id, ACTOR, f"drift {intent.value}", number, Jsonb(detail))
                )
            await connection.commit()
        return queued
