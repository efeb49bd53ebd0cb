"""The one writer of a deployment's `runtime.log`, which keeps the file's size bounded by rotation.

Every process of the preview (each start after a restart too) writes into one pipe; a thread of the
worker copies the pipe into the file. A pipe can only be written to, in order: no preview can
truncate the file or seek in it, and previewd decides where its bytes go. When the reader (RuntimeLog)
has copied the file past its size limit into Postgres, it asks for a rotation; the thread then moves
the file to `runtime.log.1` (replacing the one before, which the reader had finished) at the next
line end and goes on in a new file. So at most two files, each about the limit, and the reader
finishes the old file before it starts the new one: no line copied twice or skipped.
"""

from __future__ import annotations

import os
import threading
from pathlib import Path

CHUNK = 64 * 1024


class RuntimeOutput:
    def __init__(self, path: Path) -> None:
        self.path = path
        self.rotated_path = path.with_name(path.name + ".1")
        self._lock = threading.Lock()
        self._rotate = False
        self._file = _open_append(path)
        self._read, self.write_end = os.pipe()
        self._thread = threading.Thread(target=self._copy, name="runtime-output", daemon=True)
        self._thread.start()

    def request_rotation(self) -> None:
        """Called by the reader once it copied the file to past its limit (and no earlier file is left
        to read): the file is moved aside at the next line end written."""
        self._rotate = True

    def close(self, timeout: float = 2.0) -> None:
        """No process is started on this pipe again: once the last writer is gone the thread sees EOF
        and has put everything into the file. Blocking: call in a thread."""
        if self.write_end >= 0:
            os.close(self.write_end)
            self.write_end = -1
        self._thread.join(timeout)

    def _copy(self) -> None:
        try:
            while chunk := os.read(self._read, CHUNK):
                with self._lock:
                    if self._rotate and (end := chunk.rfind(b"\n")) >= 0:
                        _write_all(self._file, chunk[: end + 1])
                        self._switch()
                        chunk = chunk[end + 1 :]
                    _write_all(self._file, chunk)
        except OSError:
            pass
        finally:
            os.close(self._read)
            os.close(self._file)

    def _switch(self) -> None:
        os.replace(self.path, self.rotated_path)
        fresh = _open_append(self.path)
        os.close(self._file)
        self._file, self._rotate = fresh, False


def _open_append(path: Path) -> int:
    return os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC, 0o600)


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view) :]
