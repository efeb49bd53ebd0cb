"""A preview's output, copied from its `runtime.log` (beside its sources) into the deployment's
`runtime` logs through a LogSink: secret values masked and lines committed in log order, like build
output."""

from __future__ import annotations

from pathlib import Path

from activities.logsink import LogSink
from models import LogLevel, LogType
from models.db import Database

CHUNK_BYTES = 1 << 20
# tail() reads no more than this of the file's end: the file is the preview's output, as large as it
# cared to make it.
TAIL_BYTES = 64 * 1024


class RuntimeLog:
    def __init__(
        self, db: Database, deployment_id: str, path: Path, *, secrets: list[str], offset: int = 0
    ) -> None:
        self.path = path
        # How far the file has been copied: a worker that adopts a running preview starts at the end.
        self.offset = offset
        self._sink = LogSink(db, deployment_id, LogType.RUNTIME, secrets=secrets)

    async def copy(self) -> None:
        """Copy what the process wrote since the last copy."""
        try:
            with open(self.path, "rb") as handle:
                handle.seek(self.offset)
                chunk = handle.read(CHUNK_BYTES)
        except FileNotFoundError:
            return
        # Only whole lines; a partial last line waits for its newline, unless it already fills a
        # chunk: then that much goes as one (cut) line, or the copy would stall there for good.
        end = chunk.rfind(b"\n")
        if end >= 0:
            whole, self.offset = chunk[:end], self.offset + end + 1
        elif len(chunk) == CHUNK_BYTES:
            whole, self.offset = chunk, self.offset + len(chunk)
        else:
            return
        for line in whole.decode(errors="replace").split("\n"):
            self._sink.info(line)
        await self._sink.flush()

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
