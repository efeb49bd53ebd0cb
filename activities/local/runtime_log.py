"""A preview's output, copied from its `runtime.log` (beside its sources) into the deployment's
`runtime` logs through a LogSink: secret values masked and lines committed in log order, like build
output, and no more than the newest `max_lines` kept (models/log_caps.py).

The file is rotated (activities/local/runtime_output.py) once it was copied past `max_file_bytes`:
the copy follows the file it was reading by its inode, reads it to its end as `runtime.log.1`, then
starts the new `runtime.log` at 0.

The output is the preview's, as fast and as odd as it cares to make it: each copy takes at most
CHUNK_BYTES and MAX_LINES_PER_COPY lines (what is left waits for the next round, and what the
writer cannot keep meanwhile it drops, saying so), and reads, splits and masks it in a thread, so one
preview printing newlines as fast as it can neither stalls the worker's event loop (every activity of
the host runs there) nor floods Postgres."""

from __future__ import annotations

import asyncio
import os
from pathlib import Path
from typing import Any

from activities.local.runtime_output import RuntimeOutput
from activities.logsink import LogSink
from models import LogLevel, LogType
from models.db import Database

MB = 1 << 20
CHUNK_BYTES = 512 * 1024
MAX_LINES_PER_COPY = 10_000
# tail() reads no more than this of the file's end: the file is the preview's output, as large as it
# cared to make it.
TAIL_BYTES = 64 * 1024


class RuntimeLog:
    def __init__(
        self,
        db: Database,
        deployment_id: str,
        path: Path,
        *,
        secrets: list[str],
        offset: int = 0,
        output: RuntimeOutput | None = None,
        max_lines: int | None = None,
        max_file_bytes: int = 10 * MB,
    ) -> None:
        self.path = path
        self.rotated_path = path.with_name(path.name + ".1")
        # How far the file has been copied: a worker that adopts a running preview starts at the end.
        self.offset = offset
        # Which file `offset` is in (its inode); None until the first read. Unknown for a file
        # adopted from an earlier worker: that one is the current runtime.log.
        self._inode: int | None = None
        self._on_current = False
        self.output = output
        self.max_file_bytes = max_file_bytes
        self._sink = LogSink(db, deployment_id, LogType.RUNTIME, secrets=secrets, max_lines=max_lines)
        # One copy at a time (the watcher's and a stop's): each takes up where the last one ended.
        self._copying = asyncio.Lock()

    async def copy(self) -> None:
        """Copy (some of) what the process wrote since the last copy."""
        async with self._copying:
            rows = await asyncio.to_thread(self._take)
            if rows:
                self._sink.add(rows)
                await self._sink.flush()
            # Only from the current file: asked while the rotated one is still being read, the rotation
            # would put the current file in its place before the copy finished it.
            if self.output is not None and self._on_current and self.offset >= self.max_file_bytes:
                self.output.request_rotation()

    def _take(self) -> list[dict[str, Any]]:
        """Blocking: the next lines as log rows, the copy's place moved past them."""
        chunk, finished_file = self._read()
        if chunk is None:
            return []
        # Only whole lines; a partial last line waits for its newline, unless it is long already (then
        # that much goes as one, cut, line, or the copy would stall there for good: the writer keeps
        # no more than twice max_file_bytes) or ends a rotated file (rotated at a line end, or cut).
        end = _end_of_lines(chunk, MAX_LINES_PER_COPY)
        if finished_file and chunk and b"\n" not in chunk[end + 1 :]:
            whole, self.offset = chunk.removesuffix(b"\n"), self.offset + len(chunk)
        elif end >= 0:
            whole, self.offset = chunk[:end], self.offset + end + 1
            finished_file = False  # more of it to read next time
        elif len(chunk) >= min(CHUNK_BYTES, self.max_file_bytes):
            whole, self.offset = chunk, self.offset + len(chunk)
        else:
            whole = None
        rows = [] if whole is None else self._sink.rows(whole.decode(errors="replace").split("\n"))
        if finished_file:
            # The rotated file is read to its end: the current one from its start.
            self._inode, self.offset = None, 0
        return rows

    def _read(self) -> tuple[bytes | None, bool]:
        """The next chunk from where the copy is, and whether it is the last of a rotated file."""
        try:
            current = os.stat(self.path).st_ino
        except FileNotFoundError:
            return None, False
        if self._inode is None:
            self._inode = current
        self._on_current = self._inode == current
        if self._on_current:
            return _read_at(self.path, self.offset), False
        # Rotated since the last copy: the rest of the file that was being read is runtime.log.1.
        try:
            with open(self.rotated_path, "rb") as handle:
                if os.fstat(handle.fileno()).st_ino != self._inode:
                    return b"", True  # not ours (a restart's file): nothing of it left to read
                handle.seek(self.offset)
                chunk = handle.read(CHUNK_BYTES)
                return chunk, len(chunk) < CHUNK_BYTES
        except FileNotFoundError:
            return b"", True

    def close(self) -> None:
        """No process writes into this log's output again (blocking: call in a thread)."""
        if self.output is not None:
            self.output.close()

    async def note(self, message: str, level: LogLevel) -> None:
        """A line of previewd's own about the process (it died, it is starting again)."""
        self._sink.line(message, level)
        await self._sink.flush()

    def tail(self, lines: int = 20) -> list[str]:
        try:
            with open(self.path, "rb") as handle:
                start = max(0, handle.seek(0, 2) - TAIL_BYTES)
                handle.seek(start)
                data = handle.read(TAIL_BYTES)
        except FileNotFoundError:
            return []
        found = data.decode(errors="replace").splitlines()
        # Cut in the middle of a line: that first piece is no line of the output.
        if start > 0 and found:
            found = found[1:]
        return found[-lines:]


def _end_of_lines(chunk: bytes, most: int) -> int:
    """Where the last of at most `most` whole lines of `chunk` ends (its newline), -1 for none."""
    end = -1
    for _ in range(most):
        found = chunk.find(b"\n", end + 1)
        if found < 0:
            break
        end = found
    return end


def _read_at(path: Path, offset: int) -> bytes | None:
    try:
        with open(path, "rb") as handle:
            handle.seek(offset)
            return handle.read(CHUNK_BYTES)
    except FileNotFoundError:
        return None
