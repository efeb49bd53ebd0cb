"""Nothing left behind: `previewd_pr_*` databases and roles whose PR has no running workflow (a
workflow terminated by hand, a worker killed mid-teardown), found and dropped. Used by the schedule
(DatabaseReconcileWorkflow) and by `previewd db gc` (a dry run unless --apply).

The PR is open while its PreviewWorkflow runs (closing it ends the workflow), so that is what is asked;
when Temporal cannot say, the database is kept and asked about again next round.
"""

from __future__ import annotations

import asyncio
import logging

from temporalio.client import Client

from activities.preview_db import server
from activities.preview_db.urls import PreviewPostgres
from models import preview_databases
from models.db import Database
from runtime.temporal_client import workflow_running
from workflows.preview_db_io import DatabaseGcResult
from workflows.signals import workflow_id_for

log = logging.getLogger("previewd.preview_db")


async def _running(temporal: Client, name: str) -> bool | None:
    owner = preview_databases.parse_name(name)
    if owner is None:
        return True  # not a name of ours after all: never touched
    return await workflow_running(temporal, workflow_id_for(str(owner[0]), owner[1]))


async def collect(
    postgres: PreviewPostgres, db: Database, temporal: Client, *, apply: bool
) -> DatabaseGcResult:
    admin = await postgres.admin_url_if_there()
    result = DatabaseGcResult()
    if admin is None:
        return result
    for name in await asyncio.to_thread(server.ours, admin):
        running = await _running(temporal, name)
        if running is None:
            result.unsure.append(name)
        elif not running:
            result.orphans.append(name)
    if not apply:
        return result
    for name in result.orphans:
        # Asked again just before dropping: a PR reopened meanwhile keeps its database.
        if await _running(temporal, name) is not False:
            continue
        await asyncio.to_thread(server.drop, admin, name)
        async with db.session() as session:
            await preview_databases.forget(session, name)
        result.dropped.append(name)
        log.info("dropped the orphaned preview database and role %s", name)
    return result
