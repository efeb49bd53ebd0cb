"""A database per PR (issue 16): made before its first build, kept across its pushes, dropped with its
preview; orphans found by the reconciler, sizes checked by a schedule.

Each activity is idempotent (Temporal retries them): `ensure` makes what is missing and keeps what is
there, `drop` drops what exists. None takes or returns a password or a URL.
"""

from __future__ import annotations

import asyncio
import uuid
from pathlib import Path

from temporalio import activity
from temporalio.client import Client
from temporalio.exceptions import ApplicationError

from activities.context import WorkerContext
from activities.logsink import LogSink, Masker
from activities.preview_db import server
from activities.preview_db.gc import collect
from models import LogType, Project, preview_databases
from workflows.activity_io import ErrorType
from workflows.preview_db_io import (
    DatabaseActivityName,
    DatabaseGcInput,
    DatabaseGcResult,
    DatabaseSizesResult,
    DropDatabaseInput,
    EnsureDatabaseInput,
    EnsureDatabaseResult,
    OverSize,
)

# A `.sql` seed bigger than this is refused unread: a template is the way to a big data set.
MAX_SEED_BYTES = 32 * 1024 * 1024
MB = 1024 * 1024


class SeedFailed(Exception):
    pass


class PreviewDatabaseActivities:
    def __init__(self, ctx: WorkerContext, temporal: Client | None = None) -> None:
        self.ctx = ctx
        self.temporal = temporal

    @activity.defn(name=DatabaseActivityName.ENSURE)
    async def ensure(self, input: EnsureDatabaseInput) -> EnsureDatabaseResult:
        project = await self.ctx.project(input.project_id)
        config = await self.ctx.deployment_config(project, input.deployment_id)
        if config.database_engine is None:
            return EnsureDatabaseResult()
        postgres = self.ctx.preview_postgres
        if self.ctx.settings.previewd_platform == "fly" and postgres.embedded:
            raise ApplicationError(
                "this project asks for a preview database, and on Fly previewd needs "
                "PREVIEWD_PREVIEW_DATABASE_URL (a Postgres reachable from the project's private network)",
                type=ErrorType.BUILD_FAILED,
                non_retryable=True,
            )
        async with self.ctx.db.session() as session:
            row, password = await preview_databases.record(
                session, keyring=self.ctx.keyring, project_id=project.id, pr_number=input.pr_number
            )
        admin = await postgres.admin_url()
        async with LogSink(
            self.ctx.db, input.deployment_id, LogType.BUILD, secrets=[password, admin]
        ) as sink:
            if input.reset:
                await asyncio.to_thread(server.drop, admin, row.name)
                await self._set_seeded(row.name, False)
                sink.info(f"Preview database {row.name} dropped, to be made afresh (/preview reset-db)")
            if postgres.embedded:
                # A database an admin made there since the cluster started (a template not yet
                # copied) is open to every role until then.
                await asyncio.to_thread(server.close_databases_to_public, admin)
            elif opened := await asyncio.to_thread(server.open_to_public, admin):
                # The operator's databases are not previewd's to close: said, and nothing is made.
                message = operator_databases_open(opened)
                sink.error(message)
                raise ApplicationError(message, type=ErrorType.BUILD_FAILED, non_retryable=True)
            created = await asyncio.to_thread(
                server.create,
                admin,
                name=row.name,
                password=password,
                template=config.database_template,
                temp_file_limit_mb=min(config.database_max_mb, self.ctx.settings.ceilings.database_mb),
            )
            if not created:
                sink.info(f"Preview database {row.name} kept from the PR's earlier deployments")
                return EnsureDatabaseResult(outcome="kept", name=row.name)
            source = f" from the template {config.database_template}" if config.database_template else ""
            sink.info(f"Preview database {row.name} created{source}; DATABASE_URL is set (a secret)")
            seed = config.database_seed
            if seed and seed.endswith(".sql"):
                checkout = self.ctx.workdirs.source(input.deployment_id)
                try:
                    text = _read_seed(checkout, seed)
                    await asyncio.to_thread(server.run_seed, postgres.host_url(row.name, password), text)
                except Exception as error:  # the file, or any error Postgres answers
                    # Dropped again: the next deployment makes it afresh and seeds it again.
                    await asyncio.to_thread(server.drop, admin, row.name)
                    # Postgres quotes what it refused, and a seed may hold the PR's own password:
                    # this message goes to the workflow's history and the PR, not only the log.
                    message = seed_failure(seed, error, secrets=[password, admin])
                    sink.error(message)
                    raise ApplicationError(message, type=ErrorType.BUILD_FAILED, non_retryable=True) from None
                await self._set_seeded(row.name, True)
                sink.info(f"Seeded from {seed}, as the PR's own role")
        return EnsureDatabaseResult(outcome="reset" if input.reset else "created", name=row.name)

    @activity.defn(name=DatabaseActivityName.DROP)
    async def drop(self, input: DropDatabaseInput) -> None:
        project_id = uuid.UUID(input.project_id)
        name = preview_databases.name_for(project_id, input.pr_number)
        async with self.ctx.db.session() as session:
            row = await preview_databases.find(session, project_id, input.pr_number)
        if row is None:
            return
        await asyncio.to_thread(server.drop, await self.ctx.preview_postgres.admin_url(), name)
        async with self.ctx.db.session() as session:
            await preview_databases.forget(session, name)

    @activity.defn(name=DatabaseActivityName.GC)
    async def gc(self, input: DatabaseGcInput) -> DatabaseGcResult:
        assert self.temporal is not None, "the worker gives gc a Temporal client"
        return await collect(self.ctx.preview_postgres, self.ctx.db, self.temporal, apply=input.apply)

    @activity.defn(name=DatabaseActivityName.SIZES)
    async def sizes(self) -> DatabaseSizesResult:
        """Each PR database's size, recorded on its row; those over their project's cap (held under
        the operator's ceiling), for the schedule to stop."""
        admin = await self.ctx.preview_postgres.admin_url_if_there()
        if admin is None:
            return DatabaseSizesResult()
        measured = await asyncio.to_thread(server.sizes, admin)
        ceiling = self.ctx.settings.ceilings.database_mb
        result = DatabaseSizesResult()
        async with self.ctx.db.session() as session:
            for row in await preview_databases.all_rows(session):
                size = measured.get(row.name)
                if size is None:
                    continue
                await preview_databases.set_size(session, row, size)
                project = await session.get(Project, row.project_id)
                limit = min(project.config().database_max_mb if project else ceiling, ceiling)
                if size > limit * MB:
                    result.over.append(
                        OverSize(
                            project_id=str(row.project_id),
                            pr_number=row.pr_number,
                            size_mb=size // MB,
                            limit_mb=limit,
                        )
                    )
            await session.commit()
        return result

    async def _set_seeded(self, name: str, seeded: bool) -> None:
        async with self.ctx.db.session() as session:
            await preview_databases.set_seeded(session, name, seeded)


def _read_seed(checkout: Path, seed: str) -> str:
    """The `.sql` file of the checkout: a link out of it (to a key of this host, say) is refused."""
    root = checkout.resolve()
    path = (checkout / seed).resolve()
    if not path.is_relative_to(root) or not path.is_file():
        raise SeedFailed("it is not a file of the repository")
    if path.stat().st_size > MAX_SEED_BYTES:
        raise SeedFailed(f"it is over {MAX_SEED_BYTES // MB} MB; use a database template instead")
    return path.read_text(errors="replace")


def operator_databases_open(names: list[str]) -> str:
    shown = ", ".join(names[:10]) + (f" and {len(names) - 10} more" if len(names) > 10 else "")
    return (
        "the preview databases' Postgres (PREVIEWD_PREVIEW_DATABASE_URL) lets every role connect to "
        f"{shown}, so a PR's role would too: run REVOKE CONNECT, TEMPORARY ON DATABASE <name> FROM "
        "PUBLIC for each (and GRANT CONNECT to the roles that use it), then redeploy"
    )


def seed_failure(seed: str, error: BaseException, *, secrets: list[str]) -> str:
    """What is said of a failed seed, secrets masked."""
    return Masker(secrets)(f"the database seed {seed} failed: {_first_line(error)}")


def _first_line(error: BaseException) -> str:
    text = str(error).strip().splitlines()
    return text[0] if text else type(error).__name__
