"""The host programs a sandbox is built with, found in the system's directories only.

previewd's own PATH is not used: whatever it holds (a venv, a user's ~/bin) these programs run as
root, and they must be the system's.
"""

from __future__ import annotations

import shutil

HOST_PATH = "/usr/sbin:/usr/bin:/sbin:/bin"
# The environment of the host-side processes that start a sandbox: fixed, nothing of spec.env.
HOST_ENV = {"PATH": HOST_PATH}

# Program -> the Debian package that ships it (what probe() tells to install).
REQUIRED = {
    "bwrap": "bubblewrap",
    "slirp4netns": "slirp4netns",
    "setpriv": "util-linux",
    "nsenter": "util-linux",
    "ip": "iproute2",
}


class MissingProgram(Exception):
    pass


def find(program: str) -> str | None:
    return shutil.which(program, path=HOST_PATH)


def require(program: str) -> str:
    found = find(program)
    if found is None:
        raise MissingProgram(f"{program} not found (apt-get install {REQUIRED.get(program, program)})")
    return found
