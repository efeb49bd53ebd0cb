"""The `github.permission` activity: what GitHub says a person may do on the project's repository.

Asked before a `/preview` command from a PR comment is carried out: `author_association` says how
someone relates to the repository's owner (an organization MEMBER may have no access to this
repository at all), while the collaborator permission is what GitHub itself enforces on a push.
"""

from __future__ import annotations

from urllib.parse import quote

from temporalio import activity

from activities.context import WorkerContext
from activities.github.app_auth import GitHubApp
from activities.github.client import GitHubApiError
from activities.github.errors import as_activity_error
from workflows.activity_io import GITHUB_PERMISSION, PermissionInput

# GitHub's `permission` field: the legacy level, in which maintain reads as write and triage as read.
LEVELS = frozenset({"admin", "write", "read", "none"})


class GitHubPermissionActivities:
    def __init__(self, ctx: WorkerContext, app: GitHubApp | None) -> None:
        self.ctx = ctx
        self.app = app

    @activity.defn(name=GITHUB_PERMISSION)
    async def permission(self, input: PermissionInput) -> str:
        """ "admin", "write", "read" or "none"; "none" too when nothing can be asked (no App, no
        installation, a login GitHub does not know): a command nobody could vouch for is refused."""
        project = await self.ctx.project(input.project_id)
        if self.app is None or project.github_installation_id is None or not input.login:
            return "none"
        path = (
            f"/repos/{project.github_repo_full_name}/collaborators/{quote(input.login, safe='')}/permission"
        )
        try:
            token = await self.app.installation_token(project.github_installation_id)
            answer = await self.app.api.request("GET", path, token=token)
        except GitHubApiError as error:
            if error.status == 404:
                return "none"
            raise as_activity_error(error) from None
        level = str((answer or {}).get("permission") or "none")
        return level if level in LEVELS else "none"
