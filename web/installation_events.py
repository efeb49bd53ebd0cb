"""What an `installation` or `installation_repositories` delivery changes. Pure, like github_events."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any

from web.github_events import MalformedPayload

INSTALLATION_EVENTS = frozenset({"installation", "installation_repositories"})

# Why a project went inactive without anyone switching it off; the event that undoes the cause
# switches it back on.
SUSPENDED = "installation suspended"
UNINSTALLED = "installation deleted"
REPO_REMOVED = "repository removed from the installation"


@dataclass(frozen=True)
class InstallationChange:
    installation_id: int
    account_login: str
    account_type: str
    repository_selection: str
    # What happened to the installation itself: "present" (created, still there), "deleted",
    # "suspended", "unsuspended"; None for a change of its repositories only.
    state: str | None
    repos_added: list[int] = field(default_factory=list)
    repos_removed: list[int] = field(default_factory=list)

    @property
    def deactivates(self) -> str | None:
        """The reason this change switches projects off with, if it does."""
        if self.state == "deleted":
            return UNINSTALLED
        if self.state == "suspended":
            return SUSPENDED
        return REPO_REMOVED if self.repos_removed else None


INSTALLATION_STATES = {"created": "present", "new_permissions_accepted": "present", "deleted": "deleted",
                       "suspend": "suspended", "unsuspend": "unsuspended"}  # fmt: skip


def installation_change(event: str, action: str | None, payload: dict[str, Any]) -> InstallationChange | None:
    """None for actions that change nothing we keep."""
    if event == "installation" and action not in INSTALLATION_STATES:
        return None
    if event == "installation_repositories" and action not in ("added", "removed"):
        return None
    try:
        installation = payload["installation"]
        account = installation.get("account") or {}
        change = InstallationChange(
            installation_id=int(installation["id"]),
            account_login=str(account.get("login") or "")[:100],
            account_type=str(account.get("type") or installation.get("target_type") or "User")[:20],
            repository_selection=str(
                payload.get("repository_selection") or installation.get("repository_selection") or "selected"
            )[:20],
            state=INSTALLATION_STATES[action] if event == "installation" and action else None,
            repos_added=_repo_ids(
                payload, "repositories" if event == "installation" else "repositories_added"
            ),
            repos_removed=_repo_ids(payload, "repositories_removed") if event != "installation" else [],
        )
    except (KeyError, TypeError, ValueError, AttributeError) as error:
        raise MalformedPayload(f"{event} payload is missing {error}") from None
    if change.state in ("deleted", "suspended"):
        # The repositories listed with a deletion are the ones it takes away, not ones it brings.
        return replace(change, repos_added=[])
    return change


def _repo_ids(payload: dict[str, Any], key: str) -> list[int]:
    return [int(repo["id"]) for repo in payload.get(key) or []]
