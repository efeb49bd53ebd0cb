"""A preview's output, copied from its `runtime.log` (beside its sources) into the deployment's
`runtime` logs through a LogSink: secret values masked and lines committed in log order, like build
output."""

from __future__ import annotations

from pathlib import Path

from activities.logsink import LogSink
from models import LogLevel, LogType
from models.db import Database

CHUNK_BYTES = 1 << 20


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
        # Only whole lines; a partial last line waits for its newline.
        end = chunk.rfind(b"\n")
        if end < 0:
            return
        self.offset += end + 1
        for line in chunk[:end].decode(errors="replace").split("\n"):
            self._sink.info(line)
        await self._sink.flush()

    async def note(self, message: str, level: LogLevel) -> None:
        """A line of previewd's own about the process (it died, it is starting again)."""
        self._sink.line(message, level)
        await self._sink.flush()

    def tail(self, lines: int = 20) -> list[str]:
        try:
            text = self.path.read_text(errors="replace")
        except FileNotFoundError:
            return []
        return text.splitlines()[-lines:]
