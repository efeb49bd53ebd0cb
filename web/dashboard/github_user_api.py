"""GitHub as the signed-in user sees it, through their OAuth token: who they are, which installations
of our App they can reach, and those installations' repositories.

The calls go through the App's own client (activities/github/client.py), so headers, timeouts,
conditional requests, rate-limit answers and error handling are the same on both sides. One client
per user token (per request), as the client's answer cache is keyed by path, not by user.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from activities.github.client import GitHubApi, GitHubApiError

PER_PAGE = 100
MAX_PAGES = 10  # 1,000 installations or repositories: enough for a picker, bounded for a request
TIMEOUT_SECONDS = 10.0
# A page waits on these calls: one try, and what fails is shown (with GitHub's words) at once.
ATTEMPTS = 1
USER_HINTS = {
    401: "the GitHub sign-in expired or was revoked; sign in again",
    403: "GitHub does not let this account see it",
    404: "not found, or this account cannot see it",
}

# The dashboard's name for the client's error: `status` (503 when GitHub did not answer) and
# `message` (GitHub's own words) are what its pages show.
GitHubUserError = GitHubApiError


@dataclass
class GitHubUser:
    id: int
    login: str
    name: str | None


class GitHubUserApi:
    def __init__(self, api_url: str, token: str, *, timeout: float = TIMEOUT_SECONDS) -> None:
        self._api = GitHubApi(api_url, timeout, attempts=ATTEMPTS, hints=USER_HINTS)
        self._token = token

    async def __aenter__(self) -> GitHubUserApi:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self._api.aclose()

    async def _get(self, path: str, params: dict[str, Any] | None = None) -> Any:
        return await self._api.request("GET", path, token=self._token, params=params)

    async def user(self) -> GitHubUser:
        body = await self._get("/user")
        return GitHubUser(id=int(body["id"]), login=str(body["login"]), name=body.get("name"))

    async def _paged(self, path: str, key: str) -> list[dict[str, Any]]:
        items: list[dict[str, Any]] = []
        for page in range(1, MAX_PAGES + 1):
            body = await self._get(path, {"per_page": PER_PAGE, "page": page})
            batch = body.get(key, [])
            items.extend(batch)
            if len(items) >= int(body.get("total_count", 0)) or len(batch) < PER_PAGE:
                break
        return items

    async def installations(self) -> list[dict[str, Any]]:
        """Installations of our App that this user can reach (`GET /user/installations`)."""
        return await self._paged("/user/installations", "installations")

    async def repositories(self, installation_id: int) -> list[dict[str, Any]]:
        return await self._paged(f"/user/installations/{installation_id}/repositories", "repositories")

    async def open_pulls(self, full_name: str) -> list[dict[str, Any]]:
        """The repository's open pull requests, newest first (first 100: enough to pick from)."""
        pulls: list[dict[str, Any]] = await self._get(
            f"/repos/{full_name}/pulls",
            {"state": "open", "per_page": PER_PAGE, "sort": "created", "direction": "desc"},
        )
        return pulls
