"""GitHub as the signed-in user sees it, through their OAuth token: who they are, which installations
of our App they can reach, and those installations' repositories."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import httpx

PER_PAGE = 100
MAX_PAGES = 10  # 1,000 installations or repositories: enough for a picker, bounded for a request


class GitHubUserError(Exception):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


@dataclass
class GitHubUser:
    id: int
    login: str
    name: str | None


class GitHubUserApi:
    def __init__(self, api_url: str, token: str, *, timeout: float = 10.0) -> None:
        self._client = httpx.AsyncClient(
            base_url=api_url,
            timeout=timeout,
            headers={
                "Authorization": f"Bearer {token}",
                "Accept": "application/vnd.github+json",
                "X-GitHub-Api-Version": "2022-11-28",
                "User-Agent": "previewd-dashboard",
            },
        )

    async def __aenter__(self) -> GitHubUserApi:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self._client.aclose()

    async def _get(self, path: str, params: dict[str, Any] | None = None) -> Any:
        try:
            response = await self._client.get(path, params=params)
        except httpx.HTTPError as error:
            raise GitHubUserError(503, f"GitHub did not answer ({type(error).__name__})") from None
        if response.status_code >= 400:
            try:
                message = str(response.json().get("message", ""))
            except ValueError:
                message = response.text[:200]
            raise GitHubUserError(response.status_code, message or f"HTTP {response.status_code}")
        return response.json()

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
