"""GitHub Deployments and `previewd` commit statuses for one PR: one GitHub Deployment per previewd
deployment (an attempt at a sha), and how each is brought to a final state once it has ended.

A GitHub Deployment is found again by the previewd deployment id in its `payload`, not by its sha
alone: a sha deployed twice (a redeploy, a push back to it) gets a deployment per attempt, so a
deployment that reached a final state never has to leave it. That makes "never go back from final" a
safe rule, and it keeps a late retry of an older report from reopening what was settled.

The environment is transient (previews go away), so GitHub's `auto_inactive` never marks an older
deployment inactive for us (docs.github.com, "Create a deployment status": it applies to
non-transient, non-production environments): previewd says `inactive` itself.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Awaitable, Callable
from typing import Any

from activities.github.client import GitHubApiError
from workflows.activity_io import SettledDeployment
from workflows.vocabulary import Settlement

Call = Callable[..., Awaitable[Any]]

PAYLOAD_KEY = "previewd_deployment_id"
# Once a deployment has one of these it is over; nothing is posted after it.
TERMINAL_STATES = frozenset({"inactive", "failure", "error"})
IN_PROGRESS_STATES = frozenset({"queued", "pending", "in_progress"})
SHORT_SHA = 7
COMMIT_STATES_KEPT = 5000


SKIPPED_DESCRIPTION = "No watched path changed; the live preview stays"


def environment(pr_number: int) -> str:
    return f"pr-{pr_number}"


class PostedCommitStates:
    """(repository, sha, previewd deployment) -> the commit state this worker last posted for it.

    A deployment's phases mostly repeat one state (queued, building and deploying are all `pending`;
    a replaced or destroyed preview was `success` already): each repeat would spend a write of
    GitHub's content-creation budget (activities/github/content_budget.py), which is what a burst of
    PRs waits on. Per attempt, so a newer attempt at the same sha always posts; lost on restart, and
    then a state is merely posted again."""

    def __init__(self) -> None:
        self._posted: OrderedDict[tuple[str, str, str], str] = OrderedDict()

    def posted(self, key: tuple[str, str, str], state: str) -> bool:
        return self._posted.get(key) == state

    def remember(self, key: tuple[str, str, str], state: str) -> None:
        self._posted[key] = state
        self._posted.move_to_end(key)
        while len(self._posted) > COMMIT_STATES_KEPT:
            self._posted.popitem(last=False)


class PullDeployments:
    """The GitHub side of one PR's previewd deployments. `call(method, path, json)` is the repository-
    scoped GitHub call (activities/github/report.py)."""

    def __init__(self, call: Call, repo: str, pr_number: int, commit_states: PostedCommitStates) -> None:
        self.call = call
        self.repo = repo
        self.pr_number = pr_number
        self.commit_states = commit_states

    async def commit_status(
        self, sha: str, deployment_id: str, state: str, description: str, target_url: str | None
    ) -> None:
        """The sha's `previewd` commit status, unless this very state was posted for this attempt."""
        key = (self.repo, sha, deployment_id)
        if self.commit_states.posted(key, state):
            return
        status: dict[str, Any] = {"state": state, "context": "previewd", "description": description}
        if target_url:
            status["target_url"] = target_url
        try:
            await self.call("POST", f"/statuses/{sha}", status)
        except GitHubApiError as error:
            if error.status != 422:
                raise
            # "No commit found for SHA": a force-push took the commit away; nothing shows it any more.
        self.commit_states.remember(key, state)

    async def find(self, sha: str, deployment_id: str) -> int | None:
        found = await self.call("GET", f"/deployments?sha={sha}&environment={environment(self.pr_number)}")
        for deployment in found or []:
            payload = deployment.get("payload")
            if isinstance(payload, dict) and payload.get(PAYLOAD_KEY) == deployment_id:
                return int(deployment["id"])
        return None

    async def find_or_create(self, sha: str, deployment_id: str) -> int:
        if (found := await self.find(sha, deployment_id)) is not None:
            return found
        created = await self.call(
            "POST",
            "/deployments",
            {"ref": sha, "environment": environment(self.pr_number), "transient_environment": True,
             "production_environment": False, "auto_merge": False, "required_contexts": [],
             "payload": {PAYLOAD_KEY: deployment_id},
             "description": f"previewd preview of PR #{self.pr_number}"},
        )  # fmt: skip
        return int(created["id"])

    async def states(self, github_id: int) -> list[str]:
        """The deployment's statuses, newest first."""
        statuses = await self.call("GET", f"/deployments/{github_id}/statuses")
        return [str(status.get("state")) for status in statuses or []]

    async def post(self, github_id: int, state: str, extra: dict[str, Any] | None = None) -> None:
        await self.call("POST", f"/deployments/{github_id}/statuses", {"state": state, **(extra or {})})

    async def advance(self, github_id: int, state: str, extra: dict[str, Any]) -> bool:
        """Post `state` unless it is already the latest, or would take the deployment back (from a final
        state, or from success to in progress: a late retry of an older report). False when the
        deployment had already ended: nothing about it (its commit status neither) is worth saying."""
        states = await self.states(github_id)
        latest = states[0] if states else None
        if latest in TERMINAL_STATES:
            return latest == state  # this very report, retried after it got through
        if latest == state or (latest == "success" and state in IN_PROGRESS_STATES):
            return latest == state
        await self.post(github_id, state, extra)
        return True

    async def settle(self, settled: SettledDeployment, logs_url: str | None) -> None:
        """Bring GitHub to how `settled` ended: its deployment (if one was ever created) to a final
        state, its sha's commit status off `pending`. Idempotent: a retry or a second report finds the
        deployment final and only repeats the commit status, whose newest one is what GitHub shows."""
        extra = {"log_url": logs_url} if logs_url else {}
        github_id = await self.find(settled.sha, settled.deployment_id) if settled.deployment_id else None
        if github_id is not None:
            states = await self.states(github_id)
            if not states or states[0] not in TERMINAL_STATES:
                for state in _final_states(settled.outcome, states):
                    await self.post(github_id, state, extra)
        state, description = commit_status(settled)
        await self.commit_status(settled.sha, settled.deployment_id, state, description, logs_url)


def _final_states(outcome: Settlement, states: list[str]) -> list[str]:
    """What to post, in order, to a deployment whose statuses (newest first) are `states`."""
    was_live = "success" in states
    if outcome == Settlement.LIVE:
        return [] if states and states[0] == "success" else ["success"]
    if outcome in (Settlement.REPLACED, Settlement.DESTROYED):
        # It went live (its "ready" may have been collapsed into a newer phase): success, then inactive.
        return ["inactive"] if was_live else ["success", "inactive"]
    if outcome == Settlement.FAILED:
        return ["failure"]
    return ["inactive"]  # superseded before it went live, or skipped


def commit_status(settled: SettledDeployment) -> tuple[str, str]:
    """The `previewd` commit status (state, description) for a sha whose deployment ended so."""
    by = settled.by_sha[:SHORT_SHA] if settled.by_sha and settled.by_sha != settled.sha else ""
    if settled.outcome == Settlement.SUPERSEDED:
        return "error", f"superseded by {by}" if by else "cancelled before it went live"
    if settled.outcome == Settlement.FAILED:
        return "failure", "Preview failed"
    if settled.outcome == Settlement.REPLACED:
        return "success", f"Preview was live; replaced by {by}" if by else "Preview was live"
    if settled.outcome == Settlement.DESTROYED:
        return "success", "Preview was live; since torn down"
    if settled.outcome == Settlement.SKIPPED:
        return "success", SKIPPED_DESCRIPTION
    return "success", "Preview ready"
