"""A preview's output is the attacker's: whatever it writes, runtime.log stays within twice its limit
on disk (two files), one copy round neither holds the worker's event loop nor takes more than its
share of lines, and a NUL byte (which Postgres text cannot hold) does not stop its lines from being
stored. Postgres is replaced by a list here; tests/integration/test_log_limits.py has the real one."""

from __future__ import annotations

import asyncio
import os
import time
import uuid
from pathlib import Path
from typing import cast

import pytest

from activities.local.runtime_log import MAX_LINES_PER_COPY, RuntimeLog
from activities.local.runtime_output import RuntimeOutput
from activities.logsink import LogSink
from models.db import Database

LIMIT = 64 * 1024
SECRETS = [f"secret-value-{i}-abcdefghij" for i in range(5)]


@pytest.fixture
def stored(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    kept: list[str] = []

    async def flush(self: LogSink) -> None:
        kept.extend(row["message"] for row in self._pending)
        self._pending.clear()

    monkeypatch.setattr(LogSink, "flush", flush)
    return kept


def on_disk(directory: Path) -> int:
    return sum(path.stat().st_size for path in directory.iterdir())


def bounded_log(path: Path) -> tuple[RuntimeOutput, RuntimeLog]:
    output = RuntimeOutput(path, max_bytes=LIMIT)
    log = RuntimeLog(cast(Database, None), str(uuid.uuid4()), path, secrets=SECRETS, output=output,
                     max_file_bytes=LIMIT)  # fmt: skip
    return output, log


async def write(output: RuntimeOutput, data: bytes) -> None:
    await asyncio.to_thread(os.write, output.write_end, data)
    await asyncio.sleep(0.05)  # the copying thread takes it from the pipe


async def test_output_that_never_ends_a_line_is_still_rotated(tmp_path: Path, stored: list[str]) -> None:
    output, log = bounded_log(tmp_path / "runtime.log")
    for _ in range(8 * 16):  # 8 MB without a newline, a copy every 64 KB
        await write(output, b"A" * 64 * 1024)
        await log.copy()
    await asyncio.to_thread(output.close)
    assert on_disk(tmp_path) <= 4 * LIMIT
    assert stored and all(set(line) <= {"A"} or "dropped" in line for line in stored)


async def test_a_writer_faster_than_the_copy_is_cut_off_and_told(tmp_path: Path, stored: list[str]) -> None:
    output, log = bounded_log(tmp_path / "runtime.log")
    line = b"x" * 99 + b"\n"
    for _ in range(8):
        await write(output, line * 10_000)  # 1 MB between two copies
        await log.copy()
    for _ in range(20):  # the copy catches up
        await log.copy()
    await write(output, b"after the burst\n")
    for _ in range(3):
        await log.copy()
    await asyncio.to_thread(output.close)
    await log.copy()
    assert on_disk(tmp_path) <= 4 * LIMIT
    # What could not be kept is said where it was left out, and what comes after is there again.
    assert stored[-1] == "after the burst"
    notes = [line for line in stored if "output were dropped" in line]
    kept = [line for line in stored[:-1] if line not in notes]
    # A drop can cut a line (the pipe is read in blocks): kept lines are the written ones or parts.
    assert notes and all(0 < len(line) <= 99 and set(line) == {"x"} for line in kept)
    # Nothing went missing unsaid: every byte written was stored or counted as dropped (the kept
    # lines' own newlines are the only bytes not in either sum).
    written = 8 * 10_000 * len(line)
    accounted = sum(map(len, kept)) + sum(int(note.split()[1]) for note in notes)
    assert written - len(kept) <= accounted <= written


async def test_one_copy_round_takes_its_share_off_the_event_loop(tmp_path: Path, stored: list[str]) -> None:
    path = tmp_path / "runtime.log"
    path.write_bytes(b"\n" * (1 << 20))
    log = RuntimeLog(cast(Database, None), str(uuid.uuid4()), path, secrets=SECRETS)
    stalls: list[float] = []

    async def ticker() -> None:
        while True:
            before = time.perf_counter()
            await asyncio.sleep(0.01)
            stalls.append(time.perf_counter() - before - 0.01)

    ticking = asyncio.create_task(ticker())
    await log.copy()
    ticking.cancel()
    assert len(stored) == MAX_LINES_PER_COPY
    assert max(stalls, default=0.0) < 0.1, max(stalls)
    await log.copy()
    assert len(stored) == 2 * MAX_LINES_PER_COPY  # the rest waits for the next rounds, none lost


async def test_a_nul_byte_does_not_stop_the_lines_being_stored(tmp_path: Path, stored: list[str]) -> None:
    path = tmp_path / "runtime.log"
    path.write_bytes(b"before\x00after\nnext\n")
    log = RuntimeLog(cast(Database, None), str(uuid.uuid4()), path, secrets=SECRETS)
    await log.copy()
    assert stored == ["before\ufffdafter", "next"]
