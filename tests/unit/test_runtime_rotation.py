"""activities/local/runtime_output.py with runtime_log.py: runtime.log rotated by size under a real
writer process while it is copied, every line copied exactly once, in order, and no more than two
files of about the limit on disk."""

from __future__ import annotations

import asyncio
import subprocess
import sys
import uuid
from pathlib import Path
from typing import cast

import pytest

from activities.local.runtime_log import RuntimeLog
from activities.local.runtime_output import RuntimeOutput
from activities.logsink import LogSink
from models.db import Database

LIMIT = 64 * 1024
LINES = 40_000
# A real process writing into the output's pipe, in bursts of uneven size, pausing now and then.
WRITER = f"""
import sys, time
for i in range({LINES}):
    sys.stdout.write("line " + str(i).zfill(6) + " " + "y" * (i % 37) + "\\n")
    if i % 997 == 0:
        sys.stdout.flush()
        time.sleep(0.002)
"""


@pytest.fixture
def copied(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    rows: list[str] = []

    async def flush(self: LogSink) -> None:
        rows.extend(str(row["message"]) for row in self._pending)
        self._pending.clear()

    monkeypatch.setattr("activities.logsink.LogSink.flush", flush)
    return rows


async def test_rotation_copies_every_line_exactly_once(tmp_path: Path, copied: list[str]) -> None:
    path = tmp_path / "runtime.log"
    output = RuntimeOutput(path)
    log = RuntimeLog(
        cast(Database, None), str(uuid.uuid4()), path, secrets=[], output=output, max_file_bytes=LIMIT
    )
    rotations = 0
    switch = output._switch

    def counted_switch() -> None:
        nonlocal rotations
        rotations += 1
        switch()

    output._switch = counted_switch  # type: ignore[method-assign]
    writer = subprocess.Popen([sys.executable, "-c", WRITER], stdout=output.write_end)
    while writer.poll() is None:
        await log.copy()
        await asyncio.sleep(0.001)
    await asyncio.to_thread(output.close)
    for _ in range(1000):  # what is left, a chunk per copy
        before = (len(copied), log.offset)
        await log.copy()
        if (len(copied), log.offset) == before:
            break

    assert copied == [f"line {i:06d} {'y' * (i % 37)}" for i in range(LINES)]
    assert rotations >= 3, "runtime.log was not rotated"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["runtime.log", "runtime.log.1"]


async def test_a_restarted_process_appends_to_the_same_output(tmp_path: Path, copied: list[str]) -> None:
    path = tmp_path / "runtime.log"
    output = RuntimeOutput(path)
    log = RuntimeLog(cast(Database, None), str(uuid.uuid4()), path, secrets=[], output=output)
    for start in ("first", "second"):
        subprocess.run([sys.executable, "-c", f"print({start!r})"], stdout=output.write_end, check=True)
    await asyncio.to_thread(output.close)
    await log.copy()
    assert copied == ["first", "second"]
    # The worker's next output for the same file (a preview started again) goes on after them.
    again = RuntimeOutput(path)
    subprocess.run([sys.executable, "-c", "print('third')"], stdout=again.write_end, check=True)
    await asyncio.to_thread(again.close)
    await log.copy()
    assert copied == ["first", "second", "third"]
