"""activities/local/runtime_log.py: a preview's output copied whole line by whole line, masked,
without a database."""

from __future__ import annotations

import os
import tracemalloc
import uuid
from pathlib import Path
from typing import cast

import pytest

from activities.local.runtime_log import CHUNK_BYTES, RuntimeLog
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


async def test_tail_reads_only_the_end_of_a_huge_file(tmp_path: Path) -> None:
    """The file is the preview's output: as large as it likes (sparse, even: no disk needed), and
    tail() runs in the worker."""
    path = tmp_path / "runtime.log"
    with open(path, "wb") as output:
        output.truncate(256 << 20)
        output.seek(0, os.SEEK_END)
        output.write(b"\nlast words\n")
    tracemalloc.start()
    try:
        tail = runtime_log(path).tail(1)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert tail == ["last words"]
    assert peak < 4 << 20, f"tail() held {peak} bytes for a {path.stat().st_size}-byte file"


async def test_a_megabyte_without_a_newline_does_not_stall_the_copy(
    tmp_path: Path, copied: list[dict[str, object]]
) -> None:
    path = tmp_path / "runtime.log"
    path.write_bytes(b"\0" * (CHUNK_BYTES + 10) + b"\nafter\n")
    log = runtime_log(path)
    for _ in range(3):
        await log.copy()
    assert [row["message"] for row in copied][-1] == "after"
