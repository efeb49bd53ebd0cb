"""What the web app knows of the sandbox: whether some worker runs PR code unsandboxed (as the
workers reported at their start, models/sandbox_reports.py), and the rules that follow from it.

Read from Postgres rather than probed here: in docker-compose the web app runs in a container of
its own, where a probe would answer for the wrong host.
"""

from __future__ import annotations

import logging
import time

from sqlalchemy.exc import SQLAlchemyError
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession
from starlette.types import ASGIApp, Receive, Scope, Send

from models import User
from models.db import Database
from models.sandbox_reports import UNSANDBOXED_NOTICE, unsandboxed_hosts

log = logging.getLogger("previewd.web.sandbox")
# Pages poll every few seconds: the banner may lag a worker's start by this much, no more.
CACHE_SECONDS = 5.0
# Not pages: no banner to show, no query to make.
SKIPPED_PREFIXES = ("/api/", "/webhooks/", "/healthz", "/readyz", "/static/", "/docs", "/openapi.json")


class SandboxStatus:
    def __init__(self, db: Database) -> None:
        self.db = db
        self._cached: tuple[float, str | None] | None = None

    async def notice(self, *, fresh: bool = False) -> str | None:
        """The banner's text when some worker runs PR code unsandboxed, else None."""
        now = time.monotonic()
        if fresh or self._cached is None or now - self._cached[0] > CACHE_SECONDS:
            async with self.db.session() as session:
                hosts = await unsandboxed_hosts(session)
            self._cached = (now, UNSANDBOXED_NOTICE if hosts else None)
        return self._cached[1]


class SandboxNoticeMiddleware:
    """Puts the notice on request.state.unsandboxed for every page, which base.html shows."""

    def __init__(self, app: ASGIApp, status: SandboxStatus) -> None:
        self.app = app
        self.status = status

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and not str(scope["path"]).startswith(SKIPPED_PREFIXES):
            try:
                scope.setdefault("state", {})["unsandboxed"] = await self.status.notice()
            except SQLAlchemyError as error:
                # Postgres is down: the page says so itself where it needs the database; the banner
                # is back with it. (The refusals ask afresh and fail closed.)
                log.warning("sandbox state unknown: %s", type(error).__name__)
        await self.app(scope, receive, send)


async def sign_in_refusal(session: AsyncSession, *, github_id: int) -> str | None:
    """Unsandboxed, GitHub sign-in admits one person: the first who ever signed in with GitHub. Anyone
    else could start previews of code that runs as previewd, next to its keys."""
    first = (
        await session.exec(
            select(User).where(col(User.github_id).is_not(None)).order_by(col(User.created_at)).limit(1)
        )
    ).first()
    if first is None or first.github_id == github_id:
        return None
    return (
        f"This previewd runs pull requests' code without a sandbox ({UNSANDBOXED_NOTICE}), so only its "
        f"first user, {first.login}, may sign in. Its operator can install bubblewrap and slirp4netns "
        "and run previewd as root to open it to others."
    )
