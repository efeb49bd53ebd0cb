"""What every activity of one worker process shares: settings, database, keys, its host queues."""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field

from temporalio import activity
from temporalio.exceptions import ApplicationError

from activities.environment import PullRequestText
from activities.local.sandboxing import SandboxMode
from activities.preview_db.urls import PreviewPostgres
from activities.workdirs import Workdirs
from config import Settings
from models import Deployment, DeploymentConfig, Project, preview_databases
from models.crypto import Keyring
from models.db import Database
from models.secrets import decrypted_secrets
from workflows.activity_io import ErrorType


@dataclass
class WorkerContext:
    settings: Settings
    db: Database
    keyring: Keyring
    workdirs: Workdirs
    host_queue: str
    build_queue: str
    # Decided at the worker's start (activities/local/sandboxing.py); unsandboxed until then.
    sandbox: SandboxMode = field(default_factory=lambda: SandboxMode(False, ["not probed"]))
    _preview_postgres: PreviewPostgres | None = field(default=None, repr=False)

    @property
    def preview_postgres(self) -> PreviewPostgres:
        """Where the PRs' own databases live (activities/preview_db)."""
        if self._preview_postgres is None:
            self._preview_postgres = PreviewPostgres(self.settings)
        return self._preview_postgres

    async def project(self, project_id: str) -> Project:
        async with self.db.session() as session:
            project = await session.get(Project, uuid.UUID(project_id))
        if project is None:
            raise ApplicationError(f"project {project_id} no longer exists", type=ErrorType.PROJECT_GONE)
        return project

    async def pull_request(self, deployment_id: str) -> PullRequestText:
        """The PR text a deployment was made with (title, branch, author): told to its commands as
        environment variables only (activities/environment.py)."""
        async with self.db.session() as session:
            deployment = await session.get(Deployment, uuid.UUID(deployment_id))
        if deployment is None:
            return PullRequestText()
        return PullRequestText(
            title=deployment.pr_title, branch=deployment.pr_branch, author=deployment.pr_author
        )

    async def deployment_config(self, project: Project, deployment_id: str) -> DeploymentConfig:
        """The config the deployment recorded when its sources were read (the dashboard's, the
        repository's previewd.toml and Procfile, under the operator's ceilings). Its build and start
        read this, so an edit in the dashboard mid-deployment cannot mix two configs. The project's
        own for a deployment that recorded none (one from before the record)."""
        async with self.db.session() as session:
            deployment = await session.get(Deployment, uuid.UUID(deployment_id))
        record = deployment.effective_config if deployment is not None else None
        if not record or "config" not in record:
            return project.config()
        # Never recorded (models/effective_config.py): the project's, as now.
        return DeploymentConfig.model_validate(record["config"] | {"clone_url": project.config().clone_url})

    async def secrets(self, project_id: str, pr_number: int | None = None) -> dict[str, str]:
        """The project's secrets, decrypted, and with `pr_number` the PR's own DATABASE_URL when it has
        a preview database (over a project's secret of that name). Only ever handed to a child's
        environment, and to the masking of its logs."""
        async with self.db.session() as session:
            found = await decrypted_secrets(session, keyring=self.keyring, project_id=uuid.UUID(project_id))
            database = (
                await preview_databases.find(session, uuid.UUID(project_id), pr_number)
                if pr_number is not None
                else None
            )
        if database is not None:
            password = preview_databases.password_of(database, self.keyring)
            found["DATABASE_URL"] = self.preview_postgres.pr_url(
                database.name, password, sandboxed=self.sandbox.sandboxed
            )
            found["PREVIEWD_DATABASE_PASSWORD"] = password  # masked on its own too, wherever it shows
        return found


async def heartbeat() -> None:
    """Passed to long-running helpers: Temporal learns we are alive, and cancellation reaches us."""
    activity.heartbeat()


@asynccontextmanager
async def heartbeating(every: float = 2.0) -> AsyncIterator[None]:
    """Heartbeat in the background for work made of long calls that cannot heartbeat themselves
    (a Fly `wait`, a slow API answer), so a live activity never looks dead."""

    async def beat() -> None:
        while True:
            activity.heartbeat()
            await asyncio.sleep(every)

    task = asyncio.create_task(beat())
    try:
        yield
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
