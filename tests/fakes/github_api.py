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
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import json
import os
import random
import re
import secrets
import shutil
import socket
import string
import threading
import time
import warnings
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from types import TracebackType
from typing import Any

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

with warnings.catch_warnings():
    # authlib.jose is deprecated in favour of joserfc (not installed); it works until authlib 2.0.
    # authlib.deprecate installs an "always" filter on import, so import it before ours goes on top.
    import authlib.deprecate  # noqa: F401

    warnings.simplefilter("ignore")
    from authlib.jose import JsonWebToken

Json = dict[str, Any]

API_VERSION = "2022-11-28"
MEDIA_TYPE = "application/vnd.github+json"
DOCS = "https://docs.github.com/rest"
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
_JWT = JsonWebToken(["RS256"])  # only RS256: an HS256 token "signed" with the public key is refused


def _iso(epoch: float) -> str:
    return datetime.fromtimestamp(int(epoch), UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


class GitHubError(Exception):
    """An error answer: HTTP status, `{"message", "documentation_url"}` body and extra headers."""

    def __init__(
        self, status: int, message: str, documentation_url: str = DOCS, headers: dict[str, str] | None = None
    ) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.documentation_url = documentation_url
        self.headers = dict(headers or {})


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


@dataclass
class Fault:
    status: int
    headers: dict[str, str]
    body: Any
    path: str | None = None  # regex searched in the request path; None matches every API route
    method: str | None = None


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
    ) -> None:
        self.app_id = app_id
        self.client_id = client_id
        self.public_key_pem = public_key_pem
        self.token_ttl = token_ttl
        self.iat_leeway = iat_leeway
        self.max_jwt_ahead = max_jwt_ahead
        self.require_accept = require_accept
        self.supported_api_versions: set[str] = {API_VERSION}
        self.rng = random.Random(seed)

        self.installations: dict[int, Installation] = {}
        self.repos: dict[str, Path] = {}  # "owner/name" -> bare repository
        self.repo_ids: dict[str, int] = {}
        self.tokens: dict[str, IssuedToken] = {}
        self.tokens_issued = 0
        self.header_violations: list[HeaderViolation] = []
        self.git_auth_log: list[GitAuthUse] = []
        self.calls: list[Call] = []
        self.rate_limit = RateLimit()
        self._faults: list[Fault] = []
        self._lock = threading.Lock()

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
        default_headers: dict[str, str] = {}
        if status == 403:
            default_headers = {"retry-after": "1"}
        elif status == 429:
            default_headers = {"retry-after": "1", "x-ratelimit-remaining": "0"}
        with self._lock:
            for _ in range(n):
                self._faults.append(Fault(status, {**default_headers, **(headers or {})}, body, path, method))

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
        return await self._api(request)

    def _request_id(self) -> str:
        r = self.rng
        return (
            f"{r.randrange(16**4):04X}:{r.randrange(16**6):06X}:{r.randrange(16**7):07X}:"
            f"{r.randrange(16**7):07X}:{int(time.time()):08X}"
        )

    def _rate_headers(self, exhausted: bool = False) -> dict[str, str]:
        with self._lock:
            rl = self.rate_limit
            now = time.time()
            if now >= rl.reset:
                rl.used, rl.reset = 0, now + rl.window
            rl.used += 1
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
        try:
            self._check_headers(request)
            fault = self._take_fault(method, path)
            if fault is not None:
                response = self._fault_response(fault, request_id)
                extra = fault.headers
            else:
                status, payload = await self._route(request, method, path)
                response = self._json(status, payload)
        except GitHubError as exc:
            body = {"message": exc.message, "documentation_url": exc.documentation_url}
            response = self._json(exc.status, body)
            extra = exc.headers
        exhausted = extra.get("x-ratelimit-remaining") == "0"
        for name, value in {**self._rate_headers(exhausted), **extra}.items():
            response.headers[name] = value
        response.headers["x-github-request-id"] = request_id
        response.headers["x-github-api-version-selected"] = API_VERSION
        response.headers["x-github-media-type"] = "github.v3; format=json"
        self.calls.append(Call(method, path, response.status_code, request_id))
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
        if method == "DELETE" and parts == ["installation", "token"]:
            issued = self._check_installation_token(request)
            issued.revoked = True
            return 204, None
        raise GitHubError(404, "Not Found")

    # --- app JWT and installation tokens ----------------------------------------------------------

    def _check_jwt(self, request: Request) -> Json:
        scheme, _, credential = request.headers.get("authorization", "").partition(" ")
        if not scheme:
            raise GitHubError(401, "Requires authentication")
        if scheme.lower() != "bearer" or not credential.strip():
            raise GitHubError(401, JWT_UNDECODABLE)
        try:
            claims = _JWT.decode(credential.strip(), self.public_key_pem)
        except Exception:  # authlib raises JoseError subclasses, and ValueError on garbage
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
            claims.validate(now=int(now), leeway=int(self.iat_leeway))
        except Exception:
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

    def _check_installation_token(self, request: Request) -> IssuedToken:
        scheme, _, credential = request.headers.get("authorization", "").partition(" ")
        issued = self.tokens.get(credential.strip()) if scheme.lower() in ("bearer", "token") else None
        if issued is None or not issued.valid():
            raise GitHubError(401, "Bad credentials")
        return issued

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
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )
        stdout, stderr = await proc.communicate(body)
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


class FakeGitHubServer:
    """Runs a FakeGitHub on a free 127.0.0.1 port in a background thread (sync or async context manager).

    The same server answers the REST API (api.github.com) and git smart HTTP (github.com).
    """

    def __init__(self, fake: FakeGitHub) -> None:
        self.fake = fake
        self._sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._sock.bind(("127.0.0.1", 0))
        self.port: int = self._sock.getsockname()[1]
        self.url = f"http://127.0.0.1:{self.port}"
        config = uvicorn.Config(fake.app, log_level="warning", access_log=False, lifespan="off")
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(
            target=self._server.run, kwargs={"sockets": [self._sock]}, daemon=True, name="fake-github"
        )

    def start(self) -> None:
        self._thread.start()
        deadline = time.monotonic() + 10
        while not self._server.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError("fake GitHub server did not start")
            time.sleep(0.005)

    def stop(self) -> None:
        self._server.should_exit = True
        self._thread.join(timeout=10)
        self._sock.close()

    def __enter__(self) -> FakeGitHubServer:
        self.start()
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    async def __aenter__(self) -> FakeGitHubServer:
        await asyncio.to_thread(self.start)
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await asyncio.to_thread(self.stop)


def create_fake_github(
    *,
    app_id: int,
    public_key_pem: bytes,
    client_id: str | None = None,
    token_ttl: float = 3600.0,
    require_accept: bool = True,
    seed: int | None = None,
) -> FakeGitHub:
    """A fresh fake for the GitHub App `app_id` whose JWTs verify with `public_key_pem`."""
    return FakeGitHub(
        app_id=app_id,
        public_key_pem=public_key_pem,
        client_id=client_id,
        token_ttl=token_ttl,
        require_accept=require_accept,
        seed=seed,
    )
