"""activities/local/runtime_log.py: a preview's output copied whole line by whole line, masked,
without a database."""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import cast

import pytest

from activities.local.runtime_log import RuntimeLog
from activities.logsink import MASK, LogSink
from models import LogLevel, LogType
from models.db import Database


@pytest.fixture
def copied(monkeypatch: pytest.MonkeyPatch) -> list[dict[str, object]]:
    """The rows each flush would have inserted."""
    rows: list[dict[str, object]] = []

    async def flush(self: LogSink) -> None:
        rows.extend(self._pending)
        self._pending.clear()

    monkeypatch.setattr("activities.logsink.LogSink.flush", flush)
    return rows


def runtime_log(path: Path, *, offset: int = 0) -> RuntimeLog:
    return RuntimeLog(cast(Database, None), str(uuid.uuid4()), path, secrets=["s3cr3t-value"], offset=offset)


async def test_whole_lines_are_copied_masked_and_a_partial_line_waits(
    tmp_path: Path, copied: list[dict[str, object]]
) -> None:
    path = tmp_path / "runtime.log"
    path.write_bytes(b"listening\nkey is s3cr3t-value\nparti")
    log = runtime_log(path)
    await log.copy()
    assert [row["message"] for row in copied] == ["listening", f"key is {MASK}"]
    assert {row["type"] for row in copied} == {LogType.RUNTIME}

    with open(path, "ab") as output:
        output.write(b"al line\n")
    await log.copy()
    await log.copy()
    assert [row["message"] for row in copied][2:] == ["partial line"]


async def test_an_adopted_preview_starts_where_the_last_worker_stopped(
    tmp_path: Path, copied: list[dict[str, object]]
) -> None:
    path = tmp_path / "runtime.log"
    path.write_bytes(b"copied before\n")
    log = runtime_log(path, offset=path.stat().st_size)
    with open(path, "ab") as output:
        output.write(b"new\n")
    await log.copy()
    await log.note("the preview process exited; starting it again", LogLevel.WARNING)
    assert [(row["message"], row["level"]) for row in copied] == [
        ("new", LogLevel.INFO),
        ("the preview process exited; starting it again", LogLevel.WARNING),
    ]
    assert log.tail(1) == ["new"]


async def test_a_missing_file_copies_nothing(tmp_path: Path, copied: list[dict[str, object]]) -> None:
    log = runtime_log(tmp_path / "runtime.log")
    await log.copy()
    assert copied == [] and log.tail() == []
