"""What each person may do on a project: their role on its GitHub repository, and the one table of
what each action needs. API tokens add a scope, a ceiling on top of their user's role."""

from __future__ import annotations

from collections.abc import Mapping
from enum import IntEnum, StrEnum


class Role(IntEnum):
    """GitHub's repository roles, weakest first (triage counts as pull: it deploys nothing)."""

    NONE = 0
    PULL = 1
    PUSH = 2
    MAINTAIN = 3
    ADMIN = 4


class Action(StrEnum):
    VIEW = "view"
    DEPLOY = "deploy"
    REDEPLOY = "redeploy"
    DESTROY = "destroy"
    APPROVE = "approve"
    # A preview's lifetime: pin it (`keep`), unpin it, push its expiry out.
    KEEP = "keep"
    UNPIN = "unpin"
    EXTEND = "extend"
    # The PR's own database dropped and made afresh (issue 16), then redeployed.
    RESET_DB = "reset-db"
    # The operator's database a PR's database is copied from: whose data the previews hold.
    DATABASE_TEMPLATE = "database template"
    SETTINGS = "settings"
    SECRETS = "secrets"
    FORK_POLICY = "fork policy"
    # The project's preview domain: where its previews answer under a name of the organization's.
    DOMAIN = "preview domain"
    DISABLE = "disable"
    DELETE = "delete"
    CONNECT = "connect"
    OPERATE = "operate"  # Temporal's UI: every workflow's inputs and history, not only this project's


NEEDS: dict[Action, Role] = {
    Action.VIEW: Role.PULL,
    Action.DEPLOY: Role.PUSH,
    Action.REDEPLOY: Role.PUSH,
    Action.DESTROY: Role.PUSH,
    Action.APPROVE: Role.PUSH,
    Action.KEEP: Role.PUSH,
    Action.UNPIN: Role.PUSH,
    Action.EXTEND: Role.PUSH,
    Action.RESET_DB: Role.PUSH,
    Action.DATABASE_TEMPLATE: Role.ADMIN,
    Action.SETTINGS: Role.MAINTAIN,
    Action.SECRETS: Role.MAINTAIN,
    Action.FORK_POLICY: Role.MAINTAIN,
    Action.DISABLE: Role.MAINTAIN,
    Action.DELETE: Role.MAINTAIN,
    Action.CONNECT: Role.ADMIN,
    Action.DOMAIN: Role.ADMIN,
    Action.OPERATE: Role.ADMIN,
}


def may(role: Role, action: Action) -> bool:
    return role >= NEEDS[action]


class Scope(StrEnum):
    READ = "read"
    DEPLOY = "deploy"
    ADMIN = "admin"


# A token does at most what both its scope and its user's role allow.
SCOPE_CEILING: dict[Scope, Role] = {Scope.READ: Role.PULL, Scope.DEPLOY: Role.PUSH, Scope.ADMIN: Role.ADMIN}


def within_scope(role: Role, scope: Scope) -> Role:
    return min(role, SCOPE_CEILING[scope])


def role_from_permissions(permissions: Mapping[str, object]) -> Role:
    """The `permissions` object GitHub puts on a repository listed for a user token."""
    for key, role in (("admin", Role.ADMIN), ("maintain", Role.MAINTAIN), ("push", Role.PUSH)):
        if permissions.get(key) is True:
            return role
    return Role.PULL if permissions.get("pull") is True or permissions.get("triage") is True else Role.NONE


# `role_name` of "Get repository permissions for a user" (custom roles fall back to `permission`).
ROLE_NAMES = {
    "admin": Role.ADMIN,
    "maintain": Role.MAINTAIN,
    "write": Role.PUSH,
    "triage": Role.PULL,
    "read": Role.PULL,
    "none": Role.NONE,
}


def role_from_collaborator(body: Mapping[str, object]) -> Role:
    """`GET /repos/{owner}/{repo}/collaborators/{username}/permission`'s answer."""
    for key in ("role_name", "permission"):
        role = ROLE_NAMES.get(str(body.get(key, "")))
        if role is not None:
            return role
    return Role.NONE
