"""The operator's ceilings: what no project may ask for beyond, whatever its settings or its
previewd.toml say (DESIGN.md §9: operator ceilings > previewd.toml > dashboard > defaults).

A plain dataclass built from the settings (`Settings.ceilings`), so that models, the web app and the
worker check against one set of numbers without importing the settings. A save above a ceiling is an
error naming the field (`DeploymentConfig.over_ceilings`); a config saved before a ceiling was lowered
is clamped where it is used (models/effective_config.py, the build queue).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import NamedTuple


class Ceiling(NamedTuple):
    # The attribute of Ceilings that holds it, the setting that raises it, the unit an error names.
    attribute: str
    variable: str
    unit: str


# DeploymentConfig's fields that have a ceiling.
CEILING_OF_FIELD: dict[str, Ceiling] = {
    "build_memory_mb": Ceiling("memory_mb", "PREVIEWD_MAX_MEMORY_MB", " MB"),
    "preview_memory_mb": Ceiling("memory_mb", "PREVIEWD_MAX_MEMORY_MB", " MB"),
    "max_processes": Ceiling("processes", "PREVIEWD_MAX_PROCESSES", ""),
    "build_timeout_seconds": Ceiling(
        "build_timeout_seconds", "PREVIEWD_MAX_BUILD_TIMEOUT_SECONDS", " seconds"
    ),
    "max_live_previews": Ceiling("live_previews", "PREVIEWD_MAX_LIVE_PREVIEWS", ""),
    "max_concurrent_builds": Ceiling("builds_per_project", "PREVIEWD_MAX_BUILDS_PER_PROJECT", ""),
    "database_max_mb": Ceiling("database_mb", "PREVIEWD_PREVIEW_DATABASE_MAX_MB", " MB"),
}


@dataclass(frozen=True)
class Ceilings:
    # Each build step's and each preview's memory.
    memory_mb: int = 4096
    # Processes at once per build step or preview.
    processes: int = 4096
    # One build's time limit.
    build_timeout_seconds: int = 3600
    # Awake previews per project (the cap of a project's max_live_previews).
    live_previews: int = 100
    # Builds of one project at once (the cap of a project's max_concurrent_builds).
    builds_per_project: int = 4
    # One preview database's size (the cap of a project's database_max_mb).
    database_mb: int = 1024

    def of(self, field_name: str) -> int:
        value: int = getattr(self, CEILING_OF_FIELD[field_name].attribute)
        return value

    def message(self, field_name: str) -> str:
        ceiling = CEILING_OF_FIELD[field_name]
        return f"at most {self.of(field_name)}{ceiling.unit} on this previewd ({ceiling.variable})"
