"""The one table of who may do what, GitHub's two ways of telling a role, and token scopes."""

from __future__ import annotations

import pytest

from tests.fakes.github_user import ROLES, permissions_of
from web.permissions import (
    NEEDS,
    Action,
    Role,
    Scope,
    may,
    role_from_collaborator,
    role_from_permissions,
    within_scope,
)


@pytest.mark.parametrize(
    ("github_role", "role"),
    [("read", Role.PULL), ("triage", Role.PULL), ("write", Role.PUSH), ("maintain", Role.MAINTAIN),
     ("admin", Role.ADMIN)],
)  # fmt: skip
def test_both_answers_of_github_give_the_same_role(github_role: str, role: Role) -> None:
    assert role_from_permissions(permissions_of(github_role)) == role
    legacy = {"write": "write", "maintain": "write", "triage": "read"}.get(github_role, github_role)
    assert role_from_collaborator({"permission": legacy, "role_name": github_role}) == role


def test_nothing_known_is_no_role() -> None:
    assert role_from_permissions({}) == Role.NONE
    assert role_from_permissions({"pull": False, "push": "yes"}) == Role.NONE
    assert role_from_collaborator({"permission": "none", "role_name": ""}) == Role.NONE
    assert role_from_collaborator({}) == Role.NONE


def test_a_custom_role_falls_back_to_its_base_permission() -> None:
    assert role_from_collaborator({"permission": "write", "role_name": "deployer"}) == Role.PUSH


def test_the_table() -> None:
    assert set(NEEDS) == set(Action)
    read_only = [a for a in Action if may(Role.PULL, a)]
    assert read_only == [Action.VIEW]
    assert {a for a in Action if may(Role.PUSH, a)} == {
        Action.VIEW, Action.DEPLOY, Action.REDEPLOY, Action.DESTROY, Action.APPROVE,
        Action.KEEP, Action.UNPIN, Action.EXTEND, Action.RESET_DB,
    }  # fmt: skip
    for action in (Action.SETTINGS, Action.SECRETS, Action.FORK_POLICY, Action.DISABLE, Action.DELETE):
        assert may(Role.MAINTAIN, action) and not may(Role.PUSH, action)
    assert not may(Role.MAINTAIN, Action.CONNECT) and may(Role.ADMIN, Action.CONNECT)
    assert not may(Role.MAINTAIN, Action.DOMAIN) and may(Role.ADMIN, Action.DOMAIN)
    assert not may(Role.MAINTAIN, Action.DATABASE_TEMPLATE) and may(Role.ADMIN, Action.DATABASE_TEMPLATE)
    assert not may(Role.NONE, Action.VIEW)
    assert len(ROLES) == 5


def test_a_token_does_at_most_what_both_its_scope_and_its_user_allow() -> None:
    assert within_scope(Role.ADMIN, Scope.READ) == Role.PULL
    assert within_scope(Role.ADMIN, Scope.DEPLOY) == Role.PUSH
    assert within_scope(Role.PULL, Scope.ADMIN) == Role.PULL
    assert within_scope(Role.NONE, Scope.ADMIN) == Role.NONE
    assert not may(within_scope(Role.ADMIN, Scope.READ), Action.REDEPLOY)
