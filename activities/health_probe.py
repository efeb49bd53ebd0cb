"""Whether a preview answers: the status line only.

The answer's body is the PR's code talking: a body that never ends would hold a health check for as
long as it keeps sending and fill the worker's memory, so the probe looks at the status line and
closes the connection without reading the body (what the custom-domain TLS check does too)."""

from __future__ import annotations

import httpx


async def answers(http: httpx.AsyncClient, url: str) -> bool:
    """True when `url` answers 2xx/3xx; False for 4xx/5xx and for no answer at all."""
    try:
        async with http.stream("GET", url) as response:
            return response.status_code < 400
    except httpx.HTTPError:
        return False
