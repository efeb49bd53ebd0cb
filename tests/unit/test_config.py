"""config.py: Settings from the environment, and load_settings' exit on a bad value."""

from __future__ import annotations

import argparse
from collections.abc import Iterator
from pathlib import Path

import pytest
from pydantic import ValidationError

from cli.admin import config_show
from config import ConfigError, Settings, load_settings

SECRET_VARIABLES = {
    "GITHUB_APP_PRIVATE_KEY": "-----BEGIN RSA PRIVATE KEY-----\nnot-really-a-key",
    "GITHUB_WEBHOOK_SECRET": "webhook-secret-value",
    "GITHUB_CLIENT_SECRET": "client-secret-value",
    "FLY_API_TOKEN": "fly-token-value",
    "PREVIEWD_SECRET_KEYS": "encryption-key-value",
    "PREVIEWD_SESSION_SECRET": "session-secret-value-at-least-32-characters",
}


@pytest.fixture
def fresh_load_settings() -> Iterator[None]:
    load_settings.cache_clear()
    yield
    load_settings.cache_clear()


def test_defaults_without_environment(clean_env: Path) -> None:
    settings = Settings()

    assert settings.database_url is None
    assert settings.temporal_address is None
    assert settings.temporal_namespace == "default"
    assert settings.temporal_task_queue == "previewd"
    assert settings.previewd_data_dir == (clean_env / ".previewd").resolve()
    assert settings.data_dir == settings.previewd_data_dir
    assert settings.previewd_data_dir.is_absolute()
    assert settings.previewd_platform == "local"
    assert settings.previewd_base_url == "http://localhost:8000"
    assert settings.previewd_secret_keys is None
    assert settings.previewd_web_host == "127.0.0.1"
    assert settings.previewd_web_port == 8000
    assert settings.previewd_preview_port == 8080
    assert settings.previewd_preview_domain == "localhost"
    assert settings.previewd_max_concurrent_builds == 2
    assert settings.previewd_build_timeout_seconds == 900
    assert settings.previewd_worker_name is None
    assert settings.github_webhook_secret is None
    assert settings.github_api_url == "https://api.github.com"
    assert settings.github_url == "https://github.com"
    assert settings.fly_api_token is None
    assert settings.fly_org == "personal"
    assert settings.fly_region == "iad"
    assert settings.fly_api_url == "https://api.machines.dev"


def test_values_are_read_from_environment(clean_env: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PREVIEWD_WEB_PORT", "9001")
    monkeypatch.setenv("PREVIEWD_PLATFORM", "fly")
    monkeypatch.setenv("FLY_API_TOKEN", "fo1_test")
    monkeypatch.setenv("DATABASE_URL", "postgresql://u:p@db:5432/previewd")
    monkeypatch.setenv("PREVIEWD_BASE_URL", "https://previews.example.com/")
    monkeypatch.setenv("previewd_web_host", "0.0.0.0")
    monkeypatch.setenv("PREVIEWD_DATA_DIR", "relative/data")

    settings = Settings()

    assert settings.previewd_web_port == 9001
    assert settings.previewd_platform == "fly"
    assert settings.database_url == "postgresql://u:p@db:5432/previewd"
    assert settings.previewd_base_url == "https://previews.example.com"
    assert settings.previewd_web_host == "0.0.0.0"
    assert settings.previewd_data_dir == (clean_env / "relative" / "data").resolve()


@pytest.mark.parametrize(
    "url", ["postgresql://localhost/x", "postgres://localhost/x", "postgresql+psycopg://localhost/x"]
)
def test_postgres_urls_are_accepted(clean_env: Path, monkeypatch: pytest.MonkeyPatch, url: str) -> None:
    monkeypatch.setenv("DATABASE_URL", url)
    assert Settings().database_url == url


def test_dotenv_in_working_directory_is_read(clean_env: Path) -> None:
    (clean_env / ".env").write_text("PREVIEWD_WEB_PORT=9100\nGITHUB_WEBHOOK_SECRET=from-dotenv\n")
    settings = Settings()
    assert settings.previewd_web_port == 9100
    assert settings.github_webhook_secret is not None
    assert settings.github_webhook_secret.get_secret_value() == "from-dotenv"


@pytest.mark.parametrize(
    ("variable", "value"),
    [
        ("PREVIEWD_WEB_PORT", "not-a-port"),
        ("PREVIEWD_WEB_PORT", "0"),
        ("PREVIEWD_WEB_PORT", "65536"),
        ("PREVIEWD_BASE_URL", "localhost:8000"),
        ("PREVIEWD_BASE_URL", "ftp://example.com"),
        ("DATABASE_URL", "mysql://localhost/db"),
        ("DATABASE_URL", "sqlite:///previewd.db"),
        ("PREVIEWD_PLATFORM", "kubernetes"),
        ("PREVIEWD_MAX_CONCURRENT_BUILDS", "0"),
        ("PREVIEWD_BUILD_TIMEOUT_SECONDS", "5"),
        ("GITHUB_API_URL", "api.github.com"),
    ],
)
def test_bad_value_raises_validation_error(
    clean_env: Path, monkeypatch: pytest.MonkeyPatch, variable: str, value: str
) -> None:
    monkeypatch.setenv(variable, value)
    with pytest.raises(ValidationError) as caught:
        Settings()
    assert [error["loc"] for error in caught.value.errors()] == [(variable.lower(),)]


def test_preview_url_uses_domain_and_port(clean_env: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    assert Settings().preview_url("pr-1-app") == "http://pr-1-app.localhost:8080/"
    monkeypatch.setenv("PREVIEWD_PREVIEW_PORT", "80")
    monkeypatch.setenv("PREVIEWD_PREVIEW_DOMAIN", "preview.example.com")
    assert Settings().preview_url("pr-1-app") == "http://pr-1-app.preview.example.com/"


def test_load_settings_returns_cached_settings(clean_env: Path, fresh_load_settings: None) -> None:
    first = load_settings()
    assert isinstance(first, Settings)
    assert load_settings() is first


@pytest.mark.parametrize(
    ("variable", "value"),
    [
        ("PREVIEWD_WEB_PORT", "eighty"),
        ("previewd_web_port", "eighty"),
        ("PREVIEWD_BASE_URL", "example.com"),
        ("DATABASE_URL", "mysql://localhost/db"),
    ],
)
def test_load_settings_exits_with_code_2_naming_the_variable(
    clean_env: Path,
    fresh_load_settings: None,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    variable: str,
    value: str,
) -> None:
    monkeypatch.setenv(variable, value)

    with pytest.raises(SystemExit) as caught:
        load_settings()

    assert caught.value.code == 2
    assert isinstance(caught.value, ConfigError)
    captured = capsys.readouterr()
    assert captured.out == ""
    assert "previewd: invalid configuration" in captured.err
    assert variable.upper() in captured.err


def test_load_settings_names_every_bad_variable(
    clean_env: Path,
    fresh_load_settings: None,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setenv("PREVIEWD_WEB_PORT", "x")
    monkeypatch.setenv("FLY_API_URL", "machines.dev")
    with pytest.raises(SystemExit):
        load_settings()
    err = capsys.readouterr().err
    assert "PREVIEWD_WEB_PORT" in err
    assert "FLY_API_URL" in err


def test_load_settings_message_does_not_echo_secret_values(
    clean_env: Path,
    fresh_load_settings: None,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setenv("GITHUB_WEBHOOK_SECRET", "very-secret-webhook-value")
    monkeypatch.setenv("PREVIEWD_WEB_PORT", "x")
    with pytest.raises(SystemExit):
        load_settings()
    assert "very-secret-webhook-value" not in capsys.readouterr().err


def test_fly_platform_without_a_token_is_refused_naming_the_variable(
    clean_env: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("PREVIEWD_PLATFORM", "fly")
    load_settings.cache_clear()
    with pytest.raises(SystemExit) as stopped:
        load_settings()
    load_settings.cache_clear()
    assert stopped.value.code == 2
    assert "FLY_API_TOKEN" in capsys.readouterr().err


def test_secret_settings_never_print_their_values(
    clean_env: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    for variable, value in SECRET_VARIABLES.items():
        monkeypatch.setenv(variable, value)
    monkeypatch.setenv("GITHUB_APP_ID", "1")
    monkeypatch.setenv("GITHUB_CLIENT_ID", "Iv1.client")
    settings = Settings()

    assert config_show(argparse.Namespace(), settings) == 0
    shown = capsys.readouterr().out
    for variable, value in SECRET_VARIABLES.items():
        assert f"{variable:32} (set, hidden)" in shown
        assert value not in shown and value not in repr(settings)
        secret = getattr(settings, variable.lower())
        assert secret.get_secret_value() == value


def test_a_short_session_secret_is_refused(clean_env: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PREVIEWD_SESSION_SECRET", "too-short")
    with pytest.raises(ValidationError) as caught:
        Settings()
    assert [error["loc"] for error in caught.value.errors()] == [("previewd_session_secret",)]
