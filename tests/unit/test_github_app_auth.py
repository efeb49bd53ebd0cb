"""The App JWT's claims and the installation-token cache."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Mapping
from typing import Any

import httpx
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from joserfc import jwt
from joserfc.jwk import RSAKey
from joserfc.jwt import JWTClaimsRegistry

from activities.github import app_auth
from activities.github.app_auth import GitHubApp, load_private_key
from activities.github.client import GitHubApi, GitHubApiError
from activities.source import git_auth_env

KEY = rsa.generate_private_key(public_exponent=65537, key_size=2048)
PRIVATE = KEY.private_bytes(
    serialization.Encoding.PEM, serialization.PrivateFormat.TraditionalOpenSSL, serialization.NoEncryption()
)
PUBLIC = RSAKey.import_key(
    KEY.public_key().public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
)


class CountingApi(GitHubApi):
    def __init__(self, expires_in: float) -> None:
        super().__init__("http://127.0.0.1:9")
        self.calls = 0
        self.expires_in = expires_in

    async def request(
        self, method: str, path: str, *, token: str, json: Any = None, params: Mapping[str, Any] | None = None
    ) -> Any:
        self.calls += 1
        JWTClaimsRegistry().validate(jwt.decode(token, PUBLIC, algorithms=["RS256"]).claims)
        expires = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(time.time() + self.expires_in))
        return {"token": f"ghs_{self.calls}_" + "x" * 200, "expires_at": expires}


def test_app_jwt_is_rs256_backdated_and_short_lived() -> None:
    app = GitHubApp(app_id="1234", private_key_pem=PRIVATE, api=GitHubApi("http://127.0.0.1:9"))
    now = time.time()
    token = app.app_jwt(now)
    decoded = jwt.decode(token, PUBLIC, algorithms=["RS256"])
    header, claims = decoded.header, decoded.claims
    assert header["alg"] == "RS256"
    assert claims["iss"] == "1234"
    assert claims["iat"] == int(now) - 60
    assert claims["exp"] - claims["iat"] <= 600 and claims["exp"] > now


async def test_installation_tokens_are_cached_until_shortly_before_expiry() -> None:
    api = CountingApi(expires_in=3600)
    app = GitHubApp(app_id="1", private_key_pem=PRIVATE, api=api)
    first = await app.installation_token(7)
    assert await app.installation_token(7) == first and api.calls == 1
    assert len(first) > 200  # any token length is accepted
    await app.installation_token(8)
    assert api.calls == 2
    soon = CountingApi(expires_in=120)  # inside the refresh margin: fetched again each time
    app = GitHubApp(app_id="1", private_key_pem=PRIVATE, api=soon)
    await app.installation_token(7)
    await app.installation_token(7)
    assert soon.calls == 2


def test_private_key_is_pem_text_or_a_path(tmp_path: Any) -> None:
    assert load_private_key(PRIVATE.decode()) == PRIVATE.strip()
    path = tmp_path / "app.pem"
    path.write_bytes(PRIVATE)
    assert load_private_key(str(path)) == PRIVATE
    with pytest.raises(ValueError, match="GITHUB_APP_PRIVATE_KEY"):
        load_private_key("not a key")


def test_git_credentials_travel_in_the_environment_not_argv() -> None:
    env = git_auth_env("ghs_secret")
    assert env["GIT_CONFIG_KEY_0"] == "http.extraHeader"
    assert env["GIT_CONFIG_VALUE_0"].startswith("Authorization: Basic ")
    assert "ghs_secret" not in env["GIT_CONFIG_VALUE_0"]  # base64 of x-access-token:…


def test_github_errors_say_whether_waiting_helps() -> None:
    assert GitHubApiError(502, "bad gateway", "GET", "/x").transient
    assert GitHubApiError(403, "secondary rate limit", "GET", "/x", retry_after=1).transient
    wrong = GitHubApiError(
        401, "A JSON web token could not be decoded", "POST", "/app/installations/1/access_tokens"
    )
    assert not wrong.transient and "GITHUB_APP_ID" in str(wrong)


async def test_no_answer_is_a_transient_error_left_to_the_caller_to_retry() -> None:
    api = GitHubApi("http://127.0.0.1:9")  # nothing listens
    started = time.monotonic()
    with pytest.raises(GitHubApiError) as raised:
        await api.request("POST", "/repos/o/r/issues/1/comments", token="ghs_t", json={"body": "x"})
    await api.aclose()
    # Not retried inline (that would sleep for seconds): a timed-out write may have been carried out.
    assert time.monotonic() - started < 2
    error = raised.value
    assert (error.status, error.answered, error.transient) == (503, False, True)
    assert "did not answer" in str(error)


async def test_conditional_gets_are_kept_per_path_and_query() -> None:
    seen: list[tuple[str, str | None]] = []

    def github(request: httpx.Request) -> httpx.Response:
        seen.append((str(request.url.params), request.headers.get("if-none-match")))
        etag = f'W/"{request.url.params.get("page")}"'
        if request.headers.get("if-none-match") == etag:
            return httpx.Response(304, headers={"ETag": etag})
        return httpx.Response(200, json={"page": request.url.params.get("page")}, headers={"ETag": etag})

    api = GitHubApi("https://api.github.test")
    await api.aclose()
    api._http = httpx.AsyncClient(base_url="https://api.github.test", transport=httpx.MockTransport(github))
    for page in (1, 2, 1):
        assert await api.request("GET", "/user/installations", token="t", params={"page": page}) == {
            "page": str(page)
        }
    await api.aclose()
    assert seen == [("page=1", None), ("page=2", None), ("page=1", 'W/"1"')]


async def test_a_github_that_never_answers_holds_the_token_lock_for_a_bounded_time(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Every clone and report of an installation waits on its token lock: a GitHub that takes the
    connection and says nothing must not hold them all for minutes (five tries of 30 s)."""
    accepted: list[asyncio.StreamWriter] = []

    async def silent(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        accepted.append(writer)  # read nothing, answer nothing

    server = await asyncio.start_server(silent, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    monkeypatch.setattr(app_auth, "TOKEN_WAIT_SECONDS", 0.5)
    api = GitHubApi(f"http://127.0.0.1:{port}", timeout=30.0)
    app = GitHubApp(app_id="1", private_key_pem=PRIVATE, api=api)
    started = time.monotonic()
    two_waiters = (app.installation_token(7), app.installation_token(7))
    results = await asyncio.gather(*two_waiters, return_exceptions=True)
    elapsed = time.monotonic() - started
    await api.aclose()
    server.close()
    assert accepted  # the request did reach the server
    assert all(isinstance(r, GitHubApiError) and r.transient and not r.answered for r in results), results
    assert "no installation token within 0.5s" in str(results[0])
    assert elapsed < 3  # each waiter gave up after ~0.5 s, not 30 s
