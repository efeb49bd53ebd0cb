"""tests/fakes/github_user.py: the fake's sign-in and user-token routes keep to GitHub's contracts,
and the dashboard's own GitHub client reads them right."""

from __future__ import annotations

from collections.abc import Iterator
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from tests.fakes.github_api import FakeGitHub, FakeGitHubServer, create_fake_github
from web.dashboard.github_user_api import GitHubUserApi, GitHubUserError

CLIENT_ID, SECRET = "Iv1.unit", "unit-secret"
CALLBACK = "http://dash.test/auth/github/callback"
API = {"Accept": "application/vnd.github+json", "X-GitHub-Api-Version": "2022-11-28", "User-Agent": "t"}


@pytest.fixture(scope="module")
def fake() -> FakeGitHub:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    public = key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    fake = create_fake_github(app_id=1, public_key_pem=public, client_id=CLIENT_ID)
    fake.users.client_secret, fake.users.callback_url = SECRET, CALLBACK
    fake.add_installation(10, ["ann/one", "ann/two"])
    fake.add_installation(11, ["corp/x"])
    fake.add_installation(12, ["bob/private"])
    fake.users.add_user("ann", installations=[10, 11], name="Ann")
    return fake


@pytest.fixture(scope="module")
def server(fake: FakeGitHub) -> Iterator[FakeGitHubServer]:
    with FakeGitHubServer(fake) as running:
        yield running


def _authorize(server: FakeGitHubServer, fake: FakeGitHub, state: str = "s1") -> dict[str, list[str]]:
    fake.users.login_as("ann")
    response = httpx.get(
        f"{server.url}/login/oauth/authorize",
        params={"client_id": CLIENT_ID, "redirect_uri": CALLBACK, "state": state},
    )
    assert response.status_code == 302
    location = response.headers["location"]
    assert location.startswith(CALLBACK + "?")
    return parse_qs(urlsplit(location).query)


def _token(server: FakeGitHubServer, code: str, *, secret: str = SECRET, json: bool = True) -> httpx.Response:
    return httpx.post(
        f"{server.url}/login/oauth/access_token",
        data={"client_id": CLIENT_ID, "client_secret": secret, "code": code, "redirect_uri": CALLBACK},
        headers={"Accept": "application/json"} if json else {},
    )


def test_the_web_flow_returns_state_and_a_single_use_code(server: FakeGitHubServer, fake: FakeGitHub) -> None:
    query = _authorize(server, fake, state="xyz")
    assert query["state"] == ["xyz"]
    first = _token(server, query["code"][0]).json()
    assert first["access_token"].startswith("ghu_") and first["token_type"] == "bearer"
    assert first["expires_in"] == 28800 and first["refresh_token"].startswith("ghr_")
    again = _token(server, query["code"][0])
    assert again.status_code == 200 and again.json()["error"] == "bad_verification_code"


def test_token_errors_are_200_with_an_error_field(server: FakeGitHubServer, fake: FakeGitHub) -> None:
    query = _authorize(server, fake)
    wrong = _token(server, query["code"][0], secret="nope").json()
    assert wrong["error"] == "incorrect_client_credentials" and wrong["error_uri"].startswith(
        "https://docs.github"
    )
    form = _token(server, "unknown", json=False)
    assert form.headers["content-type"].startswith("application/x-www-form-urlencoded")
    assert parse_qs(form.text)["error"] == ["bad_verification_code"]


def test_denied_and_mismatched_redirects_go_back_with_an_error(
    server: FakeGitHubServer, fake: FakeGitHub
) -> None:
    fake.users.deny_next = True
    denied = _authorize(server, fake)
    assert denied["error"] == ["access_denied"] and denied["state"] == ["s1"]
    response = httpx.get(
        f"{server.url}/login/oauth/authorize",
        params={"client_id": CLIENT_ID, "redirect_uri": "http://evil.example/cb", "state": "s"},
    )
    assert response.headers["location"].startswith(CALLBACK + "?error=redirect_uri_mismatch")
    unknown = httpx.get(f"{server.url}/login/oauth/authorize", params={"client_id": "other"})
    assert unknown.status_code == 404


async def test_user_routes_through_the_dashboard_client(server: FakeGitHubServer, fake: FakeGitHub) -> None:
    token = _token(server, _authorize(server, fake)["code"][0]).json()["access_token"]
    async with GitHubUserApi(server.url, token) as api:
        user = await api.user()
        assert (user.login, user.name) == ("ann", "Ann")
        assert [i["id"] for i in await api.installations()] == [10, 11]
        assert [r["full_name"] for r in await api.repositories(10)] == ["ann/one", "ann/two"]
        with pytest.raises(GitHubUserError) as not_hers:
            await api.repositories(12)
        assert not_hers.value.status == 404
    async with GitHubUserApi(server.url, "ghu_forged") as api:
        with pytest.raises(GitHubUserError) as forged:
            await api.user()
        assert (forged.value.status, forged.value.message) == (401, "Bad credentials")


def test_lists_are_paginated_with_total_count_and_link(server: FakeGitHubServer, fake: FakeGitHub) -> None:
    token = _token(server, _authorize(server, fake)["code"][0]).json()["access_token"]
    response = httpx.get(
        f"{server.url}/user/installations/10/repositories",
        params={"per_page": 1},
        headers={**API, "Authorization": f"Bearer {token}"},
    )
    body = response.json()
    assert body["total_count"] == 2 and len(body["repositories"]) == 1
    assert body["repository_selection"] == "all" and 'rel="next"' in response.headers["link"]
    missing = httpx.get(f"{server.url}/user", headers=API)
    assert (missing.status_code, missing.json()["message"]) == (401, "Requires authentication")
