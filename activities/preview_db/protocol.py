"""The preview-database activities as the workflows call them (`execute_activity_method(
PreviewDatabases.ensure, …)`): typed references without importing their implementation (psycopg, the
worker's context) into workflow code."""

from __future__ import annotations

from typing import Protocol

from temporalio import activity

from workflows.preview_db_io import (
    DatabaseActivityName,
    DatabaseGcInput,
    DatabaseGcResult,
    DatabaseSizesResult,
    DropDatabaseInput,
    EnsureDatabaseInput,
    EnsureDatabaseResult,
)


class PreviewDatabases(Protocol):
    @activity.defn(name=DatabaseActivityName.ENSURE)
    async def ensure(self, input: EnsureDatabaseInput) -> EnsureDatabaseResult:
        """Make the PR's database if its deployment's config asks for one."""
        ...

    @activity.defn(name=DatabaseActivityName.DROP)
    async def drop(self, input: DropDatabaseInput) -> None:
        """Drop the PR's database and role, where they exist."""
        ...

    @activity.defn(name=DatabaseActivityName.GC)
    async def gc(self, input: DatabaseGcInput) -> DatabaseGcResult:
        """`previewd_pr_*` databases whose PR has no running workflow: listed, dropped with `apply`."""
        ...

    @activity.defn(name=DatabaseActivityName.SIZES)
    async def sizes(self) -> DatabaseSizesResult:
        """Sizes recorded; those over their cap."""
        ...
