"""previewd.toml: parsing, errors that name file, line and key, and the precedence of every source."""

from __future__ import annotations

import pytest

from models.ceilings import Ceilings
from models.effective_config import RepoFiles, Source, resolve
from models.repo_config import RepoConfigError, key_lines, parse, parse_procfile

GOOD = """\
root_directory = "services/web"
watch_paths = ["services/web/", "shared/*.py"]

[install]
command = "pip install -r requirements.txt"

[start]
command = "gunicorn app.wsgi"
port = 8000

[health_check]
path = "/healthz"
timeout_seconds = 90

[env]
DJANGO_DEBUG = "1"

[fly]
region = "ams"
"""


def problems(text: str) -> list[str]:
    with pytest.raises(RepoConfigError) as caught:
        parse(text)
    return caught.value.problems


def files(text: str | None = None, procfile: str = "") -> RepoFiles:
    return RepoFiles(
        config=parse(text) if text is not None else None,
        config_path="previewd.toml",
        config_lines=key_lines(text or ""),
        procfile=parse_procfile(procfile),
        read_at="a" * 40,
    )


def test_a_valid_file_sets_what_it_says() -> None:
    config = parse(GOOD)
    assert config.start is not None and config.start.port == 8000
    assert config.watch_paths == ["services/web/", "shared/*.py"]


def test_a_wrong_type_names_the_line_and_the_key() -> None:
    text = "[start]\nport = 8000\n\n\n\n[build]\ncommand = 5\n"
    assert problems(text) == ["previewd.toml:7: build.command: expected a string"]


def test_an_unknown_key_is_an_error_on_its_line() -> None:
    assert problems("[start]\ncomand = 'x'\n") == [
        "previewd.toml:2: start.comand: is not a previewd.toml key"
    ]


@pytest.mark.parametrize(
    ("text", "key", "line"),
    [
        ("fork_policy = 'always'\n", "fork_policy", 1),
        ("\n[limits]\nmemory = 5\n", "limits", 2),
        ("[database]\ntemplate = 'x'\n", "database.template", 2),
        ("[build]\ntimeout_seconds = 10\n", "build.timeout_seconds", 2),
        ("[secrets]\nTOKEN = 'x'\n", "secrets", 1),
        ("max_concurrent_builds = 8\n", "max_concurrent_builds", 1),
        ("\nexpire_after_days = 0\n", "expire_after_days", 2),
        ("idle_minutes = 0\n", "idle_minutes", 1),
        ("\nmax_live_previews = 100\n", "max_live_previews", 2),
        ("preview_domain = 'evil.example'\n", "preview_domain", 1),
    ],
)
def test_dashboard_only_keys_are_refused_with_where_they_belong(text: str, key: str, line: int) -> None:
    [problem] = problems(text)
    assert problem.startswith(f"previewd.toml:{line}: {key}: set in the dashboard")
    assert problem.endswith("not in previewd.toml")


def test_invalid_toml_names_its_line_and_quotes_no_value() -> None:
    [problem] = problems('[start]\ncommand = "s3cr3t\n')
    assert problem.startswith("previewd.toml:2: not valid TOML")
    assert "s3cr3t" not in problem


def test_a_value_the_deployment_config_refuses_is_said_at_its_line() -> None:
    text = "\n[start]\nport = 70000\n"
    with pytest.raises(RepoConfigError) as caught:
        resolve({}, files(text), ceilings=Ceilings(memory_mb=4096, processes=1024))
    assert caught.value.problems[0].startswith("previewd.toml:3: start.port: ")


def test_a_root_directory_outside_the_checkout_is_refused() -> None:
    with pytest.raises(RepoConfigError) as caught:
        resolve({}, files("root_directory = '../x'\n"), ceilings=Ceilings(memory_mb=4096, processes=1024))
    assert caught.value.problems[0].startswith("previewd.toml:1: root_directory: must stay inside")


def test_precedence_file_over_dashboard_over_default_and_ceilings_over_all() -> None:
    stored = {"start_command": "npm start", "build_command": "npm run build", "build_memory_mb": 8192,
              "env_vars": {"A": "dashboard", "B": "dashboard"}}  # fmt: skip
    effective = resolve(stored, files(GOOD), ceilings=Ceilings(memory_mb=2048, processes=1024))
    config, sources = effective.config, effective.sources
    assert (config.start_command, sources["start_command"]) == ("gunicorn app.wsgi", Source.FILE)
    assert (config.build_command, sources["build_command"]) == ("npm run build", Source.DASHBOARD)
    assert (config.preview_memory_mb, sources["preview_memory_mb"]) == (1024, Source.DEFAULT)
    assert (config.build_memory_mb, sources["build_memory_mb"]) == (2048, Source.CEILING)
    assert config.env_vars == {"A": "dashboard", "B": "dashboard", "DJANGO_DEBUG": "1"}
    assert config.fly_config.region == "ams" and config.health_check_path == "/healthz"


def test_the_procfile_fills_only_what_nothing_else_set() -> None:
    procfile = "# comment\nweb: gunicorn app.wsgi --log-file -\nrelease: python manage.py migrate\n"
    effective = resolve({}, files(None, procfile), ceilings=Ceilings(memory_mb=4096, processes=1024))
    assert effective.config.start_command == "gunicorn app.wsgi --log-file -"
    assert effective.sources["start_command"] == Source.PROCFILE
    assert effective.config.release_command == "python manage.py migrate"
    dashboard = resolve(
        {"start_command": "npm start"},
        files(None, procfile),
        ceilings=Ceilings(memory_mb=4096, processes=1024),
    )
    assert (dashboard.config.start_command, dashboard.sources["start_command"]) == (
        "npm start",
        Source.DASHBOARD,
    )


def test_the_record_names_a_source_for_every_value_and_keeps_no_clone_url() -> None:
    stored = {"clone_url": "https://user:pw@example.com/r.git"}
    effective = resolve(stored, files(GOOD), ceilings=Ceilings(memory_mb=4096, processes=1024))
    record = effective.record(files(GOOD))
    assert "clone_url" not in record["config"] and "pw@" not in str(record)
    assert set(record["sources"]) == set(record["config"])
    assert record["file"] == "previewd.toml"
