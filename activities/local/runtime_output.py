"""The one writer of a deployment's `runtime.log`, which keeps the file's size bounded by rotation.

Every process of the preview (each start after a restart too) writes into one pipe; a thread of the
worker copies the pipe into the file. A pipe can only be written to, in order: no preview can
truncate the file or seek in it, and previewd decides where its bytes go. When the reader (RuntimeLog)
has copied the file past its size limit into Postgres, it asks for a rotation; the thread then moves
the file to `runtime.log.1` (replacing the one before, which the reader had finished) at the next
line end and goes on in a new file. So at most two files, each about the limit, and the reader
finishes the old file before it starts the new one: no line copied twice or skipped.

Bounded whatever the preview writes: a rotation asked for waits for a line end only until the file
reaches twice the limit (then the line is cut there), and output that would take the file past twice
the limit while the reader is behind is dropped, with a line saying how much once writing resumes.
"""

from __future__ import annotations

import os
import threading
from pathlib import Path

CHUNK = 64 * 1024
MB = 1 << 20
DROPPED = "previewd: {} bytes of this preview's output were dropped: it wrote faster than its log is kept\n"


class RuntimeOutput:
    def __init__(self, path: Path, max_bytes: int = 10 * MB) -> None:
        self.path = path
        self.rotated_path = path.with_name(path.name + ".1")
        self._lock = threading.Lock()
        self._rotate = False
        self._file = _open_append(path)
        self._size = os.fstat(self._file).st_size
        self._hard_limit = 2 * max(max_bytes, CHUNK)
        self._dropped = 0
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
                    self._take(chunk)
        except OSError:
            pass
        finally:
            os.close(self._read)
            with self._lock:
                os.close(self._file)
                self._file = -1

    def _take(self, chunk: bytes) -> None:
        if self._rotate:
            if (end := chunk.rfind(b"\n")) >= 0:
                self._append(chunk[: end + 1])
                self._switch()
                chunk = chunk[end + 1 :]
            elif self._size + len(chunk) > self._hard_limit:
                self._switch()  # no line end in sight: the line is cut here (the reader expects that)
        if not chunk:
            return
        if self._size + len(chunk) > self._hard_limit:
            self._dropped += len(chunk)  # the reader is this far behind: kept, it would fill the disk
            return
        self._append(chunk)

    def _append(self, data: bytes) -> None:
        """`data` at the file's end, after a line saying how much was dropped before it, if any was."""
        if self._dropped:
            cut = b"" if self._at_line_end else b"\n"
            self._write(cut + DROPPED.format(self._dropped).encode())
            self._dropped = 0
        self._write(data)

    def _write(self, data: bytes) -> None:
        _write_all(self._file, data)
        self._size += len(data)
        self._at_line_end = data.endswith(b"\n")

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
        self._size, self._at_line_end = 0, True


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
