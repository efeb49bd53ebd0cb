"""A loopback fake of the GitHub REST API (as a GitHub App sees it) and of git smart HTTP, for tests.

Written to docs.github.com ("Generating a JSON Web Token (JWT) for a GitHub App", "Create an
installation access token for an app", "Rate limits for the REST API", "Authenticating as a GitHub
App installation") and to what GitHub answers in practice:

- every REST request needs a `User-Agent` (else 403 with GitHub's "administrative rules" message),
  `Accept: application/vnd.github+json` (else 400; real GitHub tolerates a missing Accept, the fake is
  stricter on purpose) and `X-GitHub-Api-Version` (a missing one is recorded in
  `header_violations` and answered; an unsupported value is 400 "API version ... is not supported.")
- every REST answer carries `x-ratelimit-{limit,remaining,reset,used,resource}` and
  `x-github-request-id`
- `POST /app/installations/{installation_id}/access_tokens` wants `Authorization: Bearer <JWT>`: RS256,
  signed with the app's key, `iss` the app id (int or string) or client id, `iat` not in the future
  (60 s leeway), `exp` in the future and no more than 10 minutes ahead of the server clock. A bad JWT is
  401 with GitHub's message; an unknown installation 404; success 201 with a `ghs_` token good for an hour
- git smart HTTP (`/{owner}/{name}(.git)/info/refs?service=git-upload-pack`,
  `/{owner}/{name}(.git)/git-upload-pack`) is served by `git http-backend` from a bare repository on
  disk, behind HTTP Basic `x-access-token:<installation token>`: no/invalid credentials are 401 with
  `WWW-Authenticate: Basic realm="GitHub"`, a valid token without access to the repo is 404
  "Repository not found." (as GitHub does, so as not to leak private repos)

Also served, because a GitHub App client needs them: `GET /app/installations/{installation_id}` and
`GET /repos/{owner}/{repo}/installation` (JWT), and `DELETE /installation/token` (revokes the token).

What a GitHub App reports on a pull request with, behind an installation token (`Authorization: token
<t>` or `Bearer <t>`) whose installation reaches the repository; no credentials or a token without the
repository is 404 "Not Found" (the repositories are private), a bad/expired/revoked token 401 "Bad
credentials":

- `GET /repos/{o}/{r}/pulls/{n}` (pulls are set up with `FakeGitHub.set_pull`)
- `GET`/`POST /repos/{o}/{r}/issues/{n}/comments` (`per_page`/`page`, with a `Link` header) and
  `PATCH /repos/{o}/{r}/issues/comments/{comment_id}`
- `GET`/`POST /repos/{o}/{r}/deployments` (filters `sha`, `ref`, `task`, `environment`; newest first)
  and `GET`/`POST /repos/{o}/{r}/deployments/{id}/statuses` (newest first; a `success` status with
  `auto_inactive` (default true) marks the earlier successful non-transient, non-production deployments
  of the same environment `inactive`, as GitHub does)
- `POST /repos/{o}/{r}/statuses/{sha}`

A malformed JSON body is 400 "Problems parsing JSON"; a bad field is 422 "Validation Failed" with
`errors: [{"resource", "code", "field"}]`. Every successful GET carries a weak `ETag`; a request
whose `If-None-Match` names it is answered 304 with no body and does not count against the rate
limit. `fail_rate` makes these routes (and only these) fail at random with 500/502/503/429/
secondary-rate-limit 403, from a seeded generator.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import hashlib
import json
import os
import random
import re
import secrets
import shutil
import string
import subprocess
import threading
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from joserfc import jwt
from joserfc.errors import JoseError
from joserfc.jwk import RSAKey
from joserfc.jwt import JWTClaimsRegistry
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from tests.fakes.loopback import LoopbackServer

if TYPE_CHECKING:
    from tests.fakes.github_hooks import HookAttempt

Json = dict[str, Any]

API_VERSION = "2022-11-28"
MEDIA_TYPE = "application/vnd.github+json"
DOCS = "https://docs.github.com/rest"
API_BASE = "https://api.github.com"
PULLS_DOCS = "https://docs.github.com/rest/pulls/pulls#get-a-pull-request"
LIST_PULLS_DOCS = "https://docs.github.com/rest/pulls/pulls#list-pull-requests"
COLLABORATOR_PERMISSION_DOCS = (
    "https://docs.github.com/rest/collaborators/collaborators#get-repository-permissions-for-a-user"
)
COMMENTS_DOCS = "https://docs.github.com/rest/issues/comments"
DEPLOYMENTS_DOCS = "https://docs.github.com/rest/deployments/deployments"
DEPLOYMENT_STATUSES_DOCS = "https://docs.github.com/rest/deployments/statuses"
STATUSES_DOCS = "https://docs.github.com/rest/commits/statuses#create-a-commit-status"
DEPLOYMENT_STATES = ("error", "failure", "inactive", "in_progress", "queued", "pending", "success")
COMMIT_STATES = ("error", "failure", "pending", "success")
RANDOM_FAULT_STATUSES = (500, 502, 503, 429, 403)
TOKEN_DOCS = "https://docs.github.com/rest/apps/apps#create-an-installation-access-token-for-an-app"
RATE_LIMIT_DOCS = "https://docs.github.com/rest/using-the-rest-api/rate-limits-for-the-rest-api"
SECONDARY_RATE_LIMIT_DOCS = (
    "https://docs.github.com/free-pro-team@latest/rest/overview/rate-limits-for-the-rest-api"
    "#about-secondary-rate-limits"
)
USER_AGENT_MESSAGE = (
    "Request forbidden by administrative rules. Please make sure your request has a User-Agent header "
    "(https://docs.github.com/en/rest/overview/resources-in-the-rest-api#user-agent-required). "
    "Check https://developer.github.com for other possible causes."
)
JWT_UNDECODABLE = "A JSON web token could not be decoded"
JWT_EXPIRED = (
    "'Expiration time' claim ('exp') must be a numeric value representing the future time at which "
    "the assertion expires"
)
JWT_TOO_LONG = "'Expiration time' claim ('exp') is too far in the future"
JWT_BAD_IAT = (
    "'Issued at' claim ('iat') must be an Integer representing the time that the assertion was issued"
)
SECONDARY_RATE_LIMIT_MESSAGE = (
    "You have exceeded a secondary rate limit. Please wait a few minutes before you try again. "
    "If you reach out to GitHub Support for help, please include the request ID {request_id}."
)
DEFAULT_PERMISSIONS: dict[str, str] = {
    "contents": "read",
    "metadata": "read",
    "pull_requests": "write",
    "statuses": "write",
}
_PERMISSION_RANK = {"read": 1, "write": 2, "admin": 3}
_TOKEN_ALPHABET = string.ascii_letters + string.digits
_GIT_PATH = re.compile(r"^/(?P<owner>[^/]+)/(?P<name>[^/]+?)(?:\.git)?/(?P<rest>info/refs|git-upload-pack)$")
_SHA = re.compile(r"^[0-9a-fA-F]{40}$")
# The routes `fail_rate` applies to: what reports on a pull request, not token minting nor git.
_REPORTING_PATH = re.compile(r"^/repos/[^/]+/[^/]+/(?:pulls|issues|deployments|statuses)(?:/|$)")
# Only RS256: an HS256 token "signed" with the public key is refused.
_JWT_ALGORITHMS = ["RS256"]


def _iso(epoch: float) -> str:
    return datetime.fromtimestamp(int(epoch), UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _node_id(kind: str, number: int) -> str:
    return base64.b64encode(f"0{len(kind)}:{kind}{number}".encode()).decode()


class GitHubError(Exception):
    """An error answer: HTTP status, `{"message", "documentation_url"}` body and extra headers."""

    def __init__(
        self,
        status: int,
        message: str,
        documentation_url: str = DOCS,
        headers: dict[str, str] | None = None,
        errors: list[Json] | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.documentation_url = documentation_url
        self.headers = dict(headers or {})
        self.errors = errors


def _validation_failed(resource: str, errors: list[tuple[str, str]], docs: str) -> GitHubError:
    """422 "Validation Failed" with GitHub's `errors: [{resource, code, field}]` (code per field)."""
    return GitHubError(
        422,
        "Validation Failed",
        docs,
        errors=[{"resource": resource, "code": code, "field": name} for name, code in errors],
    )


@dataclass
class _WithHeaders:
    """A route's payload plus headers to send with it (e.g. the `Link` header of a paginated list)."""

    payload: Any
    headers: dict[str, str]


@dataclass
class Installation:
    id: int
    account: str
    repos: list[str]  # "owner/name"
    permissions: dict[str, str]
    repository_selection: str  # "all" or "selected"; `repos` is what the installation can reach either way


@dataclass
class IssuedToken:
    """An installation access token the fake handed out. `expires_at` is epoch seconds; edit it to expire."""

    token: str
    installation_id: int
    expires_at: float
    repos: list[str]
    permissions: dict[str, str]
    revoked: bool = False

    def valid(self, now: float | None = None) -> bool:
        return not self.revoked and (time.time() if now is None else now) < self.expires_at


@dataclass
class HeaderViolation:
    method: str
    path: str
    header: str
    value: str | None


@dataclass
class GitAuthUse:
    """One git request: which token (first 8 characters, or None without credentials) for which repo."""

    repo: str
    token_prefix: str | None
    username: str | None
    status: int


@dataclass
class Call:
    method: str
    path: str
    status: int
    request_id: str
    injected: bool = False  # answered by `fail_next` or `fail_rate`, not by the route


@dataclass
class Fault:
    status: int
    headers: dict[str, str]
    body: Any
    path: str | None = None  # regex searched in the request path; None matches every API route
    method: str | None = None


def _fault(
    status: int,
    headers: dict[str, str] | None = None,
    body: Any = None,
    path: str | None = None,
    method: str | None = None,
) -> Fault:
    default_headers: dict[str, str] = {}
    if status == 403:
        default_headers = {"retry-after": "1"}
    elif status == 429:
        default_headers = {"retry-after": "1", "x-ratelimit-remaining": "0"}
    return Fault(status, {**default_headers, **(headers or {})}, body, path, method)


@dataclass
class RateLimit:
    limit: int = 5000
    used: int = 0
    window: float = 3600.0
    reset: float = field(default_factory=lambda: time.time() + 3600.0)


class FakeGitHub:
    """In-memory GitHub for a GitHub App. `.app` is the ASGI app; the rest is inspectable state and knobs."""

    def __init__(
        self,
        *,
        app_id: int,
        public_key_pem: bytes,
        client_id: str | None = None,
        token_ttl: float = 3600.0,
        iat_leeway: float = 60.0,
        max_jwt_ahead: float = 600.0,
        require_accept: bool = True,
        seed: int | None = None,
        app_slug: str = "previewd",
        fail_rate: float = 0.0,
    ) -> None:
        if not 0.0 <= fail_rate <= 1.0:
            raise ValueError(f"fail_rate must be within [0, 1], got {fail_rate}")
        self.app_id = app_id
        self.app_slug = app_slug
        self.client_id = client_id
        self.public_key_pem = public_key_pem
        self.token_ttl = token_ttl
        self.iat_leeway = iat_leeway
        self.max_jwt_ahead = max_jwt_ahead
        self.require_accept = require_accept
        self.supported_api_versions: set[str] = {API_VERSION}
        self.rng = random.Random(seed)
        # `fail_rate` draws from its own generator, so request ids do not shift which calls fail.
        self.fault_rng = random.Random(seed)
        self.fail_rate = fail_rate

        self.installations: dict[int, Installation] = {}
        self.repos: dict[str, Path] = {}  # "owner/name" -> bare repository
        self.public_repos: set[str] = set()  # of `repos`: cloned without credentials, as on GitHub
        self.repo_ids: dict[str, int] = {}
        self.tokens: dict[str, IssuedToken] = {}
        self.tokens_issued = 0
        self.header_violations: list[HeaderViolation] = []
        self.git_auth_log: list[GitAuthUse] = []
        self.calls: list[Call] = []
        self.rate_limit = RateLimit()
        self._faults: list[Fault] = []
        self._lock = threading.Lock()

        # Pull-request reporting state; lists are oldest first.
        self.pulls: dict[tuple[str, int], Json] = {}
        self.comments: dict[tuple[str, int], list[Json]] = {}
        self.comment_creates = 0
        self.comment_edits = 0
        # Every body each comment had, oldest first (comment id -> bodies): what a PR's readers saw
        # over time, such as a warning that a later edit replaced.
        self.comment_bodies: dict[int, list[str]] = {}
        self.deployments: dict[str, list[Json]] = {}
        self.deployment_statuses: dict[int, list[Json]] = {}
        self.commit_statuses: dict[tuple[str, str], list[Json]] = {}
        # (repository, login) -> role on it: "admin", "maintain", "write", "triage" or "read". A login
        # in `known_users` without a role has none; any other login does not exist (404).
        self.collaborators: dict[tuple[str, str], str] = {}
        self.known_users: set[str] = set()
        self._ids: dict[str, int] = {}

        # Sign-in and user-token routes (a separate module, imported here as it imports this one).
        from tests.fakes.github_user import GitHubUsers

        self.users = GitHubUsers(self)
        from tests.fakes.github_hooks import GitHubHooks

        # The App's webhook: what GitHub sends, its delivery log and redelivery.
        self.hooks = GitHubHooks(self)

        self.app = Starlette(
            routes=[Route("/{path:path}", self._dispatch, methods=["GET", "POST", "PUT", "PATCH", "DELETE"])]
        )

    # --- setup and knobs for tests --------------------------------------------------------------

    def add_installation(
        self,
        installation_id: int,
        repos: list[str],
        *,
        permissions: dict[str, str] | None = None,
        repository_selection: str = "all",
    ) -> Installation:
        """Install the app on `repos` ("owner/name"); the account is the first repo's owner."""
        account = repos[0].split("/", 1)[0] if repos else "octo-org"
        for full_name in repos:
            self.repo_ids.setdefault(full_name, 100_000 + len(self.repo_ids))
        installation = Installation(
            installation_id,
            account,
            list(repos),
            dict(permissions or DEFAULT_PERMISSIONS),
            repository_selection,
        )
        self.installations[installation_id] = installation
        return installation

    def add_repo(self, full_name: str, bare_repo_path: str | os.PathLike[str]) -> None:
        """Serve the bare repository at `bare_repo_path` as https://github.com/{full_name}.git."""
        self.repos[full_name] = Path(bare_repo_path).resolve()
        self.repo_ids.setdefault(full_name, 100_000 + len(self.repo_ids))

    def fail_next(
        self,
        n: int,
        status: int,
        headers: dict[str, str] | None = None,
        body: Any = None,
        *,
        path: str | None = None,
        method: str | None = None,
    ) -> None:
        """Answer the next `n` well-formed REST requests (matching `path` regex/`method`) with `status`.

        Defaults by status: 403 is a secondary rate limit (`retry-after: 1`); 429 is "API rate limit
        exceeded" with `retry-after: 1` and `x-ratelimit-remaining: 0`; 5xx is `{"message": "Server
        Error"}`. `headers`/`body` override (a `str` body is sent as text/plain). Git routes never fail.
        """
        with self._lock:
            for _ in range(n):
                self._faults.append(_fault(status, headers, body, path, method))

    def set_pull(
        self,
        repo: str,
        number: int,
        *,
        head_sha: str,
        state: str = "open",
        head_ref: str | None = None,
        base_ref: str = "main",
        title: str | None = None,
    ) -> Json:
        """Create or update pull request `number` of `repo`; `state` is "open", "closed" or "merged"
        (closed with `merged: true`). Updating keeps `id`/`created_at` and moves `updated_at`."""
        if state not in ("open", "closed", "merged"):
            raise ValueError(f"state must be open, closed or merged, got {state!r}")
        if not _SHA.match(head_sha):
            raise ValueError(f"head_sha must be 40 hex digits, got {head_sha!r}")
        now = _iso(time.time())
        with self._lock:
            old = self.pulls.get((repo, number))
            pull_id = old["id"] if old else self._new_id("pull")
            ref = head_ref or (old["head"]["ref"] if old else f"feature-{number}")
            owner = repo.split("/", 1)[0]
            view = self._repo_view(repo)
            base_sha = hashlib.sha1(f"{repo}:{base_ref}".encode()).hexdigest()
            pull: Json = {
                "url": f"{API_BASE}/repos/{repo}/pulls/{number}",
                "id": pull_id,
                "node_id": _node_id("PullRequest", pull_id),
                "html_url": f"https://github.com/{repo}/pull/{number}",
                "number": number,
                "state": "open" if state == "open" else "closed",
                "locked": False,
                "title": title or (old["title"] if old else f"Pull request {number}"),
                "user": {"login": owner, "type": "Organization"},
                "draft": False,
                "merged": state == "merged",
                "head": {"label": f"{owner}:{ref}", "ref": ref, "sha": head_sha.lower(), "repo": view},
                "base": {"label": f"{owner}:{base_ref}", "ref": base_ref, "sha": base_sha, "repo": view},
                "created_at": old["created_at"] if old else now,
                "updated_at": now,
                "closed_at": None if state == "open" else now,
                "merged_at": now if state == "merged" else None,
            }
            self.pulls[(repo, number)] = pull
        return pull

    def send_pull_request_event(
        self, repo: str, number: int, action: str, *, installation: int
    ) -> HookAttempt | None:
        """GitHub sends a `pull_request` event for PR `number` as set with `set_pull`, shaped the way
        GitHub shapes it; None while the App's webhook is switched off."""
        pull = self.pulls[(repo, number)]
        payload = {
            "action": action, "number": number, "pull_request": pull, "repository": self._repo_view(repo),
            "installation": {"id": installation}, "sender": pull["user"],
        }  # fmt: skip
        return self.hooks.deliver("pull_request", payload)

    @property
    def pending_faults(self) -> int:
        with self._lock:
            return len(self._faults)

    def valid_tokens(self) -> list[IssuedToken]:
        now = time.time()
        return [t for t in list(self.tokens.values()) if t.valid(now)]

    # --- dispatch -------------------------------------------------------------------------------

    async def _dispatch(self, request: Request) -> Response:
        match = _GIT_PATH.match(request.url.path)
        if match is not None:
            return await self._git(request, match["owner"], match["name"], match["rest"])
        if request.url.path.startswith(("/login/oauth/", "/apps/")):
            return await self.users.oauth(request)
        return await self._api(request)

    def _request_id(self) -> str:
        r = self.rng
        return (
            f"{r.randrange(16**4):04X}:{r.randrange(16**6):06X}:{r.randrange(16**7):07X}:"
            f"{r.randrange(16**7):07X}:{int(time.time()):08X}"
        )

    def _rate_headers(self, exhausted: bool = False, counted: bool = True) -> dict[str, str]:
        with self._lock:
            rl = self.rate_limit
            now = time.time()
            if now >= rl.reset:
                rl.used, rl.reset = 0, now + rl.window
            rl.used += 1 if counted else 0
            remaining = 0 if exhausted else max(0, rl.limit - rl.used)
            return {
                "x-ratelimit-limit": str(rl.limit),
                "x-ratelimit-remaining": str(remaining),
                "x-ratelimit-reset": str(int(rl.reset)),
                "x-ratelimit-used": str(rl.used),
                "x-ratelimit-resource": "core",
            }

    async def _api(self, request: Request) -> Response:
        request_id = self._request_id()
        method, path = request.method, request.url.path
        extra: dict[str, str] = {}
        injected = False
        try:
            self._check_headers(request)
            fault = self._take_fault(method, path) or self._random_fault(path)
            if fault is not None:
                response = self._fault_response(fault, request_id)
                extra = fault.headers
                injected = True
            else:
                status, payload = await self._route(request, method, path)
                if isinstance(payload, _WithHeaders):
                    payload, extra = payload.payload, payload.headers
                response = self._json(status, payload)
                if method == "GET" and status == 200:
                    response = self._conditional(request, response)
        except GitHubError as exc:
            body: Json = {"message": exc.message, "documentation_url": exc.documentation_url}
            if exc.errors is not None:
                body = {
                    "message": exc.message,
                    "errors": exc.errors,
                    "documentation_url": exc.documentation_url,
                }
            response = self._json(exc.status, body)
            extra = exc.headers
        exhausted = extra.get("x-ratelimit-remaining") == "0"
        # A 304 does not count against the primary rate limit (docs: "Use conditional requests").
        counted = response.status_code != 304
        for name, value in {**self._rate_headers(exhausted, counted), **extra}.items():
            response.headers[name] = value
        response.headers["x-github-request-id"] = request_id
        response.headers["x-github-api-version-selected"] = API_VERSION
        response.headers["x-github-media-type"] = "github.v3; format=json"
        self.calls.append(Call(method, path, response.status_code, request_id, injected))
        return response

    def _check_headers(self, request: Request) -> None:
        method, path = request.method, request.url.path
        if not request.headers.get("user-agent"):
            self.header_violations.append(HeaderViolation(method, path, "User-Agent", None))
            raise GitHubError(403, USER_AGENT_MESSAGE)
        accept = request.headers.get("accept")
        media_types = [part.split(";")[0].strip().lower() for part in (accept or "").split(",")]
        if MEDIA_TYPE not in media_types:
            self.header_violations.append(HeaderViolation(method, path, "Accept", accept))
            if self.require_accept:
                raise GitHubError(400, f"Accept header must be {MEDIA_TYPE} (got {accept!r})")
        version = request.headers.get("x-github-api-version")
        if version is None:
            self.header_violations.append(HeaderViolation(method, path, "X-GitHub-Api-Version", None))
        elif version not in self.supported_api_versions:
            self.header_violations.append(HeaderViolation(method, path, "X-GitHub-Api-Version", version))
            raise GitHubError(
                400,
                f"API version {version} is not supported.",
                "https://docs.github.com/rest/about-the-rest-api/api-versions",
            )

    def _take_fault(self, method: str, path: str) -> Fault | None:
        with self._lock:
            for i, fault in enumerate(self._faults):
                if (fault.method is None or fault.method.upper() == method) and (
                    fault.path is None or re.search(fault.path, path)
                ):
                    return self._faults.pop(i)
        return None

    def _random_fault(self, path: str) -> Fault | None:
        """With probability `fail_rate`, a random failure for a pull-request reporting route."""
        if self.fail_rate <= 0 or not _REPORTING_PATH.match(path):
            return None
        with self._lock:
            if self.fault_rng.random() >= self.fail_rate:
                return None
            return _fault(self.fault_rng.choice(RANDOM_FAULT_STATUSES))

    def _fault_response(self, fault: Fault, request_id: str) -> Response:
        body = fault.body
        if body is None:
            if fault.status == 403:
                message = SECONDARY_RATE_LIMIT_MESSAGE.format(request_id=request_id)
                body = {"message": message, "documentation_url": SECONDARY_RATE_LIMIT_DOCS}
            elif fault.status == 429:
                body = {
                    "message": "API rate limit exceeded for installation.",
                    "documentation_url": RATE_LIMIT_DOCS,
                }
            else:
                body = {
                    "message": "Server Error" if fault.status >= 500 else f"injected failure {fault.status}"
                }
        if isinstance(body, str | bytes):
            return Response(body, status_code=fault.status, media_type="text/plain")
        return self._json(fault.status, body)

    @staticmethod
    def _conditional(request: Request, response: Response) -> Response:
        """GitHub sends a weak ETag with every GET; `If-None-Match` with it gets an empty 304."""
        etag = f'W/"{hashlib.sha256(response.body).hexdigest()[:40]}"'
        if etag in [tag.strip() for tag in request.headers.get("if-none-match", "").split(",")]:
            return Response(status_code=304, headers={"ETag": etag})
        response.headers["ETag"] = etag
        return response

    @staticmethod
    def _json(status: int, payload: Any) -> Response:
        if payload is None:
            return Response(status_code=status)
        return Response(json.dumps(payload), status_code=status, media_type="application/json; charset=utf-8")

    async def _route(self, request: Request, method: str, path: str) -> tuple[int, Any]:
        parts = [p for p in path.split("/") if p]
        if method == "POST" and len(parts) == 4 and parts[:2] == ["app", "installations"]:
            if parts[3] == "access_tokens":
                return await self._create_token(request, parts[2])
        if method == "GET" and len(parts) == 3 and parts[:2] == ["app", "installations"]:
            self._check_jwt(request)
            return 200, self._installation_view(self._installation(parts[2]))
        if method == "GET" and len(parts) == 4 and parts[0] == "repos" and parts[3] == "installation":
            self._check_jwt(request)
            full_name = f"{parts[1]}/{parts[2]}"
            for installation in self.installations.values():
                if full_name in installation.repos:
                    return 200, self._installation_view(installation)
            raise GitHubError(
                404,
                "Not Found",
                "https://docs.github.com/rest/apps/apps#get-a-repository-installation-for-the-authenticated-app",
            )
        if parts[:3] == ["app", "hook", "deliveries"]:
            return await self.hooks.route(request, method, parts)
        if method == "DELETE" and parts == ["installation", "token"]:
            issued = self._check_installation_token(request)
            issued.revoked = True
            return 204, None
        if parts and parts[0] in ("user", "repos") and self.users.holds_user_token(request):
            return await self.users.route(request, method, parts)
        if len(parts) >= 4 and parts[0] == "repos":
            return await self._repo_route(request, method, f"{parts[1]}/{parts[2]}", parts[3:])
        if parts and parts[0] == "user":
            return await self.users.route(request, method, parts)
        raise GitHubError(404, "Not Found")

    # --- app JWT and installation tokens ----------------------------------------------------------

    def _check_jwt(self, request: Request) -> Json:
        scheme, _, credential = request.headers.get("authorization", "").partition(" ")
        if not scheme:
            raise GitHubError(401, "Requires authentication")
        if scheme.lower() != "bearer" or not credential.strip():
            raise GitHubError(401, JWT_UNDECODABLE)
        try:
            key = RSAKey.import_key(self.public_key_pem)
            claims = jwt.decode(credential.strip(), key, algorithms=_JWT_ALGORITHMS).claims
        except (JoseError, ValueError):  # a bad signature or algorithm, or no JWT at all
            raise GitHubError(401, JWT_UNDECODABLE) from None
        now = time.time()
        exp, iat, iss = claims.get("exp"), claims.get("iat"), claims.get("iss")
        if not isinstance(exp, int | float) or isinstance(exp, bool) or exp <= now:
            raise GitHubError(401, JWT_EXPIRED)
        if not isinstance(iat, int | float) or isinstance(iat, bool) or iat > now + self.iat_leeway:
            raise GitHubError(401, JWT_BAD_IAT)
        if exp > now + self.max_jwt_ahead:
            raise GitHubError(401, JWT_TOO_LONG)
        accepted_iss = {str(self.app_id)} | ({self.client_id} if self.client_id else set())
        if isinstance(iss, bool) or str(iss) not in accepted_iss:
            # GitHub looks the app's key up by `iss`: another app's id fails the signature check.
            raise GitHubError(401, JWT_UNDECODABLE)
        try:
            # `iss` is checked above the way GitHub does (a number is fine); joserfc wants a string.
            timing = {name: value for name, value in claims.items() if name != "iss"}
            JWTClaimsRegistry(now=int(now), leeway=int(self.iat_leeway)).validate(timing)
        except JoseError:
            raise GitHubError(401, JWT_UNDECODABLE) from None
        return dict(claims)

    def _installation(self, raw_id: str) -> Installation:
        installation = self.installations.get(int(raw_id)) if raw_id.isdigit() else None
        if installation is None:
            raise GitHubError(404, "Not Found", TOKEN_DOCS)
        return installation

    def _repo_view(self, full_name: str) -> Json:
        owner, name = full_name.split("/", 1)
        repo_id = self.repo_ids.setdefault(full_name, 100_000 + len(self.repo_ids))
        return {
            "id": repo_id,
            "node_id": base64.b64encode(f"010:Repository{repo_id}".encode()).decode(),
            "name": name,
            "full_name": full_name,
            "private": True,
            "owner": {"login": owner, "type": "Organization"},
            "html_url": f"https://github.com/{full_name}",
            "clone_url": f"https://github.com/{full_name}.git",
            "default_branch": "main",
        }

    def _installation_view(self, installation: Installation) -> Json:
        return {
            "id": installation.id,
            "app_id": self.app_id,
            "account": {"login": installation.account, "type": "Organization"},
            "target_type": "Organization",
            "repository_selection": installation.repository_selection,
            "permissions": dict(installation.permissions),
            "events": ["pull_request", "push"],
            "access_tokens_url": f"https://api.github.com/app/installations/{installation.id}/access_tokens",
            "suspended_at": None,
        }

    async def _create_token(self, request: Request, raw_id: str) -> tuple[int, Any]:
        self._check_jwt(request)
        installation = self._installation(raw_id)
        raw = await request.body()
        try:
            body = json.loads(raw) if raw.strip() else {}
        except ValueError:
            raise GitHubError(400, "Problems parsing JSON", TOKEN_DOCS) from None
        if not isinstance(body, dict):
            raise GitHubError(400, "Problems parsing JSON", TOKEN_DOCS)
        repos = list(installation.repos)
        selection = installation.repository_selection
        names = body.get("repositories")
        ids = body.get("repository_ids")
        if names is not None or ids is not None:
            wanted: list[str] = []
            by_name = {r.split("/", 1)[1]: r for r in installation.repos}
            by_id = {self.repo_ids.get(r): r for r in installation.repos}
            for item in names or []:
                wanted.append(by_name.get(str(item), ""))
            for item in ids or []:
                wanted.append(by_id.get(item, "") if isinstance(item, int) else "")
            if "" in wanted or not wanted:
                raise GitHubError(
                    422,
                    "There is at least one repository that does not exist or is not accessible to the "
                    "parent installation.",
                    TOKEN_DOCS,
                )
            repos, selection = list(dict.fromkeys(wanted)), "selected"
        permissions = dict(installation.permissions)
        if body.get("permissions") is not None:
            asked = body["permissions"]
            if not isinstance(asked, dict) or any(
                _PERMISSION_RANK.get(str(level), 99)
                > _PERMISSION_RANK.get(installation.permissions.get(k, ""), 0)
                for k, level in asked.items()
            ):
                raise GitHubError(
                    422, "The permissions requested are not granted to this installation.", TOKEN_DOCS
                )
            permissions = {str(k): str(v) for k, v in asked.items()}
        token = "ghs_" + "".join(secrets.choice(_TOKEN_ALPHABET) for _ in range(36))
        expires_at = time.time() + self.token_ttl
        with self._lock:
            self.tokens[token] = IssuedToken(token, installation.id, expires_at, repos, permissions)
            self.tokens_issued += 1
        payload: Json = {
            "token": token,
            "expires_at": _iso(expires_at),
            "permissions": permissions,
            "repository_selection": selection,
        }
        if selection == "selected":
            payload["repositories"] = [self._repo_view(r) for r in repos]
        return 201, payload

    def _new_id(self, kind: str) -> int:
        """The next id for `kind` (caller holds the lock); kinds count from different bases."""
        bases = {"pull": 1_800_000_000, "comment": 2_400_000_000, "deployment": 1_500_000_000}
        self._ids[kind] = self._ids.get(kind, bases.get(kind, 3_000_000_000)) + 1
        return self._ids[kind]

    def _check_installation_token(self, request: Request) -> IssuedToken:
        scheme, _, credential = request.headers.get("authorization", "").partition(" ")
        issued = self.tokens.get(credential.strip()) if scheme.lower() in ("bearer", "token") else None
        if issued is None or not issued.valid():
            raise GitHubError(401, "Bad credentials")
        return issued

    # --- pull-request reporting (installation token) -----------------------------------------------

    def _check_repo_token(self, request: Request, full_name: str) -> IssuedToken:
        """The installation token of `request`, if it reaches `full_name`. Anonymous callers and tokens
        of installations without the repository get 404, as GitHub answers for a private repository."""
        if not request.headers.get("authorization"):
            raise GitHubError(404, "Not Found")
        issued = self._check_installation_token(request)
        installation = self.installations.get(issued.installation_id)
        if full_name not in issued.repos or installation is None or full_name not in installation.repos:
            raise GitHubError(404, "Not Found")
        return issued

    async def _repo_route(self, request: Request, method: str, repo: str, rest: list[str]) -> tuple[int, Any]:
        self._check_repo_token(request, repo)
        n = len(rest)
        if rest[0] == "pulls" and n == 1 and method == "GET":
            return 200, self.list_pulls(request, repo)
        if rest[0] == "pulls" and n == 2 and rest[1].isdigit() and method == "GET":
            pull = self.pulls.get((repo, int(rest[1])))
            if pull is None:
                raise GitHubError(404, "Not Found", PULLS_DOCS)
            return 200, pull
        if rest[0] == "issues" and n == 3 and rest[1].isdigit() and rest[2] == "comments":
            if method == "GET":
                with self._lock:
                    listed = list(self.comments.get((repo, int(rest[1])), []))
                return 200, self._paginate(request, listed)
            if method == "POST":
                return 201, await self._create_comment(request, repo, int(rest[1]))
        if rest[:2] == ["issues", "comments"] and n == 3 and rest[2].isdigit() and method == "PATCH":
            return 200, await self._edit_comment(request, repo, int(rest[2]))
        if rest[0] == "deployments" and n == 1:
            if method == "GET":
                return 200, self._list_deployments(request, repo)
            if method == "POST":
                return 201, await self._create_deployment(request, repo)
        if rest[0] == "deployments" and n == 3 and rest[1].isdigit() and rest[2] == "statuses":
            deployment = self._deployment(repo, int(rest[1]))
            if method == "GET":
                with self._lock:
                    listed = list(reversed(self.deployment_statuses.get(deployment["id"], [])))
                return 200, self._paginate(request, listed)
            if method == "POST":
                return 201, await self._create_deployment_status(request, repo, deployment)
        if rest[0] == "collaborators" and n == 3 and rest[2] == "permission" and method == "GET":
            return 200, self._collaborator_permission(repo, rest[1])
        if rest[0] == "statuses" and n == 2 and method == "POST":
            return 201, await self._create_commit_status(request, repo, rest[1])
        if rest[0] == "collaborators" and n == 3 and rest[2] == "permission" and method == "GET":
            return 200, self.users.collaborator_permission(repo, rest[1])
        raise GitHubError(404, "Not Found")

    def list_pulls(self, request: Request, repo: str) -> _WithHeaders:
        """GET /repos/{o}/{r}/pulls ("List pull requests"): `state` open (default), closed or all;
        `sort` created (default), updated, popularity or long-running; `direction` desc by default
        for created, asc otherwise; `base` (a branch) and `head` (`user:ref`) filters; pages."""
        query = request.query_params
        state, sort = query.get("state", "open"), query.get("sort", "created")
        if state not in ("open", "closed", "all") or sort not in (
            "created",
            "updated",
            "popularity",
            "long-running",
        ):
            raise _validation_failed("PullRequest", [("state" if state not in ("open", "closed", "all")
                                                      else "sort", "invalid")], LIST_PULLS_DOCS)  # fmt: skip
        direction = query.get("direction", "desc" if sort == "created" else "asc")
        with self._lock:
            pulls = [dict(p) for (name, _), p in self.pulls.items() if name == repo]
        pulls = [p for p in pulls if state == "all" or p["state"] == state]
        if base := query.get("base"):
            pulls = [p for p in pulls if p["base"]["ref"] == base]
        if head := query.get("head"):
            pulls = [p for p in pulls if p["head"]["label"] == head]
        key = "updated_at" if sort == "updated" else "created_at"
        pulls.sort(key=lambda p: (p[key], p["number"]), reverse=direction == "desc")
        return self._paginate(request, pulls)

    def _collaborator_permission(self, repo: str, login: str) -> Json:
        """GET /repos/{owner}/{repo}/collaborators/{username}/permission: `permission` is the legacy
        level (maintain reads as write, triage as read), `role_name` the role itself."""
        with self._lock:
            role = self.collaborators.get((repo, login))
            if role is None and login not in self.known_users:
                raise GitHubError(404, "Not Found", COLLABORATOR_PERMISSION_DOCS)
        legacy = {"admin": "admin", "maintain": "write", "write": "write", "triage": "read", "read": "read"}
        user = {
            "login": login, "id": 500_000 + len(login), "type": "User", "site_admin": False,
            "permissions": {
                "admin": role == "admin", "maintain": role in ("admin", "maintain"),
                "push": role in ("admin", "maintain", "write"),
                "triage": role in ("admin", "maintain", "write", "triage"), "pull": role is not None,
            },
            "role_name": role or "none",
        }  # fmt: skip
        return {"permission": legacy.get(role or "", "none"), "role_name": role or "none", "user": user}

    async def _json_object(self, request: Request, docs: str) -> Json:
        raw = await request.body()
        try:
            body = json.loads(raw) if raw.strip() else {}
        except ValueError:
            raise GitHubError(400, "Problems parsing JSON", docs) from None
        if not isinstance(body, dict):
            raise GitHubError(400, "Problems parsing JSON", docs)
        return body

    @staticmethod
    def _paginate(request: Request, items: list[Json]) -> _WithHeaders:
        """`per_page` (default 30, at most 100) and `page` (from 1), with GitHub's `Link` header."""

        def number(name: str, default: int) -> int:
            raw = request.query_params.get(name, "")
            return int(raw) if raw.isdigit() and int(raw) > 0 else default

        per_page = min(number("per_page", 30), 100)
        page = number("page", 1)
        last = max(1, -(-len(items) // per_page))
        links = []
        if page < last:
            links += [(page + 1, "next"), (last, "last")]
        if page > 1:
            links += [(1, "first"), (min(page - 1, last), "prev")]
        link = ", ".join(
            f'<{request.url.include_query_params(page=p, per_page=per_page)}>; rel="{rel}"'
            for p, rel in links
        )
        return _WithHeaders(items[(page - 1) * per_page : page * per_page], {"link": link} if link else {})

    def _bot_user(self) -> Json:
        user_id = 100_000_000 + self.app_id % 100_000_000
        return {
            "login": f"{self.app_slug}[bot]",
            "id": user_id,
            "node_id": _node_id("Bot", user_id),
            "type": "Bot",
            "site_admin": False,
            "html_url": f"https://github.com/apps/{self.app_slug}",
        }

    @staticmethod
    def _check_types(
        body: Json, fields: dict[str, tuple[type, ...]], required: tuple[str, ...]
    ) -> list[tuple[str, str]]:
        """GitHub-style field errors: (field, "missing_field") or (field, "invalid")."""
        errors = [(name, "missing_field") for name in required if body.get(name) is None]
        for name, types in fields.items():
            if name in body and not (name in required and body[name] is None):
                value = body[name]
                if (isinstance(value, bool) and bool not in types) or not isinstance(value, types):
                    errors.append((name, "invalid"))
        return errors

    @staticmethod
    def _check_description(body: Json, resource: str, docs: str) -> None:
        description = body.get("description")
        if isinstance(description, str) and len(description) > 140:
            raise GitHubError(
                422,
                "Validation Failed",
                docs,
                errors=[
                    {
                        "resource": resource,
                        "code": "custom",
                        "field": "description",
                        "message": "description is too long (maximum is 140 characters)",
                    }
                ],
            )

    async def _create_comment(self, request: Request, repo: str, number: int) -> Json:
        body = await self._json_object(request, COMMENTS_DOCS)
        errors = self._check_types(body, {"body": (str,)}, ("body",))
        if errors:
            raise _validation_failed("IssueComment", errors, COMMENTS_DOCS)
        now = _iso(time.time())
        kind = "pull" if (repo, number) in self.pulls else "issues"
        with self._lock:
            comment_id = self._new_id("comment")
            comment: Json = {
                "id": comment_id,
                "node_id": _node_id("IssueComment", comment_id),
                "url": f"{API_BASE}/repos/{repo}/issues/comments/{comment_id}",
                "html_url": f"https://github.com/{repo}/{kind}/{number}#issuecomment-{comment_id}",
                "issue_url": f"{API_BASE}/repos/{repo}/issues/{number}",
                "body": body["body"],
                "user": self._bot_user(),
                "author_association": "NONE",
                "created_at": now,
                "updated_at": now,
            }
            self.comments.setdefault((repo, number), []).append(comment)
            self.comment_bodies.setdefault(comment_id, []).append(body["body"])
            self.comment_creates += 1
        return comment

    async def _edit_comment(self, request: Request, repo: str, comment_id: int) -> Json:
        with self._lock:
            found = [
                c for (r, _), cs in self.comments.items() if r == repo for c in cs if c["id"] == comment_id
            ]
        if not found:
            raise GitHubError(404, "Not Found", COMMENTS_DOCS)
        body = await self._json_object(request, COMMENTS_DOCS)
        errors = self._check_types(body, {"body": (str,)}, ("body",))
        if errors:
            raise _validation_failed("IssueComment", errors, COMMENTS_DOCS)
        with self._lock:
            found[0]["body"] = body["body"]
            found[0]["updated_at"] = _iso(time.time())
            self.comment_bodies.setdefault(comment_id, []).append(body["body"])
            self.comment_edits += 1
            return dict(found[0])

    def _resolve_ref(self, repo: str, ref: str) -> str | None:
        """The commit `ref` names: a 40-hex sha, a pull's head branch, or a ref of the served repository."""
        if _SHA.match(ref):
            return ref.lower()
        branch = ref.removeprefix("refs/heads/")
        for (pull_repo, _), pull in self.pulls.items():
            if pull_repo == repo and pull["head"]["ref"] == branch:
                return str(pull["head"]["sha"])
        bare = self.repos.get(repo)
        if bare is not None and not ref.startswith("-"):
            result = subprocess.run(
                [shutil.which("git") or "git", "rev-parse", "--verify", "--quiet", f"{ref}^{{commit}}"],
                cwd=bare,
                capture_output=True,
                text=True,
                timeout=30,
                env={"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "GIT_CONFIG_NOSYSTEM": "1"},
            )
            if result.returncode == 0:
                return result.stdout.strip()
        return None

    async def _create_deployment(self, request: Request, repo: str) -> Json:
        body = await self._json_object(request, DEPLOYMENTS_DOCS)
        fields: dict[str, tuple[type, ...]] = {
            "ref": (str,),
            "task": (str,),
            "environment": (str,),
            "auto_merge": (bool,),
            "required_contexts": (list,),
            "transient_environment": (bool,),
            "production_environment": (bool,),
            "description": (str, type(None)),
            "payload": (dict, str),
        }
        errors = self._check_types(body, fields, ("ref",))
        contexts = body.get("required_contexts")
        if isinstance(contexts, list) and not all(isinstance(c, str) for c in contexts):
            errors.append(("required_contexts", "invalid"))
        if errors:
            raise _validation_failed("Deployment", errors, DEPLOYMENTS_DOCS)
        self._check_description(body, "Deployment", DEPLOYMENTS_DOCS)
        ref = str(body["ref"])
        sha = self._resolve_ref(repo, ref)
        if sha is None:
            raise GitHubError(422, f"No ref found for: {ref}", DEPLOYMENTS_DOCS)
        environment = str(body.get("environment", "production"))
        now = _iso(time.time())
        with self._lock:
            deployment_id = self._new_id("deployment")
            url = f"{API_BASE}/repos/{repo}/deployments/{deployment_id}"
            deployment: Json = {
                "url": url,
                "id": deployment_id,
                "node_id": _node_id("Deployment", deployment_id),
                "sha": sha,
                "ref": ref,
                "task": str(body.get("task", "deploy")),
                "payload": body.get("payload", {}),
                "original_environment": environment,
                "environment": environment,
                "description": body.get("description") or "",
                "creator": self._bot_user(),
                "created_at": now,
                "updated_at": now,
                "statuses_url": f"{url}/statuses",
                "repository_url": f"{API_BASE}/repos/{repo}",
                "transient_environment": bool(body.get("transient_environment", False)),
                "production_environment": bool(
                    body.get("production_environment", environment == "production")
                ),
                "performed_via_github_app": None,
            }
            self.deployments.setdefault(repo, []).append(deployment)
            self.deployment_statuses[deployment_id] = []
        return deployment

    def _list_deployments(self, request: Request, repo: str) -> _WithHeaders:
        wanted = {k: v for k in ("sha", "ref", "task", "environment") if (v := request.query_params.get(k))}
        with self._lock:
            listed = [
                d
                for d in reversed(self.deployments.get(repo, []))
                if all(str(d[k]).lower() == v.lower() if k == "sha" else d[k] == v for k, v in wanted.items())
            ]
        return self._paginate(request, listed)

    def _deployment(self, repo: str, deployment_id: int) -> Json:
        with self._lock:
            for deployment in self.deployments.get(repo, []):
                if deployment["id"] == deployment_id:
                    return deployment
        raise GitHubError(404, "Not Found", DEPLOYMENT_STATUSES_DOCS)

    def _add_deployment_status(self, repo: str, deployment: Json, fields: Json) -> Json:
        """Append a status (caller holds the lock)."""
        status_id = self._new_id("deployment_status")
        now = _iso(time.time())
        status: Json = {
            "url": f"{deployment['url']}/statuses/{status_id}",
            "id": status_id,
            "node_id": _node_id("DeploymentStatus", status_id),
            "state": fields["state"],
            "creator": self._bot_user(),
            "description": fields.get("description") or "",
            "environment": fields.get("environment") or deployment["environment"],
            "target_url": fields.get("log_url") or fields.get("target_url") or "",
            "log_url": fields.get("log_url") or fields.get("target_url") or "",
            "environment_url": fields.get("environment_url") or "",
            "created_at": now,
            "updated_at": now,
            "deployment_url": deployment["url"],
            "repository_url": f"{API_BASE}/repos/{repo}",
            "performed_via_github_app": None,
        }
        self.deployment_statuses.setdefault(deployment["id"], []).append(status)
        deployment["updated_at"] = now
        return status

    async def _create_deployment_status(self, request: Request, repo: str, deployment: Json) -> Json:
        body = await self._json_object(request, DEPLOYMENT_STATUSES_DOCS)
        fields: dict[str, tuple[type, ...]] = {
            "state": (str,),
            "target_url": (str,),
            "log_url": (str,),
            "environment_url": (str,),
            "description": (str,),
            "environment": (str,),
            "auto_inactive": (bool,),
        }
        errors = self._check_types(body, fields, ("state",))
        if not errors and body["state"] not in DEPLOYMENT_STATES:
            errors.append(("state", "invalid"))
        if errors:
            raise _validation_failed("DeploymentStatus", errors, DEPLOYMENT_STATUSES_DOCS)
        self._check_description(body, "DeploymentStatus", DEPLOYMENT_STATUSES_DOCS)
        with self._lock:
            if body.get("environment"):
                deployment["environment"] = body["environment"]
            status = self._add_deployment_status(repo, deployment, body)
            if body["state"] == "success" and body.get("auto_inactive", True):
                for earlier in self.deployments.get(repo, []):
                    history = self.deployment_statuses.get(earlier["id"], [])
                    if (
                        earlier["id"] < deployment["id"]
                        and earlier["environment"] == deployment["environment"]
                        and not earlier["transient_environment"]
                        and not earlier["production_environment"]
                        and history
                        and history[-1]["state"] == "success"
                    ):
                        self._add_deployment_status(repo, earlier, {"state": "inactive"})
        return status

    async def _create_commit_status(self, request: Request, repo: str, sha: str) -> Json:
        body = await self._json_object(request, STATUSES_DOCS)
        if not _SHA.match(sha):
            raise GitHubError(422, f"No commit found for SHA: {sha}", STATUSES_DOCS)
        fields: dict[str, tuple[type, ...]] = {
            "state": (str,),
            "target_url": (str, type(None)),
            "description": (str, type(None)),
            "context": (str,),
        }
        errors = self._check_types(body, fields, ("state",))
        if not errors and body["state"] not in COMMIT_STATES:
            errors.append(("state", "invalid"))
        if errors:
            raise _validation_failed("Status", errors, STATUSES_DOCS)
        self._check_description(body, "Status", STATUSES_DOCS)
        now = _iso(time.time())
        with self._lock:
            status_id = self._new_id("commit_status")
            status: Json = {
                "url": f"{API_BASE}/repos/{repo}/statuses/{sha.lower()}",
                "avatar_url": None,
                "id": status_id,
                "node_id": _node_id("StatusContext", status_id),
                "state": body["state"],
                "description": body.get("description"),
                "target_url": body.get("target_url"),
                "context": body.get("context", "default"),
                "created_at": now,
                "updated_at": now,
                "creator": self._bot_user(),
            }
            self.commit_statuses.setdefault((repo, sha.lower()), []).append(status)
        return status

    # --- git smart HTTP ---------------------------------------------------------------------------

    def _git_credentials(self, request: Request) -> tuple[str | None, str | None]:
        scheme, _, encoded = request.headers.get("authorization", "").partition(" ")
        if scheme.lower() != "basic":
            return None, None
        try:
            username, _, password = base64.b64decode(encoded.strip(), validate=True).decode().partition(":")
        except (binascii.Error, UnicodeDecodeError):
            return None, None
        return username, password

    async def _git(self, request: Request, owner: str, name: str, rest: str) -> Response:
        full_name = f"{owner}/{name}"
        username, password = self._git_credentials(request)
        status = self._git_authorize(full_name, username, password)
        if status is not None:
            self.git_auth_log.append(GitAuthUse(full_name, (password or "")[:8] or None, username, status))
            if status == 401:
                return Response(
                    "Invalid username or token. "
                    "Password authentication is not supported for Git operations.\n",
                    status_code=401,
                    media_type="text/plain",
                    headers={"WWW-Authenticate": 'Basic realm="GitHub"'},
                )
            return Response("Repository not found.\n", status_code=404, media_type="text/plain")
        if rest == "info/refs" and request.query_params.get("service") != "git-upload-pack":
            response = Response("Service not enabled.\n", status_code=403, media_type="text/plain")
        elif rest == "git-upload-pack" and request.method != "POST":
            response = Response("Method Not Allowed\n", status_code=405, media_type="text/plain")
        else:
            response = await self._http_backend(request, full_name, rest)
        self.git_auth_log.append(GitAuthUse(full_name, (password or "")[:8], username, response.status_code))
        return response

    def _git_authorize(self, full_name: str, username: str | None, password: str | None) -> int | None:
        """None when the credentials may read `full_name`, else the HTTP status to answer."""
        if username is None and full_name in self.public_repos and full_name in self.repos:
            return None  # a public repository: GitHub serves it to anyone, without credentials
        if username is None or not password:
            return 401
        issued = self.tokens.get(password)
        if username != "x-access-token" or issued is None or not issued.valid():
            return 401
        installation = self.installations.get(issued.installation_id)
        if (
            full_name not in self.repos
            or full_name not in issued.repos
            or installation is None
            or full_name not in installation.repos
        ):
            return 404
        return None

    async def _http_backend(self, request: Request, full_name: str, rest: str) -> Response:
        bare = self.repos[full_name]
        body = await request.body()
        env = {
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            "HOME": os.environ.get("HOME", "/tmp"),
            "GIT_PROJECT_ROOT": str(bare.parent),
            "GIT_HTTP_EXPORT_ALL": "1",
            "GIT_CONFIG_NOSYSTEM": "1",
            "GATEWAY_INTERFACE": "CGI/1.1",
            "SERVER_PROTOCOL": "HTTP/1.1",
            "REQUEST_METHOD": request.method,
            "PATH_INFO": f"/{bare.name}/{rest}",
            "QUERY_STRING": request.url.query,
            "CONTENT_TYPE": request.headers.get("content-type", ""),
            "CONTENT_LENGTH": str(len(body)),
            "REMOTE_USER": "x-access-token",
            "REMOTE_ADDR": request.client.host if request.client else "127.0.0.1",
        }
        for header in ("content-encoding", "git-protocol", "accept"):
            value = request.headers.get(header)
            if value is not None:
                env["HTTP_" + header.upper().replace("-", "_")] = value
        if "git-protocol" in request.headers:
            env["GIT_PROTOCOL"] = request.headers["git-protocol"]
        git = shutil.which("git") or "git"
        proc = await asyncio.create_subprocess_exec(
            git,
            "http-backend",
            env=env,
            # A GET has no body: git may answer and exit before an empty stdin could be written.
            stdin=asyncio.subprocess.PIPE if body else asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )
        stdout, stderr = await proc.communicate(body or None)
        return _cgi_response(stdout, stderr, proc.returncode)


def _cgi_response(stdout: bytes, stderr: bytes, returncode: int | None) -> Response:
    """Turn a CGI answer (headers, blank line, body) into a Response."""
    head, sep, content = stdout.partition(b"\r\n\r\n")
    if not sep:
        head, sep, content = stdout.partition(b"\n\n")
    if not sep:
        message = f"git http-backend failed ({returncode}): {stderr.decode(errors='replace')}"
        return Response(message, status_code=500, media_type="text/plain")
    status = 200
    headers: dict[str, str] = {}
    for line in head.decode("latin-1").splitlines():
        name, _, value = line.partition(":")
        if name.strip().lower() == "status":
            status = int(value.strip().split()[0])
        elif name.strip():
            headers[name.strip()] = value.strip()
    media_type = headers.pop("Content-Type", None)
    return Response(content, status_code=status, headers=headers, media_type=media_type)


class FakeGitHubServer(LoopbackServer):
    """Runs a FakeGitHub on a free 127.0.0.1 port in a background thread; the same server answers
    the REST API (api.github.com) and git smart HTTP (github.com)."""

    def __init__(self, fake: FakeGitHub) -> None:
        super().__init__(fake.app, "fake-github")
        self.fake = fake


def create_fake_github(
    *,
    app_id: int,
    public_key_pem: bytes,
    client_id: str | None = None,
    token_ttl: float = 3600.0,
    require_accept: bool = True,
    seed: int | None = None,
    app_slug: str = "previewd",
    fail_rate: float = 0.0,
) -> FakeGitHub:
    """A fresh fake for the GitHub App `app_id` whose JWTs verify with `public_key_pem`."""
    return FakeGitHub(
        app_id=app_id,
        public_key_pem=public_key_pem,
        client_id=client_id,
        token_ttl=token_ttl,
        require_accept=require_accept,
        seed=seed,
        app_slug=app_slug,
        fail_rate=fail_rate,
    )
