"""Waking a sleeping preview from the proxy: the PR's workflow is asked once (not once per request),
and every request waiting for that preview shares one watch of its route until it is awake.

An HTML request is answered at once with a small page that reloads itself; any other request (an
API call, a WebSocket, curl) is held until the preview answers, up to HOLD_SECONDS, then refused with
503 and Retry-After.
"""

from __future__ import annotations

import asyncio
import html
import logging
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from models import Deployment, PreviewRoute
from models.db import Database
from web.proxy.recent import Recent

log = logging.getLogger(__name__)

# Another request within this long does not ask again (a wake that failed is asked for once more).
ASK_AGAIN_AFTER_SECONDS = 10.0
HOLD_SECONDS = 60.0
POLL_SECONDS = 0.2
RETRY_AFTER_SECONDS = 5
PAGE_REFRESH_SECONDS = 2


@dataclass(frozen=True)
class Awake:
    """Where the woken preview listens now."""

    upstream: str


AskToWake = Callable[[uuid.UUID, int], Awaitable[None]]


class Waker:
    def __init__(self, db: Database, ask: AskToWake) -> None:
        self.db = db
        self._ask = ask
        # Per app: the sleep asked about (its route's updated_at, set when it fell asleep), forgotten
        # after ASK_AGAIN_AFTER_SECONDS.
        self._asked: Recent[object] = Recent(ASK_AGAIN_AFTER_SECONDS)
        self._watches: dict[str, asyncio.Task[Awake | None]] = {}
        # Held until each ask ends: a task nobody references may be collected mid-flight.
        self._asking: set[asyncio.Task[None]] = set()

    def wake(self, route: PreviewRoute) -> None:
        """Ask the route's PR workflow to wake its preview, once per sleep (again after
        ASK_AGAIN_AFTER_SECONDS, in case that wake failed)."""
        at = time.monotonic()
        if self._asked.get(route.app_name, at) == (route.updated_at,):
            return
        self._asked.put(route.app_name, route.updated_at, at)
        task = asyncio.create_task(self._ask_for(route.app_name, route.deployment_id))
        self._asking.add(task)
        task.add_done_callback(self._asking.discard)

    async def until_awake(self, app_name: str, timeout: float = HOLD_SECONDS) -> Awake | None:
        """The awake preview's upstream once its route says so; None after `timeout`."""
        watch = self._watches.get(app_name)
        if watch is None or watch.done():
            watch = asyncio.create_task(self._watch(app_name))
            self._watches[app_name] = watch
            watch.add_done_callback(lambda _: self._forget_watch(app_name, watch))
        try:
            return await asyncio.wait_for(asyncio.shield(watch), timeout)
        except TimeoutError:
            return None

    def _forget_watch(self, app_name: str, watch: asyncio.Task[Awake | None]) -> None:
        if self._watches.get(app_name) is watch:
            del self._watches[app_name]

    async def _watch(self, app_name: str) -> Awake | None:
        """Polls the route until it is awake (shared by every waiting request), for HOLD_SECONDS."""
        deadline = time.monotonic() + HOLD_SECONDS
        while time.monotonic() < deadline:
            async with self.db.session() as session:
                route = await session.get(PreviewRoute, app_name)
            if route is None:
                return None  # destroyed meanwhile
            if not route.asleep:
                return Awake(upstream=route.upstream)
            await asyncio.sleep(POLL_SECONDS)
        return None

    async def _ask_for(self, app_name: str, deployment_id: uuid.UUID) -> None:
        try:
            async with self.db.session() as session:
                deployment = await session.get(Deployment, deployment_id)
            if deployment is None:
                return
            await self._ask(deployment.project_id, deployment.pr_number)
        except Exception as error:  # the next request asks again
            self._asked.forget(app_name)
            log.warning("could not ask to wake %s: %s", app_name, error)

    async def drain(self) -> None:
        for watch in list(self._watches.values()):
            watch.cancel()
        if self._asking:
            await asyncio.gather(*self._asking, return_exceptions=True)


def wants_html(headers: list[tuple[bytes, bytes]]) -> bool:
    """A browser navigating: its Accept names text/html."""
    return any(name == b"accept" and b"text/html" in value.lower() for name, value in headers)


def waking_page(app_name: str) -> bytes:
    """A page that reloads itself until the preview answers. It names only the app (escaped): no PR
    text, nothing of the project's settings."""
    name = html.escape(app_name)
    return (
        "<!doctype html>\n<html lang=en><head><meta charset=utf-8>"
        f'<meta http-equiv="refresh" content="{PAGE_REFRESH_SECONDS}">'
        f"<title>Waking up {name}</title>"
        "<style>body{font:16px system-ui,sans-serif;margin:20vh auto;max-width:32em;text-align:center;"
        "color:#333}</style></head><body>"
        f"<h1>Waking up {name}…</h1>"
        "<p>This preview was asleep after a while without visitors. It is starting again; this page "
        "reloads by itself.</p></body></html>\n"
    ).encode()


def waking_headers() -> list[tuple[bytes, bytes]]:
    return [
        (b"content-type", b"text/html; charset=utf-8"),
        (b"cache-control", b"no-store"),
        (b"retry-after", str(PAGE_REFRESH_SECONDS).encode()),
        (b"content-security-policy", b"default-src 'none'; style-src 'unsafe-inline'"),
    ]


def still_asleep_text(app_name: str) -> str:
    return f"previewd: preview {app_name} is waking up; try again in a few seconds\n"
