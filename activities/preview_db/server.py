"""What previewd asks of the preview databases' Postgres, as its admin role: make a PR's role and
database, drop them, list them, measure them. Blocking psycopg calls: the activities run these in a
thread.

A PR's role: LOGIN, its own random password, and nothing else (NOSUPERUSER NOCREATEDB NOCREATEROLE
NOREPLICATION NOBYPASSRLS). It owns its database, so its migrations can do anything there; the
database's rights are taken from PUBLIC, so no other PR's role may even connect to it.

A PR's role is hostile and owns its database, so it may flag it a template (DROP DATABASE then
refuses), give another PR's role rights in it (DROP ROLE of that one then refuses), or set what a
session connecting to it runs as (`ALTER DATABASE … SET role`): `drop` undoes the first two, and
previewd's own connections into a PR's database override the last (`_connect_into`).
"""

from __future__ import annotations

import threading

import psycopg
from psycopg import sql

from models.preview_databases import PREFIX

ROLE_OPTIONS = "LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOREPLICATION NOBYPASSRLS NOINHERIT"
# A role's connections are refused beyond this: one PR cannot take every connection of the cluster.
CONNECTION_LIMIT = 20
# A `.sql` seed is cancelled past this: well within the ensure activity's 10 minutes.
SEED_TIMEOUT_SECONDS = 5 * 60
# What previewd's connections into a PR's database insist on, over what its owner set for it.
_OVER_THE_OWNERS_SETTINGS = "-c role=none -c default_transaction_read_only=off -c statement_timeout=0"
_LIKE_OURS = PREFIX.replace("_", r"\_") + "%"


def _connect(admin_url: str) -> psycopg.Connection[tuple[object, ...]]:
    return psycopg.connect(admin_url, autocommit=True, connect_timeout=10)


def _connect_into(admin_url: str, dbname: str) -> psycopg.Connection[tuple[object, ...]]:
    """The admin role in a PR's database, as itself: the client's options win over the database's."""
    return _connect(
        psycopg.conninfo.make_conninfo(admin_url, dbname=dbname, options=_OVER_THE_OWNERS_SETTINGS)
    )


def close_databases_to_public(admin_url: str) -> None:
    """PUBLIC's rights taken from every database of the cluster (the embedded one: all of it is ours):
    `postgres`, `template1`, a template an admin made there before its first copy, a PR's database
    whose owner granted its CONNECT to PUBLIC. Then a PR's role connects to its own database only."""
    with _connect(admin_url) as conn:
        names = conn.execute("SELECT datname FROM pg_database WHERE datallowconn").fetchall()
        for (name,) in names:
            conn.execute(sql.SQL("REVOKE ALL ON DATABASE {} FROM PUBLIC").format(sql.Identifier(str(name))))


def database_exists(admin_url: str, name: str) -> bool:
    with _connect(admin_url) as conn:
        return conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name]).fetchone() is not None


def _superuser(conn: psycopg.Connection[tuple[object, ...]]) -> bool:
    return (
        conn.execute("SELECT 1 FROM pg_roles WHERE rolname = current_user AND rolsuper").fetchone()
        is not None
    )


def open_to_public(admin_url: str) -> list[str]:
    """Databases, the PRs' aside, that every role may connect to (no ACL yet is PUBLIC's CONNECT):
    on the operator's Postgres a PR's role would reach them (`postgres` is, unless closed)."""
    with _connect(admin_url) as conn:
        rows = conn.execute(
            "SELECT datname FROM pg_database WHERE datallowconn AND datname NOT LIKE %s"
            " AND (datacl IS NULL OR EXISTS (SELECT 1 FROM aclexplode(datacl) acl"
            " WHERE acl.grantee = 0 AND acl.privilege_type = 'CONNECT'))"
            " ORDER BY datname",
            [_LIKE_OURS],
        ).fetchall()
    return [str(row[0]) for row in rows]


def create(
    admin_url: str, *, name: str, password: str, template: str | None, temp_file_limit_mb: int
) -> bool:
    """The role (its password set to `password`) and the database, each made if missing.
    True when the database was made now (so it is to be seeded).

    The role's temporary files (a sort, a hash bigger than work_mem) are held to `temp_file_limit_mb`:
    they count in no database's size, so the size check would never see a disk filled by them. Set
    by the admin on the role, it is not the role's to change (temp_file_limit is a superuser's)."""
    with _connect(admin_url) as conn:
        # Only a verifier goes over the wire and into the catalog: never the password itself.
        verifier = conn.pgconn.encrypt_password(password.encode(), name.encode(), b"scram-sha-256").decode()
        role = sql.Identifier(name)
        exists = conn.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", [name]).fetchone()
        verb = "ALTER" if exists else "CREATE"
        conn.execute(
            sql.SQL("{} ROLE {} " + ROLE_OPTIONS + " CONNECTION LIMIT {} PASSWORD {}").format(
                sql.SQL(verb), role, sql.Literal(CONNECTION_LIMIT), sql.Literal(verifier)
            )
        )
        if not _superuser(conn):
            # The operator's admin (CREATEROLE, no superuser) gets the PR role's privileges, so it may
            # drop and measure the database that role owns; the PR's role gets nothing of the admin's.
            conn.execute(sql.SQL("GRANT {} TO CURRENT_USER").format(role))
        try:
            conn.execute(
                sql.SQL("ALTER ROLE {} SET temp_file_limit = {}").format(
                    role, sql.Literal(f"{temp_file_limit_mb}MB")
                )
            )
        except psycopg.errors.InsufficientPrivilege:
            # A superuser's setting: the operator's admin sets it once granted
            # `SET ON PARAMETER temp_file_limit` (README); the embedded cluster's admin always does.
            pass
        if conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name]).fetchone():
            return False
        if template:
            # The template is read, never written (CREATE DATABASE copies it) and no PR role may
            # connect to it: its rights are taken from PUBLIC before the first copy.
            conn.execute(sql.SQL("REVOKE ALL ON DATABASE {} FROM PUBLIC").format(sql.Identifier(template)))
            conn.execute(
                sql.SQL("CREATE DATABASE {} OWNER {} TEMPLATE {}").format(
                    role, role, sql.Identifier(template)
                )
            )
        else:
            conn.execute(sql.SQL("CREATE DATABASE {} OWNER {} TEMPLATE template0").format(role, role))
        conn.execute(sql.SQL("REVOKE ALL ON DATABASE {} FROM PUBLIC").format(role))
        conn.execute(sql.SQL("GRANT CONNECT, TEMPORARY ON DATABASE {} TO {}").format(role, role))
    if template:
        _hand_over_copied_objects(admin_url, name)
    return True


def _hand_over_copied_objects(admin_url: str, name: str) -> None:
    """A copy's tables belong to the template's owners: the PR's role gets every right on them, so
    its migrations can change them."""
    with _connect_into(admin_url, name) as conn:
        role = sql.Identifier(name)
        for statement in (
            "GRANT ALL ON SCHEMA public TO {}",
            "GRANT ALL ON ALL TABLES IN SCHEMA public TO {}",
            "GRANT ALL ON ALL SEQUENCES IN SCHEMA public TO {}",
        ):
            conn.execute(sql.SQL(statement).format(role))


def drop(admin_url: str, name: str) -> None:
    """The database (its connections ended first: WITH (FORCE)) and the role, where they exist."""
    ident = sql.Identifier(name)
    with _connect(admin_url) as conn:
        # Its owner may have flagged it a template, which DROP DATABASE refuses.
        if conn.execute("SELECT 1 FROM pg_database WHERE datname = %s AND datistemplate", [name]).fetchone():
            conn.execute(sql.SQL("ALTER DATABASE {} IS_TEMPLATE false").format(ident))
        conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(ident))
        if conn.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", [name]).fetchone() is None:
            return
        # Rights another PR's role gave this one in its database: DROP ROLE refuses while they last.
        elsewhere = conn.execute(
            "SELECT DISTINCT d.datname FROM pg_shdepend s JOIN pg_database d ON d.oid = s.dbid"
            " WHERE s.refclassid = 'pg_authid'::regclass AND s.refobjid = %s::regrole",
            [name],
        ).fetchall()
        for (database,) in elsewhere:
            with _connect_into(admin_url, str(database)) as there:
                there.execute(sql.SQL("DROP OWNED BY {}").format(ident))
        # Here: its rights on shared objects (CONNECT on another PR's database) go too.
        conn.execute(sql.SQL("DROP OWNED BY {}").format(ident))
        conn.execute(sql.SQL("DROP ROLE {}").format(ident))


def ours(admin_url: str) -> list[str]:
    """Every `previewd_pr_*` database and role (a role left without its database too)."""
    with _connect(admin_url) as conn:
        rows = conn.execute(
            "SELECT datname FROM pg_database WHERE datname LIKE %(like)s"
            " UNION SELECT rolname FROM pg_roles WHERE rolname LIKE %(like)s",
            {"like": _LIKE_OURS},
        ).fetchall()
    return sorted(str(row[0]) for row in rows)


def sizes(admin_url: str) -> dict[str, int]:
    """Bytes on disk of every `previewd_pr_*` database."""
    with _connect(admin_url) as conn:
        rows = conn.execute(
            "SELECT datname, pg_database_size(datname) FROM pg_database WHERE datname LIKE %s",
            [_LIKE_OURS],
        ).fetchall()
    return {str(name): int(str(size)) for name, size in rows}


def run_seed(pr_url: str, text: str, *, timeout_seconds: float = SEED_TIMEOUT_SECONDS) -> None:
    """A `.sql` seed, as the PR's own role: it can do nothing its migrations could not.

    Cancelled from here after `timeout_seconds` (a statement_timeout the seed could lift with SET):
    a seed that sleeps would otherwise hold this thread, a connection and the deployment."""
    with psycopg.connect(pr_url, autocommit=False, connect_timeout=10) as conn:
        deadline = threading.Timer(timeout_seconds, conn.cancel_safe)
        deadline.start()
        try:
            # No parameters: psycopg sends the file as one simple query, several statements allowed.
            conn.execute(text.encode())
        except psycopg.errors.QueryCanceled:
            raise SeedTimedOut(f"it ran over {timeout_seconds:g} s and was cancelled") from None
        finally:
            deadline.cancel()


class SeedTimedOut(Exception):
    pass
