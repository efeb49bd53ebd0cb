"""The one GitHub REST client (httpx), for the App's installation tokens and the dashboard's user
tokens alike: the headers GitHub asks every caller to send, conditional GETs (ETag, 304), the
content-creation budget for writes, and errors that say whether waiting helps (5xx, 429, secondary
rate limits, no answer at all) or a person must fix something."""

from __future__ import annotations

import asyncio
import time
from collections import OrderedDict
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import httpx

from activities.github.content_budget import ContentBudget
from runtime.metrics.api_calls import count_no_answer, counting_hooks

HEADERS = {
    "Accept": "application/vnd.github+json",
    "X-GitHub-Api-Version": "2022-11-28",
    "User-Agent": "previewd",
}
ATTEMPTS_PER_CALL = 5
# Answers kept for conditional GETs: a 304 costs no rate limit. Keyed by path and query: what a path
# returns does not depend on which installation token asked (every token we hold reaches the
# repository or gets 404). A user's answers do depend on the user: give each user token its own client.
ETAG_CACHE_SIZE = 1000
MAX_INLINE_WAIT_SECONDS = 10.0
# What the person who must act should check, for answers waiting will not change.
APP_HINTS = {
    401: "check GITHUB_APP_ID and GITHUB_APP_PRIVATE_KEY",
    403: "the App lacks a permission it needs",
    404: "the installation or repository is gone, or the App cannot see it",
    422: "GitHub refused the request as invalid",
}


@dataclass
class GitHubApiError(Exception):
    status: int
    message: str
    method: str
    path: str
    retry_after: float | None = None
    # False when GitHub gave no answer (connection refused, timeout): `status` is then 503.
    answered: bool = True
    hints: Mapping[int, str] = field(default_factory=lambda: APP_HINTS, repr=False)

    @property
    def transient(self) -> bool:
        return self.status >= 500 or self.status == 429 or self.retry_after is not None

    def __str__(self) -> str:
        hint = "" if self.transient else f"; {self.hints.get(self.status, 'see the message')}"
        return f"GitHub {self.method} {self.path} answered {self.status}: {self.message}{hint}"


def retry_after(response: httpx.Response) -> float | None:
    """How long GitHub wants us to wait: retry-after, else the rate-limit reset, else None."""
    if value := response.headers.get("retry-after"):
        try:
            return max(0.0, float(value))
        except ValueError:
            return None
    if response.headers.get("x-ratelimit-remaining") == "0" and (
        reset := response.headers.get("x-ratelimit-reset")
    ):
        try:
            return max(0.0, float(reset) - time.time())
        except ValueError:
            return None
    return None


@dataclass
class Answer:
    """A successful answer: its body, its `Link` header ('' without one), and whether it was a 304
    (the body is then the one remembered with the ETag)."""

    body: Any
    link: str = ""
    not_modified: bool = False

    def next_url(self) -> str | None:
        """The `rel="next"` URL of a paginated answer (GitHub's page or cursor links), if any."""
        for part in self.link.split(","):
            url, _, params = part.partition(";")
            if 'rel="next"' in params.replace(" ", ""):
                return url.strip().removeprefix("<").removesuffix(">")
        return None


class GitHubApi:
    def __init__(
        self,
        base_url: str,
        timeout: float = 30.0,
        *,
        attempts: int = ATTEMPTS_PER_CALL,
        hints: Mapping[int, str] = APP_HINTS,
    ) -> None:
        """`attempts`: how often one call is tried while GitHub answers with something transient."""
        self._http = httpx.AsyncClient(
            base_url=base_url, headers=HEADERS, timeout=timeout, event_hooks=counting_hooks("github")
        )
        self._etags: OrderedDict[str, tuple[str, Answer]] = OrderedDict()
        self.content_budget = ContentBudget()
        self.attempts = attempts
        self.hints = hints

    async def aclose(self) -> None:
        await self._http.aclose()

    async def request(
        self, method: str, path: str, *, token: str, json: Any = None, params: Mapping[str, Any] | None = None
    ) -> Any:
        """One call. Transient answers are retried here a few times, honouring retry-after (capped):
        telling a PR takes several calls, and retrying the whole activity for one flaky answer would
        repeat all of them. What still fails goes to Temporal's retry policy.

        No answer at all is not retried here: a write that timed out may have been carried out, and
        the caller's own retry (an activity that finds its sticky comment by its marker) is the one
        that knows how to repeat it safely."""
        return (await self.answer(method, path, token=token, json=json, params=params)).body

    async def answer(
        self, method: str, path: str, *, token: str, json: Any = None, params: Mapping[str, Any] | None = None
    ) -> Answer:
        """`request`, with the answer's `Link` header and whether it was a 304: for paginated lists.
        `path` may be a whole URL (a `Link` header's)."""
        for attempt in range(1, self.attempts + 1):
            try:
                return await self._once(method, path, token=token, json=json, params=params)
            except GitHubApiError as error:
                if not error.transient or not error.answered or attempt == self.attempts:
                    raise
                wait = error.retry_after if error.retry_after is not None else 0.5 * 2**attempt
                if wait > MAX_INLINE_WAIT_SECONDS:
                    raise  # a long rate-limit wait belongs to Temporal's retry, not a sleeping call
                await asyncio.sleep(wait)
        raise AssertionError("unreachable")

    async def _within_budget(self, method: str, path: str, token: str) -> None:
        """Writes wait for room in the installation's content-creation budget; a long wait is handed
        to Temporal's retry (by then the workflow may have something newer to say)."""
        if method == "GET" or path.startswith("/app/"):
            return
        while (wait := self.content_budget.reserve(token)) > 0:
            if wait > MAX_INLINE_WAIT_SECONDS:
                raise GitHubApiError(
                    429, "previewd's content-creation budget is spent", method, path, wait, hints=self.hints
                )
            await asyncio.sleep(wait)

    async def _once(
        self, method: str, path: str, *, token: str, json: Any, params: Mapping[str, Any] | None
    ) -> Answer:
        await self._within_budget(method, path, token)
        headers = {"Authorization": f"Bearer {token}"}
        key = str(httpx.URL(path, params=params))
        cached = self._etags.get(key) if method == "GET" else None
        if cached is not None:
            headers["If-None-Match"] = cached[0]
        try:
            response = await self._http.request(method, path, json=json, params=params, headers=headers)
        except httpx.HTTPError as error:
            count_no_answer("github")
            raise GitHubApiError(
                503, f"GitHub did not answer ({type(error).__name__})", method, path, answered=False,
                hints=self.hints,
            ) from None  # fmt: skip
        if response.status_code == 304 and cached is not None:
            self._etags.move_to_end(key)
            return Answer(cached[1].body, cached[1].link, not_modified=True)
        if response.is_success:
            answer = Answer(response.json() if response.content else None, response.headers.get("link", ""))
            if method == "GET" and (etag := response.headers.get("etag")):
                self._remember(key, etag, answer)
            return answer
        try:
            message = str(response.json().get("message", response.text))
        except ValueError:
            message = response.text[:300]
        wait = retry_after(response)
        # A 403 is only worth waiting out when it is a rate limit (GitHub says so with retry-after,
        # x-ratelimit-remaining: 0, or the words "secondary rate limit").
        if response.status_code == 403 and wait is None and "rate limit" in message.lower():
            wait = 60.0
        message = message or f"HTTP {response.status_code}"
        if method != "GET" and wait is not None and response.status_code in (403, 429):
            self.content_budget.refund(token)  # refused for a rate limit: nothing was created
        raise GitHubApiError(response.status_code, message, method, path, wait, hints=self.hints)

    def _remember(self, key: str, etag: str, answer: Answer) -> None:
        self._etags[key] = (etag, answer)
        self._etags.move_to_end(key)
        while len(self._etags) > ETAG_CACHE_SIZE:
            self._etags.popitem(last=False)
