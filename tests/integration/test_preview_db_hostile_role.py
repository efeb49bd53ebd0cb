"""A PR's role is PR code's to use as it likes (its DATABASE_URL is in every step's environment): what
it does with its own database must never reach another PR's, hold a teardown, or fill the disk unseen.
Real embedded preview cluster, previewd's own functions for what the activities do (server.py), the
PR's role connected by its own URL as PR code would be."""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator

import psycopg
import pytest

from activities.logsink import MASK
from activities.preview_db import server
from activities.preview_db.activities import operator_databases_open, seed_failure
from models.preview_databases import name_for
from runtime.preview_postgres import PreviewCluster

CAP_MB = 1024


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[PreviewCluster, str]]:
    found = PreviewCluster(tmp_path_factory.mktemp("hostile-role"))
    admin = found.start()
    yield found, admin
    found.stop()


def a_pr(admin: str, *, temp_file_limit_mb: int = CAP_MB) -> tuple[str, str]:
    name, password = name_for(uuid.uuid4(), 7), uuid.uuid4().hex
    assert server.create(
        admin, name=name, password=password, template=None, temp_file_limit_mb=temp_file_limit_mb
    )
    return name, password


def as_pr(cluster: PreviewCluster, name: str, password: str, dbname: str | None = None) -> psycopg.Connection:
    return psycopg.connect(
        host=str(cluster.socket_dir), user=name, password=password, dbname=dbname or name, autocommit=True
    )


def refused(cluster: PreviewCluster, name: str, password: str, dbname: str) -> bool:
    try:
        as_pr(cluster, name, password, dbname).close()
    except psycopg.OperationalError as error:
        assert "permission denied for database" in str(error)
        return True
    return False


def on_disk(admin: str, name: str) -> tuple[bool, bool]:
    with psycopg.connect(admin) as conn:
        database = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name]).fetchone()
        role = conn.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", [name]).fetchone()
    return database is not None, role is not None


def test_a_pr_that_flags_its_database_a_template_is_still_dropped(
    cluster: tuple[PreviewCluster, str],
) -> None:
    found, admin = cluster
    name, password = a_pr(admin)
    with as_pr(found, name, password) as conn:
        conn.execute(f'ALTER DATABASE "{name}" IS_TEMPLATE true')
        # And whoever connects to it runs read-only, as the PR's role.
        conn.execute(f'ALTER DATABASE "{name}" SET role = "{name}"')
        conn.execute(f'ALTER DATABASE "{name}" SET default_transaction_read_only = on')
    server.drop(admin, name)
    assert on_disk(admin, name) == (False, False)


def test_rights_one_pr_gives_another_do_not_hold_the_others_drop(cluster: tuple[PreviewCluster, str]) -> None:
    found, admin = cluster
    giver, giver_password = a_pr(admin)
    taker, _ = a_pr(admin)
    with as_pr(found, giver, giver_password) as conn:
        conn.execute(f'GRANT CONNECT ON DATABASE "{giver}" TO "{taker}"')
        conn.execute(f'GRANT ALL ON SCHEMA public TO "{taker}"')
        conn.execute(f'ALTER DATABASE "{giver}" SET role = "{giver}"')
        conn.execute(f'ALTER DATABASE "{giver}" SET default_transaction_read_only = on')
    server.drop(admin, taker)
    assert on_disk(admin, taker) == (False, False)
    server.drop(admin, giver)
    assert on_disk(admin, giver) == (False, False)


def test_no_pr_role_connects_to_a_database_an_admin_made_or_one_opened_to_public(
    cluster: tuple[PreviewCluster, str],
) -> None:
    found, admin = cluster
    template = f"template_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{template}"')
    opener, opener_password = a_pr(admin)
    other, other_password = a_pr(admin)
    with as_pr(found, opener, opener_password) as conn:
        conn.execute(f'GRANT CONNECT ON DATABASE "{opener}" TO PUBLIC')
    # What ensure does before each PR's database is made (and the cluster's start).
    server.close_databases_to_public(admin)
    for dbname in (template, opener, "postgres", "template1"):
        assert refused(found, other, other_password, dbname), dbname
    assert refused(found, opener, opener_password, template)
    with as_pr(found, opener, opener_password):
        pass  # its own, still
    for name in (opener, other):
        server.drop(admin, name)


def test_a_pr_roles_temporary_files_are_held_to_the_cap_it_cannot_lift(
    cluster: tuple[PreviewCluster, str],
) -> None:
    found, admin = cluster
    name, password = a_pr(admin, temp_file_limit_mb=1)
    with as_pr(found, name, password) as conn:
        assert conn.execute("SHOW temp_file_limit").fetchone() == ("1MB",)
        for lift in ("SET temp_file_limit = -1", f'ALTER ROLE "{name}" SET temp_file_limit = -1'):
            with pytest.raises(psycopg.errors.InsufficientPrivilege):
                conn.execute(lift)
        conn.execute("SET work_mem = '64kB'")
        with pytest.raises(psycopg.errors.ConfigurationLimitExceeded):
            conn.execute(
                "SELECT count(*) FROM (SELECT md5(g::text) FROM generate_series(1, 300000) g ORDER BY 1) s"
            )
    server.drop(admin, name)


def test_a_seed_that_makes_postgres_quote_the_password_fails_with_it_masked(
    cluster: tuple[PreviewCluster, str],
) -> None:
    found, admin = cluster
    name, password = a_pr(admin)
    url = f"postgresql://{name}:{password}@/{name}?host={found.socket_dir}"
    with pytest.raises(psycopg.Error) as raised:
        server.run_seed(url, f"SELECT '{password}'::int;")
    assert password in str(raised.value)
    said = seed_failure("seed.sql", raised.value, secrets=[password, admin])
    assert said.startswith("the database seed seed.sql failed: invalid input syntax for type integer")
    assert password not in said and MASK in said
    server.drop(admin, name)


def test_databases_every_role_may_connect_to_are_found_on_an_operators_postgres(
    cluster: tuple[PreviewCluster, str],
) -> None:
    """Such a Postgres is the operator's (previewd closes none of it): ensure refuses to make a PR's
    role there while one is open, and says which."""
    found, admin = cluster
    shared = f"shared_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{shared}"')
    name, password = a_pr(admin)
    try:
        assert server.open_to_public(admin) == [shared]
        assert not refused(found, name, password, shared)  # what it would mean
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute(f'REVOKE CONNECT ON DATABASE "{shared}" FROM PUBLIC')
        assert server.open_to_public(admin) == []  # TEMPORARY alone lets nobody in
        assert refused(found, name, password, shared)
        said = operator_databases_open([shared])
        assert shared in said and "REVOKE CONNECT, TEMPORARY ON DATABASE" in said
    finally:
        server.drop(admin, name)
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE "{shared}"')


def test_an_operators_admin_that_is_no_superuser_makes_measures_and_drops_a_prs_database(
    cluster: tuple[PreviewCluster, str],
) -> None:
    """README: PREVIEWD_PREVIEW_DATABASE_URL needs CREATEDB and CREATEROLE, not a superuser. Such a
    role owns nothing the PR's role makes, yet the size check and the drop need it to."""
    found, admin = cluster
    operator = f"operator_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f"""CREATE ROLE "{operator}" LOGIN CREATEDB CREATEROLE PASSWORD 'operator-password'""")
        conn.execute(f'GRANT CONNECT ON DATABASE postgres TO "{operator}"')
    url = f"postgresql://{operator}:operator-password@/postgres?host={found.socket_dir}"
    name, password = a_pr(url)
    with as_pr(found, name, password) as conn:
        conn.execute("CREATE TABLE filler AS SELECT g FROM generate_series(1, 1000) g")
    assert server.sizes(url)[name] > 0
    server.drop(url, name)
    assert on_disk(admin, name) == (False, False)
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'DROP OWNED BY "{operator}"')
        conn.execute(f'DROP ROLE "{operator}"')


@pytest.mark.parametrize(
    "attempt",
    [
        "COPY (SELECT 1) TO PROGRAM 'id'",
        "SELECT pg_read_file('/etc/passwd')",
        "SELECT lo_import('/etc/passwd')",
        "CREATE ROLE intruder",
        "CREATE DATABASE intruder",
        "SET ROLE postgres",
        "ALTER ROLE CURRENT_USER CONNECTION LIMIT -1",
        "CREATE EXTENSION dblink",
        "CREATE EXTENSION postgres_fdw",
        "CREATE EXTENSION file_fdw",
    ],
)
def test_a_pr_role_is_refused_what_would_take_it_out_of_its_database(
    cluster: tuple[PreviewCluster, str], attempt: str
) -> None:
    found, admin = cluster
    name, password = a_pr(admin)
    try:
        with as_pr(found, name, password) as conn, pytest.raises(psycopg.errors.InsufficientPrivilege):
            conn.execute(attempt)
    finally:
        server.drop(admin, name)


def test_a_pr_role_sees_no_other_sessions_query(cluster: tuple[PreviewCluster, str]) -> None:
    found, admin = cluster
    one, one_password = a_pr(admin)
    two, two_password = a_pr(admin)
    with as_pr(found, two, two_password) as busy, as_pr(found, one, one_password) as looking:
        busy.execute("SELECT 'the other PR''s query' WHERE pg_sleep(0) IS NOT NULL")
        seen = looking.execute(
            "SELECT usename, query FROM pg_stat_activity WHERE usename = %s", [two]
        ).fetchall()
        assert seen == [(two, "<insufficient privilege>")]
    for name in (one, two):
        server.drop(admin, name)


def test_a_seed_that_never_ends_is_cancelled_even_if_it_lifts_its_statement_timeout(
    cluster: tuple[PreviewCluster, str],
) -> None:
    found, admin = cluster
    name, password = a_pr(admin)
    url = f"postgresql://{name}:{password}@/{name}?host={found.socket_dir}"
    started = time.monotonic()
    with pytest.raises(server.SeedTimedOut) as raised:
        server.run_seed(url, "SET statement_timeout = 0; SELECT pg_sleep(600);", timeout_seconds=1)
    assert time.monotonic() - started < 10
    assert seed_failure("seed.sql", raised.value, secrets=[]) == (
        "the database seed seed.sql failed: it ran over 1 s and was cancelled"
    )
    with psycopg.connect(admin) as conn:  # nothing of it still runs
        assert conn.execute(
            "SELECT count(*) FROM pg_stat_activity WHERE usename = %s", [name]
        ).fetchone() == (0,)
    server.drop(admin, name)
