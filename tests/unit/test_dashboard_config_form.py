"""The configuration form: each mistake lands beside its own field; saved keys the form hides survive."""

from __future__ import annotations

from pathlib import Path

import pytest

from config import Settings
from models.fly_config import FlyExtraService
from web.dashboard.config_form import parse, parse_env, values_of

GOOD = {
    "build_command": "npm run build",
    "start_command": "npm start",
    "port": "3000",
    "env_vars": "NODE_ENV=production\n# a comment\n\nAPI=https://x?a=b",
    "fork_policy": "never",
    "fly_region": "iad",
    "fly_fallback_regions": "ord, lhr",
    "fly_cpu_kind": "performance",
    "fly_cpus": "2",
    "fly_memory_mb": "4096",
    "fly_auto_stop": "on",
}


def test_a_good_form_becomes_a_deployment_config() -> None:
    form = parse(GOOD)
    assert form.errors == {}
    assert form.config is not None
    assert form.config.env_vars == {"NODE_ENV": "production", "API": "https://x?a=b"}
    assert form.config.fork_policy == "never"
    # Stored as only what differs from the defaults.
    assert form.config.model_dump(mode="json")["fly_config"] == {
        "region": "iad",
        "fallback_regions": ["ord", "lhr"],
        "guest": {"cpu_kind": "performance", "cpus": 2, "memory_mb": 4096},
    }


def test_each_mistake_is_reported_against_its_field() -> None:
    form = parse(
        {
            **GOOD,
            "build_command": "echo 'unclosed",
            "port": "http",
            "env_vars": "OK=1\n1BAD=2",
            "fly_region": "Frankfurt",
            "fly_fallback_regions": "ord, LHR",
            "fly_memory_mb": "1000",
            "fork_policy": "sometimes",
        }
    )
    assert form.config is None
    assert set(form.errors) == {
        "build_command",
        "port",
        "env_vars",
        "fly_region",
        "fly_fallback_regions",
        "fly_memory_mb",
        "fork_policy",
    }
    assert "line 2" in form.errors["env_vars"]
    assert "three lower-case letters" in form.errors["fly_region"]
    assert "multiple of 256" in form.errors["fly_memory_mb"]


def test_an_edit_keeps_what_the_form_does_not_show() -> None:
    saved = {
        "clone_url": "/srv/repo",
        "build_timeout_seconds": 60,
        "fly_config": {"extra_services": [{"internal_port": 9000, "port": 9000}]},
    }
    form = parse(GOOD, keep=saved)
    assert form.config is not None
    assert form.config.clone_url == "/srv/repo" and form.config.build_timeout_seconds == 60
    assert form.config.fly_config.extra_services == [FlyExtraService(internal_port=9000, port=9000)]


def test_a_saved_config_fills_the_form_it_came_from() -> None:
    form = parse(GOOD)
    assert form.config is not None
    again = parse(values_of(form.config.model_dump()))
    assert again.config == form.config


def test_unchecked_auto_stop_is_saved_as_off() -> None:
    form = parse({**GOOD, "fly_auto_stop": ""})
    assert form.config is not None and form.config.fly_config.auto_stop is False


def test_env_lines_without_equals_are_refused() -> None:
    assert parse_env("A=1\nB") == ({"A": "1"}, "line 2: expected NAME=value")


def test_the_secrets_box_never_quotes_a_line_and_refuses_a_value_split_over_lines() -> None:
    env, error = parse_env("DB_PASSWORD hunter2=x", secret=True)
    assert env == {} and error is not None and "hunter2" not in error
    pem = "KEY=-----BEGIN KEY-----\nMIIEvQIBADANBgkqhkiG9w0BAQEFAASCBKcw==\n-----END KEY-----"
    env, error = parse_env(pem, secret=True)
    assert env == {} and error is not None and "MIIEvQ" not in error
    assert parse_env("API_KEY=abc=def\n# note\nTOKEN=x", secret=True) == (
        {"API_KEY": "abc=def", "TOKEN": "x"},
        None,
    )


def test_a_path_outside_the_checkout_and_a_refused_clone_url_are_errors_on_save(
    clean_env: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("GITHUB_CLIENT_ID", "Iv1.x")
    monkeypatch.setenv("GITHUB_CLIENT_SECRET", "s")
    form = parse({**GOOD, "dockerfile_path": "../../etc/Dockerfile"}, keep={"clone_url": "/srv/other"},
                 settings=Settings())  # fmt: skip
    assert "inside the repository" in form.errors["dockerfile_path"]
    assert "local path" in form.errors["clone_url"]
    assert form.config is None


def test_a_release_command_line_is_saved_as_written_and_shown_again() -> None:
    command = "python manage.py migrate --noinput && echo migrated"
    form = parse({**GOOD, "release_command": command})
    assert form.errors == {} and form.config is not None
    assert form.config.release_command == command
    assert values_of(form.config.model_dump(mode="json"))["release_command"] == command
    refused = parse({**GOOD, "release_command": "echo 'unclosed"})
    assert "is not a complete command line" in refused.errors["release_command"]


def test_root_directory_watch_paths_and_health_check_round_trip() -> None:
    form = parse(
        GOOD | {"release_command": "python manage.py migrate", "root_directory": "apps/web",
                "watch_paths": "apps/web/\n\nshared/*.py",
                "health_check_path": "/healthz", "health_check_timeout_seconds": "90"},
    )  # fmt: skip
    assert form.errors == {} and form.config is not None
    assert form.config.watch_paths == ["apps/web/", "shared/*.py"]
    assert (form.config.root_directory, form.config.health_check_path) == ("apps/web", "/healthz")
    assert form.config.release_command == "python manage.py migrate"
    shown = values_of(form.config.model_dump())
    assert shown["watch_paths"] == "apps/web/\nshared/*.py" and shown["health_check_timeout_seconds"] == "90"


def test_a_root_directory_outside_the_repository_is_an_error_beside_it() -> None:
    form = parse(GOOD | {"root_directory": "../other", "health_check_path": "//evil.example"})
    assert "root_directory" in form.errors and "health_check_path" in form.errors
