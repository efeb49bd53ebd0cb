"""tests/fakes/github_api.py: the loopback GitHub fake keeps to GitHub's App-auth and git HTTP contracts."""

from __future__ import annotations

import base64
import os
import subprocess
import time
import warnings
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from tests.fakes.github_api import (
    JWT_BAD_IAT,
    JWT_EXPIRED,
    JWT_TOO_LONG,
    JWT_UNDECODABLE,
    FakeGitHub,
    FakeGitHubServer,
    create_fake_github,
)

with warnings.catch_warnings():
    import authlib.deprecate  # noqa: F401  (installs an "always" filter; ours must go on top)

    warnings.simplefilter("ignore")  # authlib.jose is deprecated in favour of joserfc
    from authlib.jose import jwt

APP_ID = 424242
INSTALLATION = 7001
REPO = "acme/widgets"
HEADERS = {
    "Accept": "application/vnd.github+json",
    "X-GitHub-Api-Version": "2022-11-28",
    "User-Agent": "previewd-tests",
}


def _keypair() -> tuple[bytes, bytes]:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    private = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    public = key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return private, public


PRIVATE_PEM, PUBLIC_PEM = _keypair()
OTHER_PRIVATE_PEM, _ = _keypair()


def make_jwt(private_pem: bytes = PRIVATE_PEM, alg: str = "RS256", **overrides: Any) -> str:
    """GitHub's documented shape: iat 60 s in the past, exp 10 minutes from now, iss the app id."""
    now = int(time.time())
    payload: dict[str, Any] = {"iat": now - 60, "exp": now + 540, "iss": str(APP_ID)}
    payload.update(overrides)
    payload = {k: v for k, v in payload.items() if v is not None}
    token = jwt.encode({"alg": alg}, payload, private_pem)
    return token.decode() if isinstance(token, bytes) else str(token)


@pytest.fixture
def fake() -> FakeGitHub:
    fake = create_fake_github(app_id=APP_ID, public_key_pem=PUBLIC_PEM, client_id="Iv23liFAKE", seed=1)
    fake.add_installation(INSTALLATION, repos=[REPO, "acme/gadgets"])
    fake.add_installation(7002, repos=["other/thing"])
    return fake


@pytest.fixture
def server(fake: FakeGitHub) -> Iterator[FakeGitHubServer]:
    with FakeGitHubServer(fake) as server:
        yield server


@pytest.fixture
def client(server: FakeGitHubServer) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=server.url, headers=HEADERS, timeout=10) as c:
        yield c


def create_token(
    client: httpx.Client, token: str | None = None, installation: int = INSTALLATION, **kw: Any
) -> httpx.Response:
    auth = {"Authorization": f"Bearer {token if token is not None else make_jwt()}"}
    return client.post(f"/app/installations/{installation}/access_tokens", headers=auth, **kw)


def assert_message(response: httpx.Response, status: int, message: str) -> None:
    assert response.status_code == status, response.text
    body = response.json()
    assert body["message"] == message
    assert body["documentation_url"].startswith("https://docs.github.com/")


# --- installation access tokens ----------------------------------------------------------------


def test_valid_jwt_gets_an_installation_token(fake: FakeGitHub, client: httpx.Client) -> None:
    before = time.time()
    response = create_token(client)
    assert response.status_code == 201, response.text
    body = response.json()
    assert body["token"].startswith("ghs_") and len(body["token"]) == 40
    assert body["token"][4:].isalnum()
    assert body["repository_selection"] == "all"
    assert body["permissions"]["contents"] == "read"
    assert body["expires_at"].endswith("Z")
    expires = datetime.strptime(body["expires_at"], "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC).timestamp()
    assert before + 3600 - 2 <= expires <= time.time() + 3600 + 1
    assert fake.tokens_issued == 1
    issued = fake.tokens[body["token"]]
    assert issued.installation_id == INSTALLATION and issued.valid()
    assert issued.repos == [REPO, "acme/gadgets"]
    # A second call issues a different token.
    assert create_token(client).json()["token"] != body["token"]
    assert fake.tokens_issued == 2


def test_iss_may_be_int_string_or_client_id(client: httpx.Client) -> None:
    for iss in (APP_ID, str(APP_ID), "Iv23liFAKE"):
        assert create_token(client, make_jwt(iss=iss)).status_code == 201


def test_the_documented_iat_minus_60_exp_plus_600_is_accepted(client: httpx.Client) -> None:
    now = int(time.time())
    assert create_token(client, make_jwt(iat=now - 60, exp=now + 595)).status_code == 201


@pytest.mark.parametrize(
    ("token_kwargs", "message"),
    [
        ({"private_pem": OTHER_PRIVATE_PEM}, JWT_UNDECODABLE),
        ({"iss": "999"}, JWT_UNDECODABLE),
        ({"iss": None}, JWT_UNDECODABLE),
        ({"exp": int(time.time()) - 5}, JWT_EXPIRED),
        ({"exp": None}, JWT_EXPIRED),
        ({"exp": int(time.time()) + 3600}, JWT_TOO_LONG),
        ({"iat": int(time.time()) + 300}, JWT_BAD_IAT),
        ({"iat": None}, JWT_BAD_IAT),
    ],
)
def test_bad_jwts_are_401(
    fake: FakeGitHub, client: httpx.Client, token_kwargs: dict[str, Any], message: str
) -> None:
    assert_message(create_token(client, make_jwt(**token_kwargs)), 401, message)
    assert fake.tokens_issued == 0


def test_iat_slightly_in_the_future_is_tolerated(client: httpx.Client) -> None:
    now = int(time.time())
    assert create_token(client, make_jwt(iat=now + 30)).status_code == 201


def test_hs256_with_the_public_key_and_non_jwts_are_rejected(client: httpx.Client) -> None:
    now = int(time.time())
    forged = jwt.encode({"alg": "HS256"}, {"iat": now - 60, "exp": now + 300, "iss": str(APP_ID)}, b"secret")
    assert_message(create_token(client, forged.decode()), 401, JWT_UNDECODABLE)
    assert_message(create_token(client, "ghs_notajwt"), 401, JWT_UNDECODABLE)
    response = client.post(f"/app/installations/{INSTALLATION}/access_tokens")
    assert_message(response, 401, "Requires authentication")
    response = client.post(
        f"/app/installations/{INSTALLATION}/access_tokens", headers={"Authorization": f"token {make_jwt()}"}
    )
    assert response.status_code == 401


def test_unknown_installation_is_404(client: httpx.Client) -> None:
    assert_message(create_token(client, installation=123), 404, "Not Found")
    # JWT problems win over the unknown installation.
    assert create_token(client, make_jwt(iss="1"), installation=123).status_code == 401


def test_narrowing_a_token_to_some_repositories(fake: FakeGitHub, client: httpx.Client) -> None:
    response = create_token(client, json={"repositories": ["widgets"], "permissions": {"contents": "read"}})
    assert response.status_code == 201, response.text
    body = response.json()
    assert body["repository_selection"] == "selected"
    assert [r["full_name"] for r in body["repositories"]] == [REPO]
    assert body["permissions"] == {"contents": "read"}
    assert fake.tokens[body["token"]].repos == [REPO]
    assert create_token(client, json={"repositories": ["thing"]}).status_code == 422
    assert create_token(client, json={"permissions": {"administration": "write"}}).status_code == 422
    assert create_token(client, content=b"{nope").status_code == 400


def test_installation_lookups_and_token_revocation(fake: FakeGitHub, client: httpx.Client) -> None:
    auth = {"Authorization": f"Bearer {make_jwt()}"}
    found = client.get(f"/repos/{REPO}/installation", headers=auth)
    assert found.status_code == 200 and found.json()["id"] == INSTALLATION
    assert found.json()["app_id"] == APP_ID
    assert client.get("/repos/nobody/here/installation", headers=auth).status_code == 404
    assert client.get(f"/app/installations/{INSTALLATION}", headers=auth).json()["account"]["login"] == "acme"
    token = create_token(client).json()["token"]
    assert (
        client.delete("/installation/token", headers={"Authorization": f"token {token}"}).status_code == 204
    )
    assert not fake.tokens[token].valid()
    assert (
        client.delete("/installation/token", headers={"Authorization": f"token {token}"}).status_code == 401
    )


# --- headers -------------------------------------------------------------------------------------


def test_rate_limit_and_request_id_headers_on_every_answer(client: httpx.Client) -> None:
    responses = [create_token(client), create_token(client, installation=1), client.get("/nope")]
    for response in responses:
        headers = response.headers
        assert headers["x-ratelimit-limit"] == "5000"
        assert headers["x-ratelimit-resource"] == "core"
        assert int(headers["x-ratelimit-reset"]) > time.time()
        assert int(headers["x-ratelimit-used"]) + int(headers["x-ratelimit-remaining"]) == 5000
        assert headers["x-github-request-id"].count(":") == 4
    used = [int(r.headers["x-ratelimit-used"]) for r in responses]
    assert used == sorted(used) and len(set(used)) == 3


def test_missing_user_agent_is_403(fake: FakeGitHub, server: FakeGitHubServer) -> None:
    headers = {k: v for k, v in HEADERS.items() if k != "User-Agent"}
    # httpx adds its own User-Agent unless told not to: send an empty one.
    response = httpx.post(
        f"{server.url}/app/installations/{INSTALLATION}/access_tokens",
        headers={**headers, "User-Agent": "", "Authorization": f"Bearer {make_jwt()}"},
    )
    assert response.status_code == 403
    assert response.json()["message"].startswith(
        "Request forbidden by administrative rules. Please make sure your request has a User-Agent header"
    )
    assert response.headers["x-ratelimit-limit"] == "5000"
    assert fake.tokens_issued == 0
    assert [v.header for v in fake.header_violations] == ["User-Agent"]


def test_accept_is_required_and_a_missing_version_is_recorded(
    fake: FakeGitHub, server: FakeGitHubServer
) -> None:
    url = f"{server.url}/app/installations/{INSTALLATION}/access_tokens"
    auth = {"Authorization": f"Bearer {make_jwt()}"}
    no_accept = httpx.post(url, headers={"User-Agent": "t", "X-GitHub-Api-Version": "2022-11-28", **auth})
    assert no_accept.status_code == 400
    no_version = httpx.post(url, headers={"User-Agent": "t", "Accept": "application/vnd.github+json", **auth})
    assert no_version.status_code == 201
    bad_version = httpx.post(url, headers={**HEADERS, "X-GitHub-Api-Version": "2099-01-01", **auth})
    assert_message(bad_version, 400, "API version 2099-01-01 is not supported.")
    assert [(v.header, v.value) for v in fake.header_violations] == [
        ("Accept", "*/*"),
        ("X-GitHub-Api-Version", None),
        ("X-GitHub-Api-Version", "2099-01-01"),
    ]


# --- fault injection -------------------------------------------------------------------------


def test_fail_next_server_errors_then_recovers(fake: FakeGitHub, client: httpx.Client) -> None:
    fake.fail_next(1, 500)
    fake.fail_next(1, 502)
    assert create_token(client).status_code == 500
    assert create_token(client).status_code == 502
    assert create_token(client).status_code == 201
    assert fake.tokens_issued == 1 and fake.pending_faults == 0


def test_fail_next_rate_limits(fake: FakeGitHub, client: httpx.Client) -> None:
    fake.fail_next(1, 429, headers={"retry-after": "3"})
    fake.fail_next(1, 403)
    primary = create_token(client)
    assert primary.status_code == 429
    assert primary.headers["retry-after"] == "3"
    assert primary.headers["x-ratelimit-remaining"] == "0"
    secondary = create_token(client)
    assert secondary.status_code == 403
    assert secondary.headers["retry-after"] == "1"
    assert secondary.json()["message"].startswith(
        "You have exceeded a secondary rate limit. Please wait a few minutes before you try again."
    )
    assert secondary.json()["documentation_url"].startswith("https://docs.github.com/")
    assert int(secondary.headers["x-ratelimit-remaining"]) > 0
    assert create_token(client).status_code == 201


def test_fail_next_custom_body_and_path_filter(fake: FakeGitHub, client: httpx.Client) -> None:
    fake.fail_next(1, 503, body={"message": "down"}, path=r"/repos/")
    assert create_token(client).status_code == 201
    response = client.get(f"/repos/{REPO}/installation", headers={"Authorization": f"Bearer {make_jwt()}"})
    assert response.status_code == 503 and response.json() == {"message": "down"}


# --- git smart HTTP --------------------------------------------------------------------------


def _git(*args: str, cwd: Path, env: dict[str, str], check: bool = True) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["git", *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=60, check=check
    )


@pytest.fixture
def git_env(tmp_path: Path) -> dict[str, str]:
    home = tmp_path / "home"
    home.mkdir()
    return {
        "PATH": os.environ["PATH"],
        "HOME": str(home),
        "GIT_CONFIG_NOSYSTEM": "1",
        "GIT_TERMINAL_PROMPT": "0",
        "GIT_ASKPASS": "",
        "SSH_ASKPASS": "",
        "GIT_AUTHOR_NAME": "t",
        "GIT_AUTHOR_EMAIL": "t@example.com",
        "GIT_COMMITTER_NAME": "t",
        "GIT_COMMITTER_EMAIL": "t@example.com",
    }


@pytest.fixture
def shas(fake: FakeGitHub, tmp_path: Path, git_env: dict[str, str]) -> list[str]:
    """Two commits in acme/widgets, served from a bare clone; returns [first, second] shas."""
    work = tmp_path / "work"
    work.mkdir()
    _git("init", "-q", "-b", "main", cwd=work, env=git_env)
    out = []
    for i in (1, 2):
        (work / "README.md").write_text(f"version {i}\n")
        _git("add", "README.md", cwd=work, env=git_env)
        _git("commit", "-q", "-m", f"commit {i}", cwd=work, env=git_env)
        out.append(_git("rev-parse", "HEAD", cwd=work, env=git_env).stdout.strip())
    bare = tmp_path / "repos" / "widgets.git"
    bare.parent.mkdir()
    _git("clone", "-q", "--bare", str(work), str(bare), cwd=tmp_path, env=git_env)
    fake.add_repo(REPO, bare)
    return out


def _fetch(
    url: str, sha: str, dest: Path, env: dict[str, str], token: str | None
) -> subprocess.CompletedProcess[str]:
    dest.mkdir()
    _git("init", "-q", cwd=dest, env=env)
    config = ["-c", "credential.helper=", "-c", "protocol.version=2"]
    if token is not None:
        basic = base64.b64encode(f"x-access-token:{token}".encode()).decode()
        config += ["-c", f"http.extraHeader=Authorization: Basic {basic}"]
    return _git(*config, "fetch", "-q", "--depth", "1", url, sha, cwd=dest, env=env, check=False)


def test_git_fetch_by_sha_with_an_installation_token(
    fake: FakeGitHub,
    server: FakeGitHubServer,
    client: httpx.Client,
    shas: list[str],
    tmp_path: Path,
    git_env: dict[str, str],
) -> None:
    token = create_token(client).json()["token"]
    first = shas[0]  # not a branch tip: needs protocol v2's fetch of any reachable sha
    result = _fetch(f"{server.url}/{REPO}.git", first, tmp_path / "clone", git_env, token)
    assert result.returncode == 0, result.stderr
    kind = _git("cat-file", "-t", first, cwd=tmp_path / "clone", env=git_env).stdout.strip()
    assert kind == "commit"
    readme = _git("show", f"{first}:README.md", cwd=tmp_path / "clone", env=git_env).stdout
    assert readme == "version 1\n"
    assert fake.git_auth_log and all(
        u.repo == REPO and u.token_prefix == token[:8] for u in fake.git_auth_log
    )
    assert {u.status for u in fake.git_auth_log} == {200}


def test_git_fetch_without_or_with_a_bad_token_fails_without_prompting(
    fake: FakeGitHub,
    server: FakeGitHubServer,
    client: httpx.Client,
    shas: list[str],
    tmp_path: Path,
    git_env: dict[str, str],
) -> None:
    url = f"{server.url}/{REPO}.git"
    anonymous = _fetch(url, shas[1], tmp_path / "anon", git_env, None)
    assert anonymous.returncode != 0
    assert "terminal prompts disabled" in anonymous.stderr or "Authentication failed" in anonymous.stderr
    assert fake.git_auth_log[-1].token_prefix is None and fake.git_auth_log[-1].status == 401

    bogus = _fetch(url, shas[1], tmp_path / "bogus", git_env, "ghs_" + "x" * 36)
    assert bogus.returncode != 0 and fake.git_auth_log[-1].status == 401

    expired = create_token(client).json()["token"]
    fake.tokens[expired].expires_at = time.time() - 1
    assert _fetch(url, shas[1], tmp_path / "expired", git_env, expired).returncode != 0
    assert fake.git_auth_log[-1].status == 401

    # A valid token of an installation that does not include the repo: 404, like GitHub.
    jwt_auth = {"Authorization": f"Bearer {make_jwt()}"}
    foreign = client.post("/app/installations/7002/access_tokens", headers=jwt_auth).json()["token"]
    result = _fetch(url, shas[1], tmp_path / "foreign", git_env, foreign)
    assert result.returncode != 0 and "not found" in result.stderr.lower()
    assert fake.git_auth_log[-1].status == 404


def test_git_http_status_codes(
    fake: FakeGitHub, server: FakeGitHubServer, client: httpx.Client, shas: list[str]
) -> None:
    token = create_token(client).json()["token"]
    url = f"{server.url}/{REPO}.git/info/refs?service=git-upload-pack"
    anonymous = httpx.get(url)
    assert anonymous.status_code == 401
    assert anonymous.headers["www-authenticate"] == 'Basic realm="GitHub"'
    wrong_user = httpx.get(url, auth=("someone", token))
    assert wrong_user.status_code == 401
    ok = httpx.get(url, auth=("x-access-token", token))
    assert ok.status_code == 200
    assert ok.headers["content-type"] == "application/x-git-upload-pack-advertisement"
    assert shas[1].encode() in ok.content
    # Without `.git`, like github.com.
    assert httpx.get(url.replace(".git/", "/"), auth=("x-access-token", token)).status_code == 200
    push = httpx.get(url.replace("upload-pack", "receive-pack"), auth=("x-access-token", token))
    assert push.status_code == 403
