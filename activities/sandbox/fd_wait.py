"""Waiting for a file descriptor to become readable, whatever its number.

select.select() refuses descriptors numbered 1024 and above ("filedescriptor out of range in select()"),
and a worker running hundreds of previews holds that many (pipes, sockets, log files): the next sandbox
then failed to start. poll() has no such limit.
"""

from __future__ import annotations

import select


def readable_within(fd: int, timeout: float) -> bool:
    """True once `fd` can be read without blocking (data, or end of file), False after `timeout` s."""
    poller = select.poll()
    poller.register(fd, select.POLLIN)
    return bool(poller.poll(max(0.0, timeout) * 1000))
