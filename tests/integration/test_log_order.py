"""Writers of one deployment's log commit in id order, so a reader that follows the log by id (the
dashboard's live stream, the API's `after=`) never steps over a line committed late."""

from __future__ import annotations

import asyncio
import threading
import uuid

import psycopg

from activities.logsink import LogSink
from models import LogType
from models.db import Database
from models.locks import deployment_log_key
from tests.integration.system import AppRepo, System

INSERT_LINE = (
    "INSERT INTO deployment_logs (deployment_id, type, level, message, timestamp)"
    " VALUES (%s, 'runtime', 'info', 'held back', now()) RETURNING id"
)


def test_a_writer_waits_for_another_writer_of_the_same_log(system: System, repo: AppRepo) -> None:
    project = system.add_project(repo)
    sha = repo.commit("log order")
    system.pull_request(project, "opened", 1, sha)
    deployment = system.wait_status(project["id"], 1, sha, "active")
    deployment_id = str(deployment["id"])

    def flush_one_line() -> None:
        async def run() -> None:
            db = Database(system.database_url, pool_size=1)
            try:
                sink = LogSink(db, deployment_id, LogType.BUILD)
                sink.info("written second")
                await sink.flush()
            finally:
                await db.dispose()

        asyncio.run(run())

    with psycopg.connect(system.database_url) as first:
        first.execute("SELECT pg_advisory_xact_lock(%s)", (deployment_log_key(uuid.UUID(deployment_id)),))
        row = first.execute(INSERT_LINE, (deployment_id,)).fetchone()
        assert row is not None
        held_id = row[0]
        second = threading.Thread(target=flush_one_line)
        second.start()
        second.join(timeout=1.5)
        assert second.is_alive(), "the second writer did not wait for the first"
        first.commit()
    second.join(timeout=30)
    [written] = system.rows(
        "SELECT id FROM deployment_logs WHERE deployment_id = :d AND message = 'written second'",
        d=deployment_id,
    )
    assert written["id"] > held_id
