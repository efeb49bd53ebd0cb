"""previewd_api_calls_total{api, status}: every call the GitHub and Fly clients make, by the status
answered (httpx's response hook sees each attempt, retries included; runtime/metrics/labels.py), or
"error" for no answer."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Literal

import httpx

from runtime.metrics.labels import status_label
from runtime.metrics.registry import API_CALLS

Api = Literal["github", "fly"]


def counting_hooks(api: Api) -> dict[str, list[Callable[[httpx.Response], Awaitable[None]]]]:
    """`httpx.AsyncClient(event_hooks=counting_hooks("github"))`."""

    async def count(response: httpx.Response) -> None:
        API_CALLS.labels(api=api, status=status_label(response.status_code)).inc()

    return {"response": [count]}


def count_no_answer(api: Api) -> None:
    API_CALLS.labels(api=api, status="error").inc()
