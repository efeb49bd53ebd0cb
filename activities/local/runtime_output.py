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
        # Whether the file ends with a newline (an empty one does): a rotation may happen right there.
        self._at_line_end = _ends_a_line(path)
        self._read, self.write_end = os.pipe()
        self._thread = threading.Thread(target=self._copy, name="runtime-output", daemon=True)
        self._thread.start()

    def request_rotation(self) -> None:
        """Called by the reader once it copied the file to past its limit (and no earlier file is left
        to read): the file is moved aside now if it ends at a line end, else at the next one written."""
        with self._lock:
            if self._file < 0:
                return  # closed: nothing writes here any more
            if self._at_line_end:
                self._switch()
            else:
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
                        self._at_line_end = True
                        chunk = chunk[end + 1 :]
                    if chunk:
                        _write_all(self._file, chunk)
                        self._at_line_end = chunk.endswith(b"\n")
        except OSError:
            pass
        finally:
            os.close(self._read)
            with self._lock:
                os.close(self._file)
                self._file = -1

    def _switch(self) -> None:
        # runtime.log never goes missing, not even for a moment: the old file gets its second name
        # first, then a new file takes the first one in a single rename.
        self.rotated_path.unlink(missing_ok=True)
        os.link(self.path, self.rotated_path)
        fresh_path = self.path.with_name(self.path.name + ".new")
        fresh = _open_append(fresh_path)
        os.replace(fresh_path, self.path)
        os.close(self._file)
        self._file, self._rotate = fresh, False


def _open_append(path: Path) -> int:
    return os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC, 0o600)


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view) :]


def _ends_a_line(path: Path) -> bool:
    """Whether the file (a restarted preview's, say) ends at a line end, as an empty one does."""
    with open(path, "rb") as handle:
        size = handle.seek(0, os.SEEK_END)
        return size == 0 or os.pread(handle.fileno(), 1, size - 1) == b"\n"
