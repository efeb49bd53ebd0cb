"""`previewd.toml`: the part of a project's deployment config that lives in its repository.

What it may set: commands, port, root directory, watch paths, env vars (not secrets), health check,
Fly settings. What it may not: anything that decides what a PR is trusted with or how much of the host
it gets (limits, the fork policy, secrets, expiry, domains, notifications, a database template) — those
are set in the dashboard. Each section is a table of its own, so later ones (`[database]`) slot in.

Errors name the file, the line and the key (`previewd.toml:7: build.command: expected a string`) and
never quote a value: the deployment log and the PR comment show them.
"""

from __future__ import annotations

import re
import tomllib
from typing import Any

from pydantic import BaseModel, ConfigDict, StrictBool, StrictInt, StrictStr, ValidationError
from pydantic import Field as PydanticField

from models.fly_config import FlyConfig, FlyExtraService, FlyGuest

FILE_NAME = "previewd.toml"
# Read from git objects, so a blob of any size could be asked for: more than this is refused unread.
MAX_FILE_BYTES = 64 * 1024
# tomllib's time grows with the square of a dotted key's depth (`a.a.a…` of 30,000 parts: over a
# minute of the worker's CPU). A key stays on its line, so its depth is at most the line's dots; the
# deepest previewd.toml key has two. Past this many a line is refused before tomllib sees the file.
MAX_DOTS_PER_LINE = 64

# Keys a repository may not set, with the part of the dashboard that sets them.
DASHBOARD_ONLY: dict[tuple[str, ...], str] = {
    ("fork_policy",): "the fork policy",
    ("secrets",): "secrets",
    ("limits",): "limits",
    ("build_memory_mb",): "limits",
    ("preview_memory_mb",): "limits",
    ("max_processes",): "limits",
    ("build_timeout_seconds",): "limits",
    ("build", "timeout_seconds"): "limits",
    ("max_concurrent_builds",): "limits",
    ("expiry",): "expiry",
    ("expire_after_days",): "expiry",
    ("idle_minutes",): "sleep and live previews",
    ("max_live_previews",): "sleep and live previews",
    ("domains",): "domains",
    ("preview_domain",): "the preview domain",
    ("notifications",): "notifications",
    ("clone_url",): "the repository's clone URL",
    ("database", "template"): "the database template",
    ("database", "max_mb"): "limits",
}


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid")


class CommandSection(_Section):
    command: StrictStr | None = None


class BuildSection(CommandSection):
    dockerfile: StrictStr | None = None


class StartSection(CommandSection):
    port: StrictInt | None = None


class HealthCheckSection(_Section):
    path: StrictStr | None = None
    timeout_seconds: StrictInt | None = None


class _StrictFlyGuest(FlyGuest):
    cpus: StrictInt = PydanticField(default=1, ge=1, le=16)
    memory_mb: StrictInt = PydanticField(default=256, ge=256, le=65536)


class _StrictFlyConfig(FlyConfig):
    guest: _StrictFlyGuest = PydanticField(default_factory=_StrictFlyGuest)
    extra_services: list[FlyExtraService] = PydanticField(default_factory=list, max_length=10)
    auto_stop: StrictBool = True


class DatabaseSection(_Section):
    engine: StrictStr | None = None
    seed: StrictStr | None = None


class RepoConfig(_Section):
    """previewd.toml as written: every key optional, none coerced (a number is no string)."""

    root_directory: StrictStr | None = None
    watch_paths: list[StrictStr] | None = None
    install: CommandSection | None = None
    build: BuildSection | None = None
    release: CommandSection | None = None
    start: StartSection | None = None
    health_check: HealthCheckSection | None = None
    env: dict[str, StrictStr] | None = None
    fly: _StrictFlyConfig | None = None
    database: DatabaseSection | None = None

    def overrides(self) -> dict[tuple[str, ...], Any]:
        """DeploymentConfig's fields this file sets, keyed by where the file sets them."""
        found: dict[tuple[str, ...], Any] = {}
        for path, value in (
            (("root_directory",), self.root_directory),
            (("watch_paths",), self.watch_paths),
            (("install", "command"), self.install and self.install.command),
            (("build", "command"), self.build and self.build.command),
            (("build", "dockerfile"), self.build and self.build.dockerfile),
            (("release", "command"), self.release and self.release.command),
            (("start", "command"), self.start and self.start.command),
            (("start", "port"), self.start and self.start.port),
            (("health_check", "path"), self.health_check and self.health_check.path),
            (("health_check", "timeout_seconds"), self.health_check and self.health_check.timeout_seconds),
            (("database", "engine"), self.database and self.database.engine),
            (("database", "seed"), self.database and self.database.seed),
        ):
            if value is not None:
                found[path] = value
        return found


# Where in DeploymentConfig each key of the file goes (env and fly merge key by key instead).
FIELD_FOR_KEY: dict[tuple[str, ...], str] = {
    ("root_directory",): "root_directory",
    ("watch_paths",): "watch_paths",
    ("install", "command"): "install_command",
    ("build", "command"): "build_command",
    ("build", "dockerfile"): "dockerfile_path",
    ("release", "command"): "release_command",
    ("start", "command"): "start_command",
    ("start", "port"): "port",
    ("health_check", "path"): "health_check_path",
    ("health_check", "timeout_seconds"): "health_check_timeout_seconds",
    ("env",): "env_vars",
    ("fly",): "fly_config",
    ("database", "engine"): "database_engine",
    ("database", "seed"): "database_seed",
}
KEY_FOR_FIELD = {field: key for key, field in FIELD_FOR_KEY.items()}


class RepoConfigError(Exception):
    """previewd.toml cannot be used; each problem is one `file:line: key: what` line."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("; ".join(problems))
        self.problems = problems


def dotted(path: tuple[str | int, ...]) -> str:
    return ".".join(f"[{part}]" if isinstance(part, int) else part for part in path).replace(".[", "[")


# Possessive quantifiers throughout: these run over every line of a file a PR may write (lines inside a
# multi-line string too), and a pattern that backtracks would spend minutes of the worker's event loop
# on one crafted line (`a.a.a…` or a long run of spaces before a character that does not match).
_HEADER = re.compile(r"\A\s*+\[\[?+([^\]]*+)\]\]?+\s*+(?:#.*+)?+\Z")
_KEY_PART = r"(?:[A-Za-z0-9_-]++|\"[^\"]*+\"|'[^']*+')"
_KEY = re.compile(rf"\A\s*+({_KEY_PART}(?:\s*+\.\s*+{_KEY_PART})*+)\s*+=")


def _parts(text: str) -> tuple[str, ...]:
    """A dotted key's parts (`a."b.c".d` → a, b.c, d), in one pass: dots inside quotes are no split."""
    parts: list[str] = []
    current: list[str] = []
    quote = ""
    for char in text:
        if quote:
            quote = "" if char == quote else quote
        elif char in "\"'":
            quote = char
        elif char == ".":
            parts.append("".join(current))
            current = []
            continue
        current.append(char)
    parts.append("".join(current))
    return tuple(part.strip().strip("\"'") for part in parts)


def key_lines(text: str) -> dict[tuple[str, ...], int]:
    """The line each key (and each table header) is on: enough of TOML's grammar for error messages,
    which is all this is for (the values come from tomllib)."""
    lines: dict[tuple[str, ...], int] = {}
    table: tuple[str, ...] = ()
    for number, line in enumerate(text.splitlines(), start=1):
        if header := _HEADER.match(line):
            table = _parts(header[1].strip())
            lines.setdefault(table, number)
        elif key := _KEY.match(line):
            lines.setdefault(table + _parts(key[1]), number)
    return lines


def line_of(lines: dict[tuple[str, ...], int], path: tuple[str | int, ...]) -> int:
    """The line of the deepest part of `path` that has one (a list's item is on its list's line)."""
    keys = tuple(str(part) for part in path if not isinstance(part, int))
    while keys:
        if keys in lines:
            return lines[keys]
        keys = keys[:-1]
    return 1


_MESSAGES = {
    "string_type": "expected a string",
    "int_type": "expected a whole number",
    "bool_type": "expected true or false",
    "list_type": "expected a list",
    "dict_type": "expected a table",
    "model_type": "expected a table",
    "model_attributes_type": "expected a table",
    "extra_forbidden": "is not a previewd.toml key",
}


def describe(error: Any) -> str:
    """A pydantic error in words that quote none of the file's values."""
    message = _MESSAGES.get(error["type"])
    if message is not None:
        return message
    text = str(error["msg"])
    return text.removeprefix("Value error, ")


def _dashboard_only(data: dict[str, Any]) -> list[tuple[tuple[str, ...], str]]:
    found = []
    for path, what in DASHBOARD_ONLY.items():
        node: Any = data
        for part in path:
            node = node.get(part) if isinstance(node, dict) else None
        if node is not None:
            found.append((path, what))
    return found


def parse(text: str, *, shown_as: str = FILE_NAME) -> RepoConfig:
    """previewd.toml's text to a RepoConfig, or RepoConfigError naming every problem."""
    for number, line in enumerate(text.splitlines(), start=1):
        if line.count(".") > MAX_DOTS_PER_LINE:
            raise RepoConfigError(
                [f"{shown_as}:{number}: more than {MAX_DOTS_PER_LINE} dots on one line are not read"]
            )
    try:
        data = tomllib.loads(text)
    except RecursionError:
        # tomllib descends once per nested array or inline table: a file of `[[[[…` would otherwise
        # end the clone with a RecursionError (retried, never said on the PR) rather than this.
        raise RepoConfigError([f"{shown_as}:1: not valid TOML: values are nested too deeply"]) from None
    except tomllib.TOMLDecodeError as error:
        # tomllib says "… (at line 7, column 3)": moved to the front, like every other error here.
        message = str(error)
        at = re.search(r"\(at line (\d+), column \d+\)\Z", message)
        line = at[1] if at else "1"
        raise RepoConfigError(
            [f"{shown_as}:{line}: not valid TOML: {message[: at.start() if at else None].strip()}"]
        ) from None
    lines = key_lines(text)
    problems = [
        f"{shown_as}:{line_of(lines, path)}: {dotted(path)}: "
        f"set in the dashboard ({what}), not in {FILE_NAME}"
        for path, what in _dashboard_only(data)
    ]
    for path, _ in _dashboard_only(data):
        parent: Any = data
        for part in path[:-1]:
            parent = parent[part]
        del parent[path[-1]]
        if path[:-1] and not parent:
            del data[path[0]]
    try:
        config = RepoConfig.model_validate(data)
    except ValidationError as error:
        problems += [
            f"{shown_as}:{line_of(lines, tuple(problem['loc']))}: {dotted(tuple(problem['loc']))}: "
            f"{describe(problem)}"
            for problem in error.errors(include_input=False)
        ]
        raise RepoConfigError(problems) from None
    if problems:
        raise RepoConfigError(problems)
    return config


_PROCFILE_LINE = re.compile(r"\A([A-Za-z0-9_-]+)[ \t]*:[ \t]*(.*?)\s*\Z")


def parse_procfile(text: str) -> dict[str, str]:
    """Heroku's Procfile: `type: command` per line. Other lines (comments, blanks) are skipped."""
    processes: dict[str, str] = {}
    for line in text.splitlines():
        match = _PROCFILE_LINE.match(line)
        if match and match[2]:
            processes.setdefault(match[1], match[2])
    return processes
