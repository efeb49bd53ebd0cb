"""models/projects.py DeploymentConfig: validation of a project's build and run settings."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from models.projects import DeploymentConfig


def test_defaults() -> None:
    config = DeploymentConfig()
    assert config.install_command is None
    assert config.build_command is None
    assert config.start_command is None
    assert config.port == 8080
    assert config.env_vars == {}
    assert config.build_timeout_seconds is None


@pytest.mark.parametrize("name", ["1ABC", "A-B", "A B", "", "A=B", "ÄPFEL", "$HOME", "A.B"])
def test_bad_env_var_names_are_rejected(name: str) -> None:
    with pytest.raises(ValidationError, match="not a valid environment variable name"):
        DeploymentConfig(env_vars={name: "value"})


@pytest.mark.parametrize("name", ["A", "_PRIVATE", "node_env", "VAR_2", "x1"])
def test_good_env_var_names_are_accepted(name: str) -> None:
    assert DeploymentConfig(env_vars={name: "v"}).env_vars == {name: "v"}


def test_env_var_name_with_trailing_newline_is_rejected() -> None:
    with pytest.raises(ValidationError):
        DeploymentConfig(env_vars={"FOO\n": "value"})


COMMANDS = ["install_command", "build_command", "start_command", "release_command"]


@pytest.mark.parametrize("field", COMMANDS)
@pytest.mark.parametrize("command", ["echo 'unbalanced", 'npm run "build', "python -c 'x' \"y"])
def test_command_with_an_open_quote_is_rejected(field: str, command: str) -> None:
    with pytest.raises(ValidationError, match="is not a complete command line"):
        DeploymentConfig.model_validate({field: command})


@pytest.mark.parametrize("field", COMMANDS)
@pytest.mark.parametrize(
    "command",
    [
        "python manage.py collectstatic --noinput && python manage.py migrate",
        "gunicorn --bind 0.0.0.0:$PORT app:app",
        "npm ci | tee install.log; echo done # don't cache",
    ],
)
def test_shell_command_lines_are_kept_as_written(field: str, command: str) -> None:
    assert getattr(DeploymentConfig.model_validate({field: command}), field) == command


@pytest.mark.parametrize("field", COMMANDS)
def test_command_with_a_nul_is_rejected(field: str) -> None:
    with pytest.raises(ValidationError, match="NUL"):
        DeploymentConfig.model_validate({field: "echo a\x00b"})


@pytest.mark.parametrize("field", COMMANDS)
@pytest.mark.parametrize("blank", ["", "   ", "\t\n", None])
def test_blank_commands_become_none(field: str, blank: str | None) -> None:
    assert getattr(DeploymentConfig.model_validate({field: blank}), field) is None


def test_commands_are_stripped() -> None:
    config = DeploymentConfig(start_command="  python server.py --port 8080 \n")
    assert config.start_command == "python server.py --port 8080"


def test_shell_syntax_is_kept_as_text() -> None:
    command = "echo $(whoami) && rm -rf / | cat"
    assert DeploymentConfig(build_command=command).build_command == command


@pytest.mark.parametrize("extra", [{"unknown": 1}, {"startCommand": "x"}, {"env": {"A": "b"}}])
def test_unknown_fields_are_rejected(extra: dict[str, object]) -> None:
    with pytest.raises(ValidationError) as caught:
        DeploymentConfig.model_validate(extra)
    assert caught.value.errors()[0]["type"] == "extra_forbidden"


@pytest.mark.parametrize("port", [0, 65536, -1])
def test_port_out_of_range_is_rejected(port: int) -> None:
    with pytest.raises(ValidationError):
        DeploymentConfig(port=port)


@pytest.mark.parametrize("seconds", [9, 6 * 3600 + 1])
def test_build_timeout_out_of_range_is_rejected(seconds: int) -> None:
    with pytest.raises(ValidationError):
        DeploymentConfig(build_timeout_seconds=seconds)


def test_round_trip_through_json() -> None:
    config = DeploymentConfig(
        install_command="pip install -r requirements.txt",
        start_command="python server.py",
        port=3000,
        env_vars={"NODE_ENV": "production"},
    )
    assert DeploymentConfig.model_validate_json(config.model_dump_json()) == config
