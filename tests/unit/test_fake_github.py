"""tests/fakes/github_api.py: the loopback GitHub fake keeps to GitHub's App-auth and git HTTP contracts."""

from __future__ import annotations

import base64
import os
import re
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from joserfc import jwt
from joserfc.jwk import OctKey, RSAKey

from tests.fakes.github_api import (
    JWT_BAD_IAT,
    JWT_EXPIRED,
    JWT_TOO_LONG,
    JWT_UNDECODABLE,
    FakeGitHub,
    FakeGitHubServer,
    create_fake_github,
)

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


@dataclass(frozen=True)
class FROM_NOW:  # noqa: N801  (reads as a value in the parameter lists)
    """A claim time given as seconds from the moment the JWT is made."""

    seconds: int


def make_jwt(private_pem: bytes = PRIVATE_PEM, alg: str = "RS256", **overrides: Any) -> str:
    """GitHub's documented shape: iat 60 s in the past, exp 10 minutes from now, iss the app id."""
    now = int(time.time())
    payload: dict[str, Any] = {"iat": now - 60, "exp": now + 540, "iss": str(APP_ID)}
    payload.update({k: now + v.seconds if isinstance(v, FROM_NOW) else v for k, v in overrides.items()})
    payload = {k: v for k, v in payload.items() if v is not None}
    return jwt.encode({"alg": alg}, payload, RSAKey.import_key(private_pem), algorithms=[alg])


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
        # Times as offsets from when the test runs (parameters are made at collection, minutes earlier).
        ({"exp": FROM_NOW(-5)}, JWT_EXPIRED),
        ({"exp": None}, JWT_EXPIRED),
        ({"exp": FROM_NOW(3600)}, JWT_TOO_LONG),
        ({"iat": FROM_NOW(300)}, JWT_BAD_IAT),
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
    claims = {"iat": now - 60, "exp": now + 300, "iss": str(APP_ID)}
    forged = jwt.encode({"alg": "HS256"}, claims, OctKey.import_key(b"s" * 32), algorithms=["HS256"])
    assert_message(create_token(client, forged), 401, JWT_UNDECODABLE)
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


# --- pull-request reporting endpoints ----------------------------------------------------------

SHA = "a" * 40
OTHER_SHA = "b" * 40
ISO_Z = r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$"


@pytest.fixture
def token_auth(client: httpx.Client) -> dict[str, str]:
    return {"Authorization": f"token {create_token(client).json()['token']}"}


def _foreign_auth(client: httpx.Client) -> dict[str, str]:
    response = client.post(
        "/app/installations/7002/access_tokens", headers={"Authorization": f"Bearer {make_jwt()}"}
    )
    return {"Authorization": f"Bearer {response.json()['token']}"}


def _deploy(client: httpx.Client, auth: dict[str, str], **overrides: Any) -> httpx.Response:
    body: dict[str, Any] = {
        "ref": SHA,
        "environment": "pr-7",
        "transient_environment": True,
        "production_environment": False,
        "auto_merge": False,
        "required_contexts": [],
        "description": "preview of #7",
        "payload": {"pr": 7},
    }
    body.update(overrides)
    return client.post(f"/repos/{REPO}/deployments", headers=auth, json=body)


@pytest.mark.parametrize(
    ("method", "path", "body"),
    [
        ("GET", f"/repos/{REPO}/pulls/7", None),
        ("GET", f"/repos/{REPO}/issues/7/comments", None),
        ("POST", f"/repos/{REPO}/issues/7/comments", {"body": "hi"}),
        ("PATCH", f"/repos/{REPO}/issues/comments/1", {"body": "hi"}),
        ("GET", f"/repos/{REPO}/deployments", None),
        ("POST", f"/repos/{REPO}/deployments", {"ref": SHA}),
        ("GET", f"/repos/{REPO}/deployments/1/statuses", None),
        ("POST", f"/repos/{REPO}/deployments/1/statuses", {"state": "success"}),
        ("POST", f"/repos/{REPO}/statuses/{SHA}", {"state": "success"}),
    ],
)
def test_reporting_endpoints_need_an_installation_token_for_the_repo(
    fake: FakeGitHub, client: httpx.Client, method: str, path: str, body: Any
) -> None:
    fake.set_pull(REPO, 7, head_sha=SHA)

    def call(headers: dict[str, str]) -> httpx.Response:
        return client.request(method, path, headers=headers, json=body)

    # Anonymous: the repository is private, so GitHub says 404.
    assert call({}).json()["message"] == "Not Found" and call({}).status_code == 404
    assert_message(call({"Authorization": "token ghs_" + "x" * 36}), 401, "Bad credentials")
    assert_message(call({"Authorization": f"Bearer {make_jwt()}"}), 401, "Bad credentials")
    expired = create_token(client).json()["token"]
    fake.tokens[expired].expires_at = time.time() - 1
    assert_message(call({"Authorization": f"token {expired}"}), 401, "Bad credentials")
    revoked = create_token(client).json()["token"]
    fake.tokens[revoked].revoked = True
    assert_message(call({"Authorization": f"Bearer {revoked}"}), 401, "Bad credentials")
    assert_message(call(_foreign_auth(client)), 404, "Not Found")
    narrowed = create_token(client, json={"repositories": ["gadgets"]}).json()["token"]
    assert_message(call({"Authorization": f"token {narrowed}"}), 404, "Not Found")
    assert not fake.comments and not fake.deployments and not fake.commit_statuses
    assert fake.comment_creates == fake.comment_edits == 0


def test_get_a_pull_request(fake: FakeGitHub, client: httpx.Client, token_auth: dict[str, str]) -> None:
    pull = fake.set_pull(REPO, 7, head_sha=SHA, head_ref="feature-x")
    response = client.get(f"/repos/{REPO}/pulls/7", headers=token_auth)
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["number"] == 7 and body["state"] == "open" and isinstance(body["id"], int)
    assert body["head"]["sha"] == SHA and body["head"]["ref"] == "feature-x"
    assert body["head"]["repo"]["full_name"] == REPO and body["base"]["ref"] == "main"
    assert body["html_url"] == f"https://github.com/{REPO}/pull/7"
    assert re.match(ISO_Z, body["created_at"]) and re.match(ISO_Z, body["updated_at"])
    assert body["merged"] is False and body["closed_at"] is None

    # A push moves the head; closing keeps the id.
    fake.set_pull(REPO, 7, head_sha=OTHER_SHA, state="closed")
    body = client.get(f"/repos/{REPO}/pulls/7", headers=token_auth).json()
    assert body["head"]["sha"] == OTHER_SHA and body["head"]["ref"] == "feature-x"
    assert body["state"] == "closed" and body["id"] == pull["id"] and re.match(ISO_Z, body["closed_at"])
    fake.set_pull(REPO, 7, head_sha=OTHER_SHA, state="merged")
    body = client.get(f"/repos/{REPO}/pulls/7", headers=token_auth).json()
    assert body["state"] == "closed" and body["merged"] is True

    assert_message(client.get(f"/repos/{REPO}/pulls/8", headers=token_auth), 404, "Not Found")
    assert client.get(f"/repos/{REPO}/pulls/abc", headers=token_auth).status_code == 404
    with pytest.raises(ValueError):
        fake.set_pull(REPO, 9, head_sha=SHA, state="draft")
    with pytest.raises(ValueError):
        fake.set_pull(REPO, 9, head_sha="abc")


def test_issue_comments_create_list_edit(
    fake: FakeGitHub, client: httpx.Client, token_auth: dict[str, str]
) -> None:
    fake.set_pull(REPO, 7, head_sha=SHA)
    url = f"/repos/{REPO}/issues/7/comments"
    assert client.get(url, headers=token_auth).json() == []
    created = client.post(url, headers=token_auth, json={"body": "Preview: building"})
    assert created.status_code == 201, created.text
    comment = created.json()
    assert isinstance(comment["id"], int) and comment["body"] == "Preview: building"
    assert comment["user"]["login"] == "previewd[bot]" and comment["user"]["type"] == "Bot"
    assert comment["html_url"] == f"https://github.com/{REPO}/pull/7#issuecomment-{comment['id']}"
    assert re.match(ISO_Z, comment["created_at"]) and comment["created_at"] == comment["updated_at"]
    assert fake.comment_creates == 1 and fake.comments[(REPO, 7)] == [comment]

    edited = client.patch(
        f"/repos/{REPO}/issues/comments/{comment['id']}", headers=token_auth, json={"body": "Preview: ready"}
    )
    assert edited.status_code == 200, edited.text
    assert edited.json()["id"] == comment["id"] and edited.json()["body"] == "Preview: ready"
    assert re.match(ISO_Z, edited.json()["updated_at"])
    assert fake.comment_edits == 1 and fake.comments[(REPO, 7)][0]["body"] == "Preview: ready"
    listed = client.get(url, headers=token_auth).json()
    assert [c["body"] for c in listed] == ["Preview: ready"]

    # Unknown comment ids, and a comment of another repository, are 404.
    missing = client.patch(f"/repos/{REPO}/issues/comments/12345", headers=token_auth, json={"body": "x"})
    assert_message(missing, 404, "Not Found")
    other = client.patch(
        f"/repos/acme/gadgets/issues/comments/{comment['id']}", headers=token_auth, json={"body": "x"}
    )
    assert other.status_code == 404
    assert fake.comment_edits == 1


def test_issue_comment_validation(fake: FakeGitHub, client: httpx.Client, token_auth: dict[str, str]) -> None:
    url = f"/repos/{REPO}/issues/7/comments"
    missing = client.post(url, headers=token_auth, json={})
    assert_message(missing, 422, "Validation Failed")
    assert missing.json()["errors"] == [
        {"resource": "IssueComment", "code": "missing_field", "field": "body"}
    ]
    assert client.post(url, headers=token_auth, json={"body": 5}).status_code == 422
    assert_message(client.post(url, headers=token_auth, content=b"{nope"), 400, "Problems parsing JSON")
    assert fake.comment_creates == 0
    comment = client.post(url, headers=token_auth, json={"body": "x"}).json()
    patch = client.patch(f"/repos/{REPO}/issues/comments/{comment['id']}", headers=token_auth, json={})
    assert patch.status_code == 422 and fake.comment_edits == 0
    # Without a pull set up, the comment is on an issue.
    assert f"/issues/7#issuecomment-{comment['id']}" in comment["html_url"]


def test_issue_comments_pagination(
    fake: FakeGitHub, client: httpx.Client, token_auth: dict[str, str]
) -> None:
    url = f"/repos/{REPO}/issues/3/comments"
    for i in range(5):
        assert client.post(url, headers=token_auth, json={"body": f"c{i}"}).status_code == 201
    assert fake.comment_creates == 5
    first = client.get(url, headers=token_auth, params={"per_page": 2})
    assert [c["body"] for c in first.json()] == ["c0", "c1"]
    assert 'rel="next"' in first.headers["link"] and 'rel="last"' in first.headers["link"]
    third = client.get(url, headers=token_auth, params={"per_page": 2, "page": 3})
    assert [c["body"] for c in third.json()] == ["c4"]
    assert 'rel="next"' not in third.headers["link"] and 'rel="prev"' in third.headers["link"]
    assert client.get(url, headers=token_auth, params={"per_page": 2, "page": 9}).json() == []
    everything = client.get(url, headers=token_auth)
    assert len(everything.json()) == 5 and "link" not in everything.headers
    # Following the Link header pages through everything.
    bodies, next_url = [], f"{url}?per_page=2"
    while next_url:
        page = client.get(next_url, headers=token_auth)
        bodies += [c["body"] for c in page.json()]
        next_url = page.links.get("next", {}).get("url", "")
    assert bodies == [f"c{i}" for i in range(5)]


def test_create_and_list_deployments(
    fake: FakeGitHub, client: httpx.Client, token_auth: dict[str, str]
) -> None:
    created = _deploy(client, token_auth)
    assert created.status_code == 201, created.text
    body = created.json()
    assert isinstance(body["id"], int)
    assert body["sha"] == SHA and body["ref"] == SHA and body["environment"] == "pr-7"
    assert body["transient_environment"] is True and body["production_environment"] is False
    assert body["payload"] == {"pr": 7} and body["description"] == "preview of #7"
    assert body["creator"]["login"] == "previewd[bot]" and body["task"] == "deploy"
    assert re.match(ISO_Z, body["created_at"]) and re.match(ISO_Z, body["updated_at"])
    assert fake.deployments[REPO] == [body] and fake.deployment_statuses[body["id"]] == []

    # A branch ref resolves through the pull request's head.
    fake.set_pull(REPO, 8, head_sha=OTHER_SHA, head_ref="feature-y")
    second = _deploy(client, token_auth, ref="feature-y", environment="pr-8").json()
    assert second["sha"] == OTHER_SHA and second["ref"] == "feature-y"
    third = _deploy(client, token_auth, ref=OTHER_SHA, environment="pr-8").json()
    unknown = _deploy(client, token_auth, ref="no-such-branch")
    assert_message(unknown, 422, "No ref found for: no-such-branch")

    url = f"/repos/{REPO}/deployments"
    everything = client.get(url, headers=token_auth).json()
    assert [d["id"] for d in everything] == [third["id"], second["id"], body["id"]]  # newest first
    by_sha = client.get(url, headers=token_auth, params={"sha": OTHER_SHA}).json()
    assert [d["id"] for d in by_sha] == [third["id"], second["id"]]
    by_env = client.get(url, headers=token_auth, params={"environment": "pr-7"}).json()
    assert [d["id"] for d in by_env] == [body["id"]]
    both = client.get(url, headers=token_auth, params={"sha": OTHER_SHA, "environment": "pr-7"}).json()
    assert both == []
    paged = client.get(url, headers=token_auth, params={"per_page": 1, "page": 2}).json()
    assert [d["id"] for d in paged] == [second["id"]]
    assert client.get("/repos/acme/gadgets/deployments", headers=token_auth).json() == []


def test_deployment_defaults(client: httpx.Client, token_auth: dict[str, str]) -> None:
    response = client.post(f"/repos/{REPO}/deployments", headers=token_auth, json={"ref": SHA})
    assert response.status_code == 201, response.text
    body = response.json()
    assert body["environment"] == "production" and body["production_environment"] is True
    assert body["transient_environment"] is False and body["payload"] == {}


@pytest.mark.parametrize(
    ("overrides", "field", "code"),
    [
        ({"required_contexts": "ci"}, "required_contexts", "invalid"),
        ({"required_contexts": None}, "required_contexts", "invalid"),
        ({"required_contexts": [1]}, "required_contexts", "invalid"),
        ({"auto_merge": "false"}, "auto_merge", "invalid"),
        ({"auto_merge": 0}, "auto_merge", "invalid"),
        ({"transient_environment": "yes"}, "transient_environment", "invalid"),
        ({"production_environment": 1}, "production_environment", "invalid"),
        ({"environment": 7}, "environment", "invalid"),
        ({"ref": None}, "ref", "missing_field"),
        ({"ref": 123}, "ref", "invalid"),
        ({"payload": [1]}, "payload", "invalid"),
    ],
)
def test_deployment_validation_is_422(
    fake: FakeGitHub,
    client: httpx.Client,
    token_auth: dict[str, str],
    overrides: dict[str, Any],
    field: str,
    code: str,
) -> None:
    response = _deploy(client, token_auth, **overrides)
    assert_message(response, 422, "Validation Failed")
    assert {"resource": "Deployment", "code": code, "field": field} in response.json()["errors"]
    assert not fake.deployments


def test_deployment_statuses(fake: FakeGitHub, client: httpx.Client, token_auth: dict[str, str]) -> None:
    deployment = _deploy(client, token_auth).json()
    url = f"/repos/{REPO}/deployments/{deployment['id']}/statuses"
    states = ["queued", "in_progress", "success"]
    for state in states:
        response = client.post(
            url,
            headers=token_auth,
            json={
                "state": state,
                "environment_url": "https://pr-7.preview.example",
                "log_url": "https://previewd.example/builds/1",
                "description": f"{state}",
            },
        )
        assert response.status_code == 201, response.text
        status = response.json()
        assert isinstance(status["id"], int) and status["state"] == state
        assert status["environment_url"] == "https://pr-7.preview.example"
        assert status["log_url"] == status["target_url"] == "https://previewd.example/builds/1"
        assert status["environment"] == "pr-7" and status["creator"]["type"] == "Bot"
        assert re.match(ISO_Z, status["created_at"]) and re.match(ISO_Z, status["updated_at"])
    assert [s["state"] for s in fake.deployment_statuses[deployment["id"]]] == states  # oldest first
    listed = client.get(url, headers=token_auth).json()
    assert [s["state"] for s in listed] == list(reversed(states))  # newest first
    assert [s["state"] for s in client.get(url, headers=token_auth, params={"per_page": 1}).json()] == [
        "success"
    ]

    for bad in ({"state": "done"}, {}, {"state": "success", "environment_url": 5}):
        assert_message(client.post(url, headers=token_auth, json=bad), 422, "Validation Failed")
    too_long = client.post(url, headers=token_auth, json={"state": "failure", "description": "x" * 141})
    assert too_long.status_code == 422
    assert len(fake.deployment_statuses[deployment["id"]]) == 3
    missing = f"/repos/{REPO}/deployments/999/statuses"
    assert_message(client.post(missing, headers=token_auth, json={"state": "success"}), 404, "Not Found")
    assert client.get(missing, headers=token_auth).status_code == 404
    other_repo = f"/repos/acme/gadgets/deployments/{deployment['id']}/statuses"
    assert client.get(other_repo, headers=token_auth).status_code == 404


def test_a_success_status_inactivates_earlier_deployments_of_a_persistent_environment(
    fake: FakeGitHub, client: httpx.Client, token_auth: dict[str, str]
) -> None:
    def deploy_and_succeed(transient: bool, environment: str = "staging") -> int:
        deployment_id: int = _deploy(
            client, token_auth, environment=environment, transient_environment=transient
        ).json()["id"]
        url = f"/repos/{REPO}/deployments/{deployment_id}/statuses"
        assert client.post(url, headers=token_auth, json={"state": "success"}).status_code == 201
        return deployment_id

    first = deploy_and_succeed(transient=False)
    other_env = deploy_and_succeed(transient=False, environment="qa")
    transient = deploy_and_succeed(transient=True)
    deploy_and_succeed(transient=False)
    assert [s["state"] for s in fake.deployment_statuses[first]] == ["success", "inactive"]
    assert [s["state"] for s in fake.deployment_statuses[other_env]] == ["success"]
    assert [s["state"] for s in fake.deployment_statuses[transient]] == ["success"]


def test_commit_statuses(fake: FakeGitHub, client: httpx.Client, token_auth: dict[str, str]) -> None:
    url = f"/repos/{REPO}/statuses/{SHA}"
    response = client.post(
        url,
        headers=token_auth,
        json={
            "state": "pending",
            "target_url": "https://previewd.example/builds/1",
            "description": "Building preview",
            "context": "previewd",
        },
    )
    assert response.status_code == 201, response.text
    status = response.json()
    assert isinstance(status["id"], int) and status["state"] == "pending" and status["context"] == "previewd"
    assert status["target_url"] == "https://previewd.example/builds/1"
    assert re.match(ISO_Z, status["created_at"]) and status["creator"]["login"] == "previewd[bot]"
    default = client.post(url, headers=token_auth, json={"state": "success"}).json()
    assert default["context"] == "default"
    assert [s["state"] for s in fake.commit_statuses[(REPO, SHA)]] == ["pending", "success"]

    for bad in ({"state": "in_progress"}, {}, {"state": "success", "context": 3}):
        assert_message(client.post(url, headers=token_auth, json=bad), 422, "Validation Failed")
    long = client.post(url, headers=token_auth, json={"state": "success", "description": "x" * 141})
    assert long.status_code == 422
    bad_sha = client.post(f"/repos/{REPO}/statuses/main", headers=token_auth, json={"state": "success"})
    assert_message(bad_sha, 422, "No commit found for SHA: main")
    assert len(fake.commit_statuses[(REPO, SHA)]) == 2


def test_fail_next_applies_to_reporting_endpoints(
    fake: FakeGitHub, client: httpx.Client, token_auth: dict[str, str]
) -> None:
    url = f"/repos/{REPO}/issues/7/comments"
    fake.fail_next(1, 502, path=r"/issues/\d+/comments$", method="POST")
    assert client.get(url, headers=token_auth).status_code == 200  # the filter spares GET
    failed = client.post(url, headers=token_auth, json={"body": "x"})
    assert failed.status_code == 502 and fake.comment_creates == 0
    assert fake.calls[-1].injected and not fake.calls[-2].injected
    fake.fail_next(1, 403, path=r"/deployments")
    limited = _deploy(client, token_auth)
    assert limited.status_code == 403 and limited.headers["retry-after"] == "1"
    assert not fake.deployments
    assert client.post(url, headers=token_auth, json={"body": "x"}).status_code == 201


def test_fail_rate_hits_reporting_but_never_tokens_or_git(
    fake: FakeGitHub, server: FakeGitHubServer, client: httpx.Client, shas: list[str]
) -> None:
    fake.fail_rate = 0.5
    tokens = [create_token(client) for _ in range(20)]
    assert {t.status_code for t in tokens} == {201}
    token = tokens[-1].json()["token"]
    auth = {"Authorization": f"token {token}"}
    assert (
        client.get(
            f"/repos/{REPO}/installation", headers={"Authorization": f"Bearer {make_jwt()}"}
        ).status_code
        == 200
    )
    git_url = f"{server.url}/{REPO}.git/info/refs?service=git-upload-pack"
    assert {httpx.get(git_url, auth=("x-access-token", token)).status_code for _ in range(10)} == {200}

    statuses = [
        client.post(f"/repos/{REPO}/statuses/{SHA}", headers=auth, json={"state": "success"})
        for _ in range(200)
    ]
    codes = [r.status_code for r in statuses]
    assert {500, 502, 503, 429, 403, 201} == set(codes)
    assert 60 <= codes.count(201) <= 140
    assert len(fake.commit_statuses[(REPO, SHA)]) == codes.count(201)
    for response in statuses:
        if response.status_code in (429, 403):
            assert response.headers["retry-after"] == "1"
        if response.status_code == 403:
            assert response.json()["message"].startswith("You have exceeded a secondary rate limit")
        if response.status_code == 429:
            assert response.headers["x-ratelimit-remaining"] == "0"
    assert sum(c.injected for c in fake.calls) == 200 - codes.count(201)

    # fail_next may still target the token endpoint explicitly.
    fake.fail_next(1, 500, path="access_tokens")
    assert create_token(client).status_code == 500


def test_fail_rate_is_seeded_and_validated(client: httpx.Client) -> None:
    def run() -> list[int]:
        fake = create_fake_github(app_id=APP_ID, public_key_pem=PUBLIC_PEM, seed=5, fail_rate=0.3)
        fake.add_installation(INSTALLATION, repos=[REPO])
        with FakeGitHubServer(fake) as server, httpx.Client(base_url=server.url, headers=HEADERS) as c:
            auth = {"Authorization": f"token {create_token(c).json()['token']}"}
            return [c.get(f"/repos/{REPO}/deployments", headers=auth).status_code for _ in range(30)]

    first = run()
    assert first == run() and 200 in first and set(first) != {200}
    with pytest.raises(ValueError):
        create_fake_github(app_id=APP_ID, public_key_pem=PUBLIC_PEM, fail_rate=1.5)


# --- collaborator permission ---------------------------------------------------------------------


def test_collaborator_permission_answers_the_legacy_level_and_the_role(
    fake: FakeGitHub, client: httpx.Client, token_auth: dict[str, str]
) -> None:
    fake.collaborators.update({(REPO, "mia"): "maintain", (REPO, "tom"): "triage", (REPO, "wes"): "write"})
    fake.known_users.add("org-member")
    auth = token_auth
    expected = {"mia": ("write", "maintain"), "tom": ("read", "triage"), "wes": ("write", "write"),
                "org-member": ("none", "none")}  # fmt: skip
    for login, (permission, role) in expected.items():
        response = client.get(f"/repos/{REPO}/collaborators/{login}/permission", headers=auth)
        assert response.status_code == 200, response.text
        body = response.json()
        assert (body["permission"], body["role_name"], body["user"]["login"]) == (permission, role, login)
    assert_message(
        client.get(f"/repos/{REPO}/collaborators/ghost/permission", headers=auth), 404, "Not Found"
    )
    # Another installation's token does not reach the repository.
    other = create_token(client, installation=7002).json()["token"]
    denied = client.get(
        f"/repos/{REPO}/collaborators/wes/permission", headers={"Authorization": f"token {other}"}
    )
    assert denied.status_code in (403, 404)
