"""The config one deployment runs with, and where each value came from.

Precedence (DESIGN.md §9): operator ceilings > previewd.toml at a trusted sha > the project's settings
in the dashboard > defaults. A Procfile fills the start (`web:`) and release (`release:`) commands only
where nothing above set them. The result is recorded with the deployment (`deployments.effective_config`)
and is what its build and start read, so a change in the dashboard mid-build cannot mix two configs.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from pydantic import ValidationError

from models.projects import DeploymentConfig
from models.repo_config import (
    FIELD_FOR_KEY,
    KEY_FOR_FIELD,
    RepoConfig,
    RepoConfigError,
    describe,
    dotted,
    line_of,
)

PROCFILE = "Procfile"
# Never recorded: where the code comes from is the project's business, and a URL may carry a password.
NOT_RECORDED = frozenset({"clone_url"})
LIMIT_FIELDS = ("build_memory_mb", "preview_memory_mb", "max_processes")


class Source(StrEnum):
    DEFAULT = "default"
    DASHBOARD = "dashboard"
    FILE = "previewd.toml"
    PROCFILE = "Procfile"
    CEILING = "operator ceiling"


@dataclass
class RepoFiles:
    """What the repository holds at the sha its config is read from."""

    config: RepoConfig | None = None
    # Where previewd.toml was read (`apps/web/previewd.toml`), for messages and the record.
    config_path: str = ""
    # Its key -> line map, to name the line of a value DeploymentConfig refuses.
    config_lines: dict[tuple[str, ...], int] = field(default_factory=dict)
    procfile: dict[str, str] = field(default_factory=dict)
    # The sha both were read at.
    read_at: str = ""


@dataclass
class Effective:
    config: DeploymentConfig
    sources: dict[str, str]

    def record(self, files: RepoFiles) -> dict[str, Any]:
        """The JSON stored with the deployment and shown on its page."""
        values = self.config.model_dump(mode="json", exclude=set(NOT_RECORDED))
        return {
            "config": values,
            "sources": {name: self.sources.get(name, Source.DEFAULT) for name in values},
            "file": files.config_path if files.config is not None else None,
            "read_at": files.read_at,
        }


def _is_set(stored: dict[str, Any], name: str) -> bool:
    default = DeploymentConfig.model_fields[name].get_default(call_default_factory=True)
    return name in stored and stored[name] not in (None, "", default)


def resolve(stored: dict[str, Any], files: RepoFiles, *, max_memory_mb: int, max_processes: int) -> Effective:
    """The deployment's config from the project's stored settings and the repository's files.
    RepoConfigError (with the file's line) when previewd.toml sets a value DeploymentConfig refuses."""
    dashboard = DeploymentConfig.model_validate(stored)
    values = dashboard.model_dump()
    sources: dict[str, str] = {
        name: Source.DASHBOARD if _is_set(stored, name) else Source.DEFAULT for name in values
    }
    repo = files.config
    if repo is not None:
        for key, value in repo.overrides().items():
            name = FIELD_FOR_KEY[key]
            values[name], sources[name] = value, Source.FILE
        if repo.env:
            values["env_vars"] = {**values["env_vars"], **repo.env}
            sources["env_vars"] = Source.FILE
        if repo.fly is not None:
            written = repo.fly.model_dump(exclude_unset=True)
            values["fly_config"] = {**dashboard.fly_config.model_dump(), **written}
            sources["fly_config"] = Source.FILE
    for name, process in (("start_command", "web"), ("release_command", "release")):
        if not values[name] and files.procfile.get(process):
            values[name], sources[name] = files.procfile[process], Source.PROCFILE
    try:
        config = DeploymentConfig.model_validate(values)
    except ValidationError as error:
        raise RepoConfigError(
            [_problem(files, sources, problem) for problem in error.errors(include_input=False)]
        ) from None
    for name in LIMIT_FIELDS:
        ceiling = max_processes if name == "max_processes" else max_memory_mb
        if getattr(config, name) > ceiling:
            setattr(config, name, ceiling)
            sources[name] = Source.CEILING
    return Effective(config=config, sources=sources)


def _problem(files: RepoFiles, sources: dict[str, str], problem: Any) -> str:
    """A value refused by DeploymentConfig, said where it was written."""
    loc = tuple(problem["loc"])
    name = str(loc[0]) if loc else ""
    key = KEY_FOR_FIELD.get(name)
    if sources.get(name) == Source.PROCFILE:
        return f"{PROCFILE}: {name}: {describe(problem)}"
    if key is None or sources.get(name) != Source.FILE:
        return f"{name} (dashboard): {describe(problem)}"
    path = key + tuple(loc[1:])
    return f"{files.config_path}:{line_of(files.config_lines, path)}: {dotted(path)}: {describe(problem)}"
