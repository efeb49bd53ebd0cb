"""A preview's output, copied from its `runtime.log` (beside its sources) into the deployment's
`runtime` logs through a LogSink: secret values masked and lines committed in log order, like build
output, and no more than the newest `max_lines` kept (models/log_caps.py).

The file is rotated (activities/local/runtime_output.py) once it was copied past `max_file_bytes`:
the copy follows the file it was reading by its inode, reads it to its end as `runtime.log.1`, then
starts the new `runtime.log` at 0."""

from __future__ import annotations

import os
from pathlib import Path

from activities.local.runtime_output import RuntimeOutput
from activities.logsink import LogSink
from models import LogLevel, LogType
from models.db import Database

MB = 1 << 20
CHUNK_BYTES = MB
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
        self.output = output
        self.max_file_bytes = max_file_bytes
        self._sink = LogSink(db, deployment_id, LogType.RUNTIME, secrets=secrets, max_lines=max_lines)

    async def copy(self) -> None:
        """Copy what the process wrote since the last copy."""
        chunk, finished_file = self._read()
        if chunk is None:
            return
        # Only whole lines; a partial last line waits for its newline, unless it already fills a
        # chunk (then that much goes as one, cut, line, or the copy would stall there for good) or
        # ends a rotated file (rotation happens at a line end; this is only ever a cut line).
        end = chunk.rfind(b"\n")
        if finished_file and chunk:
            whole, self.offset = chunk.removesuffix(b"\n"), self.offset + len(chunk)
        elif end >= 0:
            whole, self.offset = chunk[:end], self.offset + end + 1
        elif len(chunk) == CHUNK_BYTES:
            whole, self.offset = chunk, self.offset + len(chunk)
        else:
            whole = None
        if whole is not None:
            for line in whole.decode(errors="replace").split("\n"):
                self._sink.info(line)
            await self._sink.flush()
        if finished_file:
            # The rotated file is read to its end: the current one from its start.
            self._inode, self.offset = None, 0
        elif self.output is not None and self.offset >= self.max_file_bytes:
            self.output.request_rotation()

    def _read(self) -> tuple[bytes | None, bool]:
        """The next chunk from where the copy is, and whether it is the last of a rotated file."""
        try:
            current = os.stat(self.path).st_ino
        except FileNotFoundError:
            return None, False
        if self._inode is None:
            self._inode = current
        if self._inode == current:
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


def _read_at(path: Path, offset: int) -> bytes | None:
    try:
        with open(path, "rb") as handle:
            handle.seek(offset)
            return handle.read(CHUNK_BYTES)
    except FileNotFoundError:
        return None
