"""The fake's user side tells each user's role the way GitHub does: a `permissions` object on each
repository the user holds an explicit role on, and no entry for the rest; the dashboard reads it."""

from __future__ import annotations

from tests.fakes.github_api import FakeGitHub, FakeGitHubServer
from tests.unit.test_dashboard_github_fake import _authorize, _token, fake, server
from web.dashboard.github_user_api import GitHubUserApi
from web.permissions import Role, role_from_permissions

__all__ = ["fake", "server"]  # the fixtures, shared with the module they come from


async def test_roles_come_as_permissions_and_a_repository_without_one_is_not_listed(
    server: FakeGitHubServer, fake: FakeGitHub
) -> None:
    token = _token(server, _authorize(server, fake)["code"][0]).json()["access_token"]
    fake.users.set_role("ann", "ann/two", "write")
    try:
        async with GitHubUserApi(server.url, token) as api:
            listed = {r["full_name"]: r["permissions"] for r in await api.repositories(10)}
        assert listed["ann/one"] == {
            "pull": True,
            "triage": True,
            "push": True,
            "maintain": True,
            "admin": True,
        }
        assert role_from_permissions(listed["ann/two"]) == Role.PUSH
        fake.users.set_role("ann", "ann/two", None)
        async with GitHubUserApi(server.url, token) as api:
            assert [r["full_name"] for r in await api.repositories(10)] == ["ann/one"]
    finally:
        fake.users.users["ann"].roles.clear()
