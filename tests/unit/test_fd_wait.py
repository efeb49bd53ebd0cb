"""activities/sandbox/fd_wait.py: a descriptor numbered past select()'s 1024 is waited on all the same
(a worker with hundreds of previews holds that many, and its next sandbox failed to start)."""

from __future__ import annotations

import os
import resource
from collections.abc import Iterator

import pytest

from activities.sandbox.fd_wait import readable_within
from tests.requirements import require

HIGH_FD = 1500


@pytest.fixture
def high_pipe() -> Iterator[tuple[int, int]]:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    require(hard == resource.RLIM_INFINITY or hard > HIGH_FD + 10, f"RLIMIT_NOFILE hard limit {hard}")
    resource.setrlimit(resource.RLIMIT_NOFILE, (max(soft, HIGH_FD + 10), hard))
    read, write = os.pipe()
    high_read, high_write = os.dup2(read, HIGH_FD), os.dup2(write, HIGH_FD + 1)
    os.close(read)
    os.close(write)
    try:
        yield high_read, high_write
    finally:
        os.close(high_read)
        os.close(high_write)
        resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))


def test_a_high_descriptor_times_out_then_reads(high_pipe: tuple[int, int]) -> None:
    read, write = high_pipe
    assert read >= 1024
    assert readable_within(read, 0.05) is False
    os.write(write, b"1")
    assert readable_within(read, 0.05) is True
    assert os.read(read, 1) == b"1"


def test_end_of_file_is_readable(high_pipe: tuple[int, int]) -> None:
    read, write = high_pipe
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, write)  # the pipe's only writer goes: end of file
    os.close(devnull)
    assert readable_within(read, 1.0) is True
    assert os.read(read, 1) == b""
