"""The user side of the loopback GitHub fake: OAuth sign-in of a GitHub App's users and the routes
a user access token opens. Hooked into `FakeGitHub` (`fake.users`), answering on the same server.

Written to docs.github.com ("Authorizing OAuth apps", "Generating a user access token for a GitHub
App", "Troubleshooting OAuth app access token request errors", "List app installations accessible to
the user access token", "List repositories accessible to the user access token"):

- `GET /login/oauth/authorize?client_id&redirect_uri&state` (github.com): the signed-in GitHub user
  (`users.login_as(...)`) approves at once; 302 to `redirect_uri?code=…&state=…`. An unknown
  `client_id` is a 404 page; a `redirect_uri` outside the registered callback URL goes back to the
  callback with `error=redirect_uri_mismatch`; `users.deny_next = True` sends `error=access_denied`.
- `POST /login/oauth/access_token` (`client_id`, `client_secret` in the form or as HTTP Basic, `code`,
  optional `redirect_uri`):
  200 with JSON when `Accept: application/json`, form-encoded otherwise; errors are 200 too, with
  `error` (`bad_verification_code`, `incorrect_client_credentials`, `redirect_uri_mismatch`),
  `error_description` and `error_uri`. A code is good once, for 10 minutes. Tokens are `ghu_…`,
  with `expires_in` 28800 and a `ghr_…` refresh token, as for a GitHub App with expiring tokens.
- `GET /apps/{slug}/installations/new` (github.com): the current user installs the App on the
  repositories set with `users.install_next(id, repos)`; 302 to the App's setup URL
  (`users.setup_url`) with `installation_id` and `setup_action=install`, as GitHub does when
  "Redirect on update" is set.
- `GET /user`, `GET /user/installations`, `GET /user/installations/{id}/repositories` (api), behind
  `Authorization: Bearer|token ghu_…`: none is 401 "Requires authentication", an unknown or revoked
  one 401 "Bad credentials", an installation token 403 "Resource not accessible by integration"; an
  installation the user cannot reach is 404. The repositories list holds only those the user has
  explicit permission on (a role, `users.set_role`; `add_user` gives `admin` on every repository
  of its installations), each with its `permissions` object (`admin`, `maintain`, `push`,
  `triage`, `pull`), as GitHub answers it. `GET /repos/{o}/{r}/pulls?state=open` with a user
  token lists the repository's pull requests (404 unless one of the user's installations reaches
  it), newest first. Lists take `per_page` (≤ 100) and `page`, answer
  `{"total_count", "installations"|"repositories"}` and send a `Link` header.
- `GET /repos/{o}/{r}/collaborators/{username}/permission` ("Get repository permissions for a
  user"), with an installation token that reaches the repository (the App side routes it here):
  `{"permission": "admin"|"write"|"read"|"none", "role_name", "user"}`, where `permission` is the
  legacy name (maintain → write, triage → read); an unknown login is 404.
"""

from __future__ import annotations

import base64
import secrets
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any
from urllib.parse import unquote, urlencode

from starlette.requests import Request
from starlette.responses import JSONResponse, RedirectResponse, Response

from tests.fakes.github_api import GitHubError, _WithHeaders

if TYPE_CHECKING:
    from tests.fakes.github_api import FakeGitHub

Json = dict[str, Any]
CODE_TTL = 600.0
USER_TOKEN_TTL = 28800
TROUBLESHOOTING = (
    "https://docs.github.com/apps/managing-oauth-apps/troubleshooting-oauth-app-access-token-request-errors"
)
MISMATCH = "The redirect_uri MUST match the registered callback URL for this application."
USER_INSTALLATIONS_DOCS = "https://docs.github.com/rest/apps/installations#list-app-installations-accessible-to-the-user-access-token"
COLLABORATOR_DOCS = (
    "https://docs.github.com/rest/collaborators/collaborators#get-repository-permissions-for-a-user"
)
USER_REPOS_DOCS = (
    "https://docs.github.com/rest/apps/installations#list-repositories-accessible-to-the-user-access-token"
)


# GitHub's repository roles, weakest first, and the `permissions` object each one answers with.
ROLES = ("read", "triage", "write", "maintain", "admin")
PERMISSION_KEYS = ("pull", "triage", "push", "maintain", "admin")


def permissions_of(role: str) -> dict[str, bool]:
    rank = ROLES.index(role)
    return {key: index <= rank for index, key in enumerate(PERMISSION_KEYS)}


@dataclass
class FakeUser:
    id: int
    login: str
    name: str | None
    installations: set[int] = field(default_factory=set)
    # Repository full name -> role; `default_role` on the rest of their installations' repositories
    # (None: no explicit permission there, so GitHub leaves them out of the user's lists).
    roles: dict[str, str | None] = field(default_factory=dict)
    default_role: str | None = "admin"

    def role_on(self, repo: str) -> str | None:
        return self.roles.get(repo, self.default_role)


@dataclass
class _Grant:
    login: str
    redirect_uri: str
    expires_at: float


@dataclass
class UserToken:
    token: str
    login: str
    expires_at: float
    revoked: bool = False


class GitHubUsers:
    """Users, their OAuth grants and tokens. Knobs: `login_as`, `deny_next`, `client_secret`,
    `callback_url`; state to inspect: `tokens`, `authorize_requests`."""

    def __init__(self, fake: FakeGitHub) -> None:
        self.fake = fake
        self.client_secret: str | None = None
        # GitHub compares redirect_uri with the App's registered callback URL (a prefix match).
        self.callback_url: str | None = None
        self.users: dict[str, FakeUser] = {}
        self.tokens: dict[str, UserToken] = {}
        self.current: str | None = None
        self.deny_next = False
        self.authorize_requests: list[Json] = []
        self._grants: dict[str, _Grant] = {}
        self.setup_url: str | None = None
        self._next_install: tuple[int, list[str]] | None = None

    # --- setup ----------------------------------------------------------------------------------

    def add_user(
        self,
        login: str,
        *,
        installations: list[int] | None = None,
        name: str | None = None,
        role: str | None = "admin",
    ) -> FakeUser:
        user = FakeUser(
            id=5_000_000 + len(self.users),
            login=login,
            name=name,
            installations=set(installations or []),
            default_role=role,
        )
        self.users[login] = user
        return user

    def set_role(self, login: str, repo: str, role: str | None) -> None:
        """A change on GitHub of `login`'s role on `repo` (None: removed from it)."""
        assert role is None or role in ROLES, role
        self.users[login].roles[repo] = role

    def login_as(self, login: str) -> None:
        """The person signed in to github.com in the browser: who approves the next authorization."""
        self.current = login

    def install_next(self, installation_id: int, repos: list[str]) -> None:
        """What the next visit of the App's install page installs (the person's choices on GitHub)."""
        self._next_install = (installation_id, repos)

    def revoke(self, login: str) -> None:
        for token in self.tokens.values():
            if token.login == login:
                token.revoked = True

    # --- github.com: OAuth web flow --------------------------------------------------------------

    async def oauth(self, request: Request) -> Response:
        path = request.url.path
        if path == "/login/oauth/authorize" and request.method == "GET":
            return self._authorize(request)
        if path == "/login/oauth/access_token" and request.method == "POST":
            return await self._access_token(request)
        if path == f"/apps/{self.fake.app_slug}/installations/new" and request.method == "GET":
            return self._install()
        return Response("Not Found", status_code=404, media_type="text/plain")

    def _install(self) -> Response:
        user = self.users.get(self.current or "")
        if user is None or self._next_install is None or self.setup_url is None:
            return Response("Not Found", status_code=404, media_type="text/html")
        installation_id, repos = self._next_install
        self._next_install = None
        self.fake.add_installation(installation_id, repos, repository_selection="selected")
        user.installations.add(installation_id)
        return self._back(self.setup_url, None, installation_id=str(installation_id), setup_action="install")

    def _authorize(self, request: Request) -> Response:
        params = dict(request.query_params)
        self.authorize_requests.append(params)
        if params.get("client_id") != self.fake.client_id:
            return Response("Not Found", status_code=404, media_type="text/html")
        redirect_uri = params.get("redirect_uri") or self.callback_url or ""
        state = params.get("state")
        if self.callback_url and not redirect_uri.startswith(self.callback_url):
            return self._back(
                self.callback_url,
                state,
                error="redirect_uri_mismatch",
                error_description=MISMATCH,
                error_uri=f"{TROUBLESHOOTING}#redirect-uri-mismatch",
            )
        if self.deny_next or self.current is None:
            self.deny_next = False
            return self._back(
                redirect_uri,
                state,
                error="access_denied",
                error_description="The user has denied your application access.",
                error_uri=f"{TROUBLESHOOTING}#access-denied",
            )
        code = secrets.token_hex(10)
        self._grants[code] = _Grant(self.current, redirect_uri, time.time() + CODE_TTL)
        return self._back(redirect_uri, state, code=code)

    @staticmethod
    def _back(redirect_uri: str, state: str | None, **params: str) -> Response:
        if state is not None:
            params["state"] = state
        joiner = "&" if "?" in redirect_uri else "?"
        return RedirectResponse(f"{redirect_uri}{joiner}{urlencode(params)}", status_code=302)

    async def _access_token(self, request: Request) -> Response:
        form = dict(await request.form())
        params = {**dict(request.query_params), **{k: str(v) for k, v in form.items()}}
        scheme, _, credentials = request.headers.get("authorization", "").partition(" ")
        if scheme.lower() == "basic":
            # GitHub takes the client credentials as HTTP Basic too (what OAuth clients send by default).
            try:
                client_id, _, client_secret = base64.b64decode(credentials).decode().partition(":")
            except (ValueError, UnicodeDecodeError):
                client_id = client_secret = ""
            params.setdefault("client_id", unquote(client_id))
            params.setdefault("client_secret", unquote(client_secret))
        wants_json = "application/json" in request.headers.get("accept", "")

        def answer(body: Json) -> Response:
            if wants_json:
                return JSONResponse(body)
            return Response(urlencode(body), media_type="application/x-www-form-urlencoded")

        if params.get("client_id") != self.fake.client_id or not secrets.compare_digest(
            params.get("client_secret", ""), self.client_secret or ""
        ):
            return answer(
                {
                    "error": "incorrect_client_credentials",
                    "error_description": "The client_id and/or client_secret passed are incorrect.",
                    "error_uri": f"{TROUBLESHOOTING}#incorrect-client-credentials",
                }
            )
        grant = self._grants.pop(params.get("code", ""), None)
        if grant is None or grant.expires_at < time.time():
            return answer(
                {
                    "error": "bad_verification_code",
                    "error_description": "The code passed is incorrect or expired.",
                    "error_uri": f"{TROUBLESHOOTING}#bad-verification-code",
                }
            )
        if params.get("redirect_uri") and params["redirect_uri"] != grant.redirect_uri:
            return answer(
                {
                    "error": "redirect_uri_mismatch",
                    "error_description": MISMATCH,
                    "error_uri": f"{TROUBLESHOOTING}#redirect-uri-mismatch",
                }
            )
        token = "ghu_" + secrets.token_hex(18)
        self.tokens[token] = UserToken(token, grant.login, time.time() + USER_TOKEN_TTL)
        return answer(
            {
                "access_token": token,
                "expires_in": USER_TOKEN_TTL,
                "refresh_token": "ghr_" + secrets.token_hex(38),
                "refresh_token_expires_in": 15897600,
                "scope": "",
                "token_type": "bearer",
            }
        )

    # --- api.github.com: what a user token opens ------------------------------------------------

    def _user(self, request: Request) -> FakeUser:
        scheme, _, credential = request.headers.get("authorization", "").partition(" ")
        if not credential.strip() or scheme.lower() not in ("bearer", "token"):
            raise GitHubError(401, "Requires authentication")
        credential = credential.strip()
        if credential in self.fake.tokens and self.fake.tokens[credential].valid():
            raise GitHubError(403, "Resource not accessible by integration")
        issued = self.tokens.get(credential)
        if (
            issued is None
            or issued.revoked
            or issued.expires_at < time.time()
            or issued.login not in self.users
        ):
            raise GitHubError(401, "Bad credentials")
        return self.users[issued.login]

    def _user_view(self, user: FakeUser) -> Json:
        return {
            "login": user.login,
            "id": user.id,
            "node_id": f"U_{user.id}",
            "avatar_url": f"https://avatars.githubusercontent.com/u/{user.id}?v=4",
            "html_url": f"https://github.com/{user.login}",
            "type": "User",
            "site_admin": False,
            "name": user.name,
            "email": None,
        }

    def holds_user_token(self, request: Request) -> bool:
        credential = request.headers.get("authorization", "").partition(" ")[2].strip()
        return credential in self.tokens

    async def route(self, request: Request, method: str, parts: list[str]) -> tuple[int, Any]:
        """`parts` of a path under /user, or a repository's pull list; GET only, as GitHub has these."""
        user = self._user(request)
        if method == "GET" and len(parts) == 4 and parts[0] == "repos" and parts[3] == "pulls":
            return 200, self._pulls(request, user, f"{parts[1]}/{parts[2]}")
        if method == "GET" and parts == ["user"]:
            return 200, self._user_view(user)
        if method == "GET" and parts == ["user", "installations"]:
            reachable = [
                self.fake.installations[i] for i in sorted(user.installations) if i in self.fake.installations
            ]
            views = [self.fake._installation_view(i) for i in reachable]
            return 200, self._listing(request, "installations", views)
        if (
            method == "GET"
            and len(parts) == 4
            and parts[:2] == ["user", "installations"]
            and parts[3] == "repositories"
        ):
            installation_id = int(parts[2]) if parts[2].isdigit() else -1
            installation = self.fake.installations.get(installation_id)
            if installation is None or installation_id not in user.installations:
                raise GitHubError(404, "Not Found", USER_REPOS_DOCS)
            repos = [
                {**self.fake._repo_view(name), "permissions": permissions_of(role)}
                for name in installation.repos
                if (role := user.role_on(name)) is not None
            ]
            listing = self._listing(request, "repositories", repos)
            listing.payload["repository_selection"] = installation.repository_selection
            return 200, listing
        raise GitHubError(404, "Not Found")

    def collaborator_permission(self, repo: str, login: str) -> Json:
        user = self.users.get(login)
        if user is None:
            raise GitHubError(404, "Not Found", COLLABORATOR_DOCS)
        reaches = any(
            repo in self.fake.installations[i].repos
            for i in user.installations
            if i in self.fake.installations
        )
        role = user.role_on(repo) if reaches else None
        legacy = {"maintain": "write", "triage": "read"}.get(role or "", role or "none")
        return {"permission": legacy, "role_name": role or "none", "user": self._user_view(user)}

    def _pulls(self, request: Request, user: FakeUser, repo: str) -> _WithHeaders:
        reachable = any(
            repo in self.fake.installations[i].repos
            for i in user.installations
            if i in self.fake.installations
        )
        if not reachable:
            raise GitHubError(404, "Not Found", "https://docs.github.com/rest/pulls/pulls#list-pull-requests")
        return self.fake.list_pulls(request, repo)

    def _listing(self, request: Request, key: str, items: list[Json]) -> _WithHeaders:
        page = self.fake._paginate(request, items)
        return _WithHeaders({"total_count": len(items), key: page.payload}, page.headers)
