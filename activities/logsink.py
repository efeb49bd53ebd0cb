"""Deployment log lines, written to Postgres in batches while the output is still coming."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import urllib.parse
import uuid
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import insert

from models import DeploymentLog, LogLevel, LogType
from models.db import Database
from models.log_caps import insert_keeping_newest, insert_up_to
from models.queries import lock_log_order
from models.secrets import MIN_SECRET_CHARS

FLUSH_EVERY_SECONDS = 0.2
FLUSH_AT_LINES = 500
MAX_LINE_CHARS = 8000
MASK = "********"


def encoded_forms(secret: str) -> set[str]:
    """The ways a build commonly prints a value besides as itself: base64 (an Authorization header, a
    Kubernetes manifest), URL-encoded (a connection string, a query), JSON-escaped (a config dump)."""
    raw = secret.encode()
    forms = {
        secret,
        base64.b64encode(raw).decode(),
        base64.urlsafe_b64encode(raw).decode(),
        urllib.parse.quote(secret, safe=""),
        urllib.parse.quote_plus(secret, safe=""),
        json.dumps(secret)[1:-1],
        json.dumps(secret, ensure_ascii=False)[1:-1],
    }
    # Base64 of the same bytes at another offset in a longer string shares no characters with these;
    # without the padding, it at least matches where the value starts the encoded text.
    forms |= {form.rstrip("=") for form in forms}
    return forms


class Masker:
    """Replaces known secret values, and their common encodings, in output lines.

    Values shorter than MIN_SECRET_CHARS are refused when a secret is saved (models/secrets.py):
    masking "ab" would blank every word holding it and still tell a reader where the value sits."""

    def __init__(self, secrets: list[str] | None = None) -> None:
        # Output arrives line by line, so each line of a multi-line secret (a PEM key) is masked too.
        pieces = {piece for s in (secrets or []) for piece in [s, *s.splitlines()]}
        forms = {
            form
            for piece in pieces
            if len(piece.strip()) >= MIN_SECRET_CHARS
            for form in encoded_forms(piece)
        }
        # Longest first, so a secret containing another is masked whole.
        self.secrets = sorted((f for f in forms if len(f.strip()) >= MIN_SECRET_CHARS), key=len, reverse=True)

    def __call__(self, line: str) -> str:
        for secret in self.secrets:
            line = line.replace(secret, MASK)
        return line


class LogSink:
    """Collects lines and flushes them every 200 ms (or every 500 lines), so a reader sees the log live
    without one INSERT per line. Known secret values are masked before a line is stored.

    With `max_lines`, the deployment keeps at most that many lines of this type (models/log_caps.py):
    a runtime log drops its oldest lines, any other log cuts what comes past it."""

    def __init__(
        self,
        db: Database,
        deployment_id: str,
        log_type: LogType,
        *,
        secrets: list[str] | None = None,
        max_lines: int | None = None,
    ) -> None:
        self._db = db
        self._deployment_id = uuid.UUID(deployment_id)
        self._type = log_type
        self._max_lines = max_lines
        self._mask = Masker(secrets)
        self._pending: list[dict[str, Any]] = []
        self._wakeup = asyncio.Event()
        self._closing = False
        self._task: asyncio.Task[None] | None = None

    async def __aenter__(self) -> LogSink:
        self._task = asyncio.create_task(self._flusher())
        return self

    async def __aexit__(self, *exc: object) -> None:
        # The flusher is asked to stop, never cancelled: cancelled mid-INSERT, the batch it had taken
        # off `_pending` (a build's last lines, say) would be lost. Shielded, so a build being
        # cancelled still waits for it, then flushes what is left: the tail is what people read.
        self._closing = True
        self._wakeup.set()
        if self._task is not None:
            await asyncio.shield(self._task)
        await asyncio.shield(self.flush())

    def line(self, message: str, level: LogLevel = LogLevel.INFO) -> None:
        self.add(self.rows([message], level))

    def rows(self, messages: list[str], level: LogLevel = LogLevel.INFO) -> list[dict[str, Any]]:
        """The rows these lines become: masked, cut to MAX_LINE_CHARS, NUL-free (Postgres text cannot
        hold it, and one NUL in a preview's output would fail every insert of its lines). Touches no
        state of the sink, so a thread can make them (activities/local/runtime_log.py)."""
        now = datetime.now(UTC)
        return [
            {
                "deployment_id": self._deployment_id,
                "type": self._type,
                "level": level,
                "message": self._mask(message.replace("\x00", "\ufffd"))[:MAX_LINE_CHARS],
                "timestamp": now,
            }
            for message in messages
        ]

    def add(self, rows: list[dict[str, Any]]) -> None:
        """Rows made by rows(), in their order, to go with the next flush."""
        self._pending.extend(rows)
        if len(self._pending) >= FLUSH_AT_LINES:
            self._wakeup.set()

    def info(self, message: str) -> None:
        self.line(message, LogLevel.INFO)

    def error(self, message: str) -> None:
        self.line(message, LogLevel.ERROR)

    async def flush(self) -> None:
        if not self._pending:
            return
        batch, self._pending = self._pending, []
        async with self._db.session() as session:
            await lock_log_order(session, [self._deployment_id])
            if self._max_lines is None:
                await session.execute(insert(DeploymentLog), batch)
            elif self._type == LogType.RUNTIME:
                await insert_keeping_newest(session, self._deployment_id, batch, max_lines=self._max_lines)
            else:
                await insert_up_to(session, self._deployment_id, self._type, batch, max_lines=self._max_lines)
            await session.commit()

    async def _flusher(self) -> None:
        while not self._closing:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wakeup.wait(), FLUSH_EVERY_SECONDS)
            self._wakeup.clear()
            await self.flush()
