"""What previewd asks of the preview databases' Postgres, as its admin role: make a PR's role and
database, drop them, list them, measure them. Blocking psycopg calls: the activities run these in a
thread.

A PR's role: LOGIN, its own random password, and nothing else (NOSUPERUSER NOCREATEDB NOCREATEROLE
NOREPLICATION NOBYPASSRLS). It owns its database, so its migrations can do anything there; the
database's rights are taken from PUBLIC, so no other PR's role may even connect to it.
"""

from __future__ import annotations

import psycopg
from psycopg import sql

from models.preview_databases import PREFIX

ROLE_OPTIONS = "LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOREPLICATION NOBYPASSRLS NOINHERIT"
# A role's connections are refused beyond this: one PR cannot take every connection of the cluster.
CONNECTION_LIMIT = 20
_LIKE_OURS = PREFIX.replace("_", r"\_") + "%"


def _connect(admin_url: str) -> psycopg.Connection[tuple[object, ...]]:
    return psycopg.connect(admin_url, autocommit=True, connect_timeout=10)


def database_exists(admin_url: str, name: str) -> bool:
    with _connect(admin_url) as conn:
        return conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name]).fetchone() is not None


def create(admin_url: str, *, name: str, password: str, template: str | None) -> bool:
    """The role (its password set to `password`) and the database, each made if missing.
    True when the database was made now (so it is to be seeded)."""
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
    conninfo = psycopg.conninfo.make_conninfo(admin_url, dbname=name)
    with _connect(conninfo) as conn:
        role = sql.Identifier(name)
        for statement in (
            "GRANT ALL ON SCHEMA public TO {}",
            "GRANT ALL ON ALL TABLES IN SCHEMA public TO {}",
            "GRANT ALL ON ALL SEQUENCES IN SCHEMA public TO {}",
        ):
            conn.execute(sql.SQL(statement).format(role))


def drop(admin_url: str, name: str) -> None:
    """The database (its connections ended first: WITH (FORCE)) and the role, where they exist."""
    with _connect(admin_url) as conn:
        conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))
        conn.execute(sql.SQL("DROP ROLE IF EXISTS {}").format(sql.Identifier(name)))


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


def run_seed(pr_url: str, text: str) -> None:
    """A `.sql` seed, as the PR's own role: it can do nothing its migrations could not."""
    with psycopg.connect(pr_url, autocommit=False, connect_timeout=10) as conn:
        # No parameters: psycopg sends the file as one simple query, several statements allowed.
        conn.execute(text.encode())
