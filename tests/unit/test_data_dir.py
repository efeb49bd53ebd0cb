"""runtime/data_dir.py: keys and secrets generated once into the data dir, mode 0600."""

from __future__ import annotations

import base64
import stat
from pathlib import Path

import pytest

from config import Settings
from models.crypto import Keyring
from runtime.data_dir import new_key, read_or_create, secret_keys, webhook_secret


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
