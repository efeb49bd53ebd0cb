"""Inputs, results and names of the preview-database activities (issue 16, activities/preview_db).

Nothing here holds a password or a URL: those stay on the activities' side (models/preview_databases.py),
so no workflow history ever carries one."""

from __future__ import annotations

from dataclasses import dataclass, field


class DatabaseActivityName:
    ENSURE = "preview_db.ensure"
    DROP = "preview_db.drop"
    GC = "preview_db.gc"
    SIZES = "preview_db.sizes"


@dataclass
class EnsureDatabaseInput:
    """Make the PR's database if its deployment's config asks for one (a no-op otherwise)."""

    project_id: str = ""
    pr_number: int = 0
    deployment_id: str = ""
    # `/preview reset-db`: drop it first, so it is made afresh from the template / seed.
    reset: bool = False


@dataclass
class EnsureDatabaseResult:
    # "" (none configured), "created", "kept" or "reset".
    outcome: str = ""
    name: str = ""


@dataclass
class DropDatabaseInput:
    project_id: str = ""
    pr_number: int = 0


@dataclass
class DatabaseGcInput:
    # False: list what would be dropped, drop nothing (`previewd db gc` without --apply).
    apply: bool = False


@dataclass
class DatabaseGcResult:
    # `previewd_pr_*` names (databases and roles) whose PR has no running workflow.
    orphans: list[str] = field(default_factory=list)
    dropped: list[str] = field(default_factory=list)
    # Temporal could not say for these: kept, looked at again next round.
    unsure: list[str] = field(default_factory=list)


@dataclass
class OverSize:
    project_id: str = ""
    pr_number: int = 0
    size_mb: int = 0
    limit_mb: int = 0


@dataclass
class DatabaseSizesResult:
    over: list[OverSize] = field(default_factory=list)
