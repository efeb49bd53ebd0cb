"""activities/logsink.py: masking and batching of log lines, without a database."""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import AsyncIterator
from typing import cast

from activities.logsink import FLUSH_AT_LINES, MASK, MAX_LINE_CHARS, LogSink
from models import LogLevel, LogType
from models.db import Database

DEPLOYMENT_ID = str(uuid.uuid4())


def sink(secrets: list[str] | None = None) -> LogSink:
    return LogSink(None, DEPLOYMENT_ID, LogType.BUILD, secrets=secrets)  # type: ignore[arg-type]


def messages(log: LogSink) -> list[str]:
    return [row["message"] for row in log._pending]


def test_line_is_queued_with_deployment_type_and_level() -> None:
    log = sink()
    log.line("hello")
    log.error("boom")
    log.info("fine")

    assert messages(log) == ["hello", "boom", "fine"]
    assert [row["level"] for row in log._pending] == [LogLevel.INFO, LogLevel.ERROR, LogLevel.INFO]
    assert {row["deployment_id"] for row in log._pending} == {uuid.UUID(DEPLOYMENT_ID)}
    assert {row["type"] for row in log._pending} == {LogType.BUILD}
    assert all(row["timestamp"].tzinfo is not None for row in log._pending)


def test_secret_values_are_masked() -> None:
    log = sink(["hunter2-password", "tok_ABCDEF"])
    log.line("login with hunter2-password and tok_ABCDEF, again hunter2-password")

    assert messages(log) == [f"login with {MASK} and {MASK}, again {MASK}"]


def test_longest_secret_is_masked_first() -> None:
    log = sink(["abcd", "abcdefgh"])
    log.line("x abcdefgh y abcd z")

    assert messages(log) == [f"x {MASK} y {MASK} z"]
    assert "efgh" not in messages(log)[0]


def test_short_and_empty_secrets_are_not_masked() -> None:
    log = sink(["", "a", "abc"])
    log.line("a abc b")

    assert messages(log) == ["a abc b"]


def test_no_secrets_means_no_masking() -> None:
    log = sink(None)
    log.line("nothing to hide ********")
    assert messages(log) == ["nothing to hide ********"]


def test_long_line_is_truncated_after_masking() -> None:
    secret = "SECRET-VALUE-1234"
    log = sink([secret])
    log.line("x" * (MAX_LINE_CHARS - 5) + secret + "tail")

    (message,) = messages(log)
    assert len(message) == MAX_LINE_CHARS
    assert secret[:5] not in message
    assert message.endswith("*****")


def test_wakeup_is_set_at_batch_size() -> None:
    log = sink()
    for index in range(FLUSH_AT_LINES - 1):
        log.line(str(index))
    assert not log._wakeup.is_set()
    log.line("last")
    assert log._wakeup.is_set()


async def test_flush_without_lines_does_not_touch_database() -> None:
    await sink().flush()


def test_multi_line_secret_is_masked_line_by_line() -> None:
    secret = "-----BEGIN KEY-----\nMIIEvQIBADANBgkqhkiG9w0BAQEFAASC\n-----END KEY-----"
    log = sink([secret])
    for line in secret.split("\n"):
        log.line(line)

    assert "MIIEvQIBADANBgkqhkiG9w0BAQEFAASC" not in "\n".join(messages(log))


class SlowDatabase:
    """Stands in for models.db.Database: each INSERT takes a while, and what was committed is kept."""

    def __init__(self) -> None:
        self.committed: list[str] = []
        self.inserting = asyncio.Event()

    @contextlib.asynccontextmanager
    async def session(self) -> AsyncIterator[SlowSession]:
        yield SlowSession(self)


class SlowSession:
    def __init__(self, db: SlowDatabase) -> None:
        self.db = db
        self.batch: list[str] = []

    async def execute(self, statement: object, rows: object = None) -> None:
        if isinstance(rows, list):
            self.db.inserting.set()
            await asyncio.sleep(0.3)
            self.batch = [row["message"] for row in rows]

    async def commit(self) -> None:
        self.db.committed += self.batch


async def test_closing_during_a_flush_loses_no_line() -> None:
    # The build's last line is being written by the 200 ms flusher when the build ends: it must
    # still reach the log (cancelling the flusher mid-INSERT used to drop that batch).
    db = SlowDatabase()
    log = LogSink(cast(Database, db), DEPLOYMENT_ID, LogType.BUILD)
    async with log:
        log.info("building")
        log.info("built")
        await asyncio.wait_for(db.inserting.wait(), 2)
    assert db.committed == ["building", "built"]
