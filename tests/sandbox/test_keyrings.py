"""Kernel keyrings: every sandbox runs as uid 65534 in the host's user namespace, so they all would
share that uid's user keyring (and its user-session keyring) while any of them runs. The seccomp
filter (activities/sandbox/seccomp.py) refuses add_key, keyctl and request_key, which closes it.
The syscall numbers below are x86_64's; test_seccomp.py checks aarch64's too."""

from __future__ import annotations

import time
import uuid
from pathlib import Path

import pytest

from activities.sandbox import start_server
from tests.sandbox.conftest import Dirs, run_lines, sh, spec_for

pytestmark = [pytest.mark.usefixtures("sandboxing"), pytest.mark.timeout(60)]

ADD = """
import ctypes, sys
libc = ctypes.CDLL(None, use_errno=True)
# add_key("user", description, payload, len, KEY_SPEC_USER_KEYRING)
print(libc.syscall(248, b"user", sys.argv[1].encode(), b"from-another-sandbox", 20, -4))
"""

FIND = """
import ctypes, sys
libc = ctypes.CDLL(None, use_errno=True)
# request_key("user", description, NULL, 0): searches the keyrings this process possesses
key = libc.syscall(249, b"user", sys.argv[1].encode(), None, 0)
if key > 0:
    value = ctypes.create_string_buffer(64)
    size = libc.syscall(250, 11, key, value, 64)  # KEYCTL_READ
    print("found", value.raw[:size].decode())
else:
    print("absent")
"""


async def test_one_sandbox_cannot_leave_a_key_for_another(dirs: Dirs, tmp_path: Path) -> None:
    (dirs.work / "add.py").write_text(ADD)
    (dirs.work / "find.py").write_text(FIND)
    marker = f"k-{uuid.uuid4().hex}"
    # Some sandbox of uid 65534 running (a preview), so the uid's keyrings stay alive meanwhile.
    holder = start_server(spec_for(dirs, ["sleep", "30"]), output=(tmp_path / "log").open("wb"))
    try:
        time.sleep(0.3)
        result, lines = await run_lines(spec_for(dirs, sh(f"python3 /app/add.py {marker}")))
        assert result.exit_code == 0, lines
        result, lines = await run_lines(spec_for(dirs, sh(f"python3 /app/find.py {marker}")))
        assert result.exit_code == 0, lines
        assert lines == ["absent"], lines
    finally:
        holder.stop(grace=0)
