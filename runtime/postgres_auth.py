"""The embedded Postgres asks every connection for its password (SCRAM-SHA-256).

The wheel initialises pgdata with trust auth: any local process that reaches the socket is the
superuser. previewd keeps a generated password in its data dir and, on a data dir still on trust
(new, or from before issue 10), sets that password while trust still lets it in, then replaces
pg_hba.conf and reloads. Only a verifier goes over the wire and into the catalog: the password
itself is never in an SQL statement Postgres could log.
"""

from __future__ import annotations

import os
import time
from pathlib import Path

import psycopg
from psycopg import sql

SUPERUSER = "postgres"
# `all` leaves replication out, hence its own lines; the server listens on no TCP port today, the
# host lines hold if one is ever added.
PG_HBA = """\
# Written by previewd (runtime/postgres_auth.py): every connection proves the password.
local   all          all                scram-sha-256
local   replication  all                scram-sha-256
host    all          all   all          scram-sha-256
host    replication  all   all          scram-sha-256
"""
RELOAD_TIMEOUT_SECONDS = 5.0


class PasswordSetupFailed(SystemExit):
    pass


def requires_password(pgdata: Path) -> bool:
    return (pgdata / "pg_hba.conf").read_text() == PG_HBA


def require_password(pgdata: Path, socket_dir: Path, password: str) -> None:
    """Make the server at `socket_dir` require `password` from now on (nothing to do if it does)."""
    if requires_password(pgdata):
        return
    try:
        with psycopg.connect(_conninfo(socket_dir), autocommit=True) as conn:
            verifier = conn.pgconn.encrypt_password(password.encode(), SUPERUSER.encode(), b"scram-sha-256")
            conn.execute(
                sql.SQL("ALTER ROLE {} PASSWORD {}").format(
                    sql.Identifier(SUPERUSER), sql.Literal(verifier.decode())
                )
            )
            # The socket itself 0700 too (it is 0777 by default), from the next start on: it is a
            # postmaster setting.
            conn.execute("ALTER SYSTEM SET unix_socket_permissions = '0700'")
            _write_pg_hba(pgdata)
            conn.execute("SELECT pg_reload_conf()")
    except psycopg.OperationalError as error:
        raise PasswordSetupFailed(
            f"previewd: the embedded Postgres in {pgdata} lets previewd in neither with trust (to set its "
            f"password) nor otherwise: {error}"
        ) from None
    _wait_until_refused_without_password(socket_dir)


def _conninfo(socket_dir: Path, password: str = "") -> str:
    # A password given (even empty) keeps PGPASSWORD out, a passfile that is not there keeps
    # ~/.pgpass out: nothing of the environment speaks for us, so a refusal means the server asked.
    return psycopg.conninfo.make_conninfo(
        host=str(socket_dir),
        user=SUPERUSER,
        dbname=SUPERUSER,
        passfile=str(socket_dir / ".no-passfile"),
        password=password,
    )


def _write_pg_hba(pgdata: Path) -> None:
    """Replace pg_hba.conf whole (never half-written), keeping its owner and mode for Postgres."""
    current = (pgdata / "pg_hba.conf").stat()
    temp = pgdata / f".pg_hba.conf.{os.getpid()}.tmp"
    fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(PG_HBA)
    os.chown(temp, current.st_uid, current.st_gid)
    os.replace(temp, pgdata / "pg_hba.conf")


def _wait_until_refused_without_password(socket_dir: Path) -> None:
    """pg_reload_conf() only signals the postmaster: return once a password-less connection fails."""
    deadline = time.monotonic() + RELOAD_TIMEOUT_SECONDS
    while time.monotonic() < deadline:
        try:
            psycopg.connect(_conninfo(socket_dir), connect_timeout=2).close()
        except psycopg.OperationalError:
            return
        time.sleep(0.02)
    raise PasswordSetupFailed("previewd: the embedded Postgres still lets connections in without a password")
