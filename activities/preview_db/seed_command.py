"""A seed that is a command (Heroku's `postdeploy`), not a `.sql` file: run once per database, after
the deployment's release command (so after the migrations), as the PR's own role through
DATABASE_URL, wherever that release runs: in the deployment's sandbox on the local platform (the
build's last step, activities/build.py), in the release's one-off machine on Fly
(activities/fly/release.py, which then runs even when there is no release command). Made afresh
databases (a new PR, a reset) are seeded again."""

from __future__ import annotations

import uuid

from activities.context import WorkerContext
from models import DeploymentConfig, preview_databases
from workflows.activity_io import DeploymentRef


def is_command(config: DeploymentConfig) -> bool:
    seed = config.database_seed
    return config.database_engine is not None and bool(seed) and not (seed or "").endswith(".sql")


async def due(ctx: WorkerContext, ref: DeploymentRef, config: DeploymentConfig) -> bool:
    """The PR's database exists and its seed command has not run into it."""
    if not is_command(config):
        return False
    async with ctx.db.session() as session:
        row = await preview_databases.find(session, uuid.UUID(ref.project_id), ref.pr_number)
    return row is not None and not row.seeded


def after_release(config: DeploymentConfig) -> DeploymentConfig:
    """The config whose release step runs the seed command after the release command."""
    seed, release = config.database_seed, config.release_command
    return config.model_copy(update={"release_command": f"({release}) && ({seed})" if release else seed})


async def ran(ctx: WorkerContext, ref: DeploymentRef) -> None:
    async with ctx.db.session() as session:
        await preview_databases.set_seeded(
            session, preview_databases.name_for(uuid.UUID(ref.project_id), ref.pr_number), True
        )
