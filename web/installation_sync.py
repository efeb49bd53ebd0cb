"""Applying an installation change to Postgres, in the transaction that records its delivery.

Switching projects off and queueing the teardown of their previews happen together or not at all; a
redelivery finds the delivery recorded and changes nothing. The teardowns go through the outbox like
any PR event, as `close_if_running` (outbox.enqueue): the dispatcher signals only workflows that exist.
"""

from __future__ import annotations

from typing import Any

from psycopg import AsyncConnection

from models.deliveries import DeliveryOutcome
from outbox.enqueue import lock_repositories, queue_teardowns
from web.installation_events import REPO_REMOVED, SUSPENDED, UNINSTALLED, InstallationChange

RECORD = """
INSERT INTO webhook_deliveries (delivery_id, event, action, received_at, outcome, attempts)
VALUES (%(delivery_id)s, %(event)s, %(action)s, now(), %(applied)s, 0)
ON CONFLICT (delivery_id) DO NOTHING
RETURNING id
"""

UPSERT_INSTALLATION = """
INSERT INTO installations
    (id, account_login, account_type, repository_selection, suspended_at, deleted_at, created_at, updated_at)
VALUES (%(id)s, %(login)s, %(type)s, %(selection)s,
        CASE WHEN %(state)s = 'suspended' THEN now() END,
        CASE WHEN %(state)s = 'deleted' THEN now() END, now(), now())
ON CONFLICT (id) DO UPDATE SET
    account_login = EXCLUDED.account_login,
    account_type = EXCLUDED.account_type,
    repository_selection = EXCLUDED.repository_selection,
    suspended_at = CASE
        WHEN %(state)s = 'suspended' THEN coalesce(installations.suspended_at, now())
        WHEN %(state)s IN ('unsuspended', 'present') THEN NULL
        ELSE installations.suspended_at END,
    deleted_at = CASE
        WHEN %(state)s = 'deleted' THEN coalesce(installations.deleted_at, now())
        WHEN %(state)s = 'present' THEN NULL
        ELSE installations.deleted_at END,
    updated_at = now()
"""

# Projects of the installation (only the removed repositories' ones, for a removal) go inactive. One a
# person already switched off keeps their reason; its previews are torn down all the same, since the
# App can no longer reach the repository.
AFFECTED_PROJECTS = """
SELECT id, github_repo_id FROM projects
WHERE github_installation_id = %(id)s AND (%(all)s OR github_repo_id = ANY(%(repos)s))
ORDER BY github_repo_id
"""
DEACTIVATE = """
UPDATE projects SET is_active = false, disabled_reason = %(reason)s, updated_at = now()
WHERE id = ANY(%(projects)s) AND is_active
"""

# A repository (back) in an installation: projects switched off because the App lost it come back, on
# this installation (a reinstall has a new id); projects not yet tied to an installation are tied to it.
REACTIVATE_REPOS = """
UPDATE projects SET is_active = true, disabled_reason = NULL, github_installation_id = %(id)s,
                    updated_at = now()
WHERE github_repo_id = ANY(%(repos)s) AND disabled_reason = ANY(%(reasons)s)
"""
LINK_REPOS = """
UPDATE projects SET github_installation_id = %(id)s, updated_at = now()
WHERE github_repo_id = ANY(%(repos)s) AND github_installation_id IS NULL
"""
UNSUSPEND = """
UPDATE projects SET is_active = true, disabled_reason = NULL, updated_at = now()
WHERE github_installation_id = %(id)s AND disabled_reason = %(suspended)s
"""


async def apply_installation_change(
    connection: AsyncConnection[Any], *, delivery_id: str, event: str, action: str | None,
    change: InstallationChange,
) -> str | None:  # fmt: skip
    """Returns the delivery's outcome, or None for a delivery already recorded."""
    recorded = await (
        await connection.execute(
            RECORD,
            {
                "delivery_id": delivery_id,
                "event": event,
                "action": action,
                "applied": DeliveryOutcome.APPLIED.value,
            },
        )  # fmt: skip
    ).fetchone()
    if recorded is None:
        return None
    installation = {"id": change.installation_id}
    await connection.execute(
        UPSERT_INSTALLATION,
        {**installation, "login": change.account_login, "type": change.account_type,
         "selection": change.repository_selection, "state": change.state},
    )  # fmt: skip
    if reason := change.deactivates:
        whole = change.state in ("deleted", "suspended")
        rows = await (
            await connection.execute(
                AFFECTED_PROJECTS, {**installation, "all": whole, "repos": change.repos_removed}
            )
        ).fetchall()
        projects = [row[0] for row in rows]
        # Waits for those repositories' deliveries in flight, so no push recorded for a project that
        # is being switched off can follow its teardown.
        await lock_repositories(connection, (row[1] for row in rows))
        await connection.execute(DEACTIVATE, {"projects": projects, "reason": reason})
        await queue_teardowns(
            connection, delivery_id=delivery_id, event=event, action=action, projects=projects, reason=reason
        )
    if change.repos_added:
        repos = {**installation, "repos": change.repos_added}
        await connection.execute(REACTIVATE_REPOS, {**repos, "reasons": [UNINSTALLED, REPO_REMOVED]})
        await connection.execute(LINK_REPOS, repos)
    if change.state == "unsuspended":
        await connection.execute(UNSUSPEND, {**installation, "suspended": SUSPENDED})
    return DeliveryOutcome.APPLIED.value
