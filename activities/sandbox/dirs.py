"""What the caller prepares before a sandbox starts: directories it may write, its environment."""

from __future__ import annotations

import os
import stat
from collections.abc import Mapping
from pathlib import Path

from activities.processes import CA_SETTINGS, SYSTEM_PATH
from activities.sandbox.spec import SANDBOX_GID, SANDBOX_UID

SANDBOX_PATH = SYSTEM_PATH


def hand_over(path: Path) -> None:
    """Make `path` and everything below it the sandbox uid's (a fresh checkout, a new cache dir).

    lchown, never following a link: a checkout is PR content, and a link in it to /etc/shadow must
    not hand /etc/shadow over.
    """
    os.lchown(path, SANDBOX_UID, SANDBOX_GID)
    found = path.lstat()
    if stat.S_ISDIR(found.st_mode):
        # bwrap enters the work dir (--chdir) as root without capabilities, before it drops to the
        # sandbox uid: under `previewd up`'s umask 077 the directory would be 0700 and shut to it.
        # Passing through is all it gets; the data dir above stays previewd's alone.
        path.chmod(stat.S_IMODE(found.st_mode) | stat.S_IXOTH)
    for root, dirs, files in os.walk(path):
        for name in dirs + files:
            os.lchown(os.path.join(root, name), SANDBOX_UID, SANDBOX_GID)


def sandbox_env(
    values: Mapping[str, str], *, home: str = "/home/preview", host: Mapping[str, str] = os.environ
) -> dict[str, str]:
    """An environment built from nothing: HOME, PATH, a UTF-8 locale, the host's CA settings, then
    `values` (the project's vars and secrets, PORT, …) on top. Nothing else of previewd's."""
    env = {"HOME": home, "PATH": SANDBOX_PATH, "LANG": "C.UTF-8"}
    env.update({name: host[name] for name in CA_SETTINGS if name in host})
    env.update(values)
    return env
