"""A row put into the outbox outside the webhook path (the dashboard's one-click deploy) waits for its
PR's lock like a webhook's, and the dispatcher carries it to the PR's workflow."""

from __future__ import annotations

import asyncio
import threading
import uuid
from dataclasses import asdict

import psycopg

from models import Project
from models.db import Database
from models.locks import pull_request_key
from outbox.enqueue import enqueue
from outbox.intents import Intent
from tests.integration.system import AppRepo, System
from workflows.signals import PushSignal


def enqueue_push(system: System, project_id: str, pr_number: int, sha: str) -> None:
    async def run() -> None:
        db = Database(system.database_url, pool_size=1)
        try:
            async with db.session() as session:
                project = await session.get(Project, uuid.UUID(project_id))
                assert project is not None
                delivery_id = f"test-{uuid.uuid4()}"
                push = PushSignal(sha=sha, title="one click", author="me", delivery_id=delivery_id)
                await enqueue(
                    session, delivery_id=delivery_id, event="dashboard", action="deploy", project=project,
                    pr_number=pr_number, intent=Intent.PUSH, args=asdict(push),
                )  # fmt: skip
                await session.commit()
        finally:
            await db.dispose()

    asyncio.run(run())


def test_an_enqueued_push_waits_for_its_pr_lock_then_goes_live(system: System, repo: AppRepo) -> None:
    project = system.add_project(repo)
    sha = repo.commit("one click")
    with psycopg.connect(system.database_url) as webhook_in_flight:
        key = pull_request_key(project["github_repo_id"], 3)
        webhook_in_flight.execute("SELECT pg_advisory_xact_lock(%s)", (key,))
        writer = threading.Thread(target=enqueue_push, args=(system, project["id"], 3, sha))
        writer.start()
        writer.join(timeout=1.5)
        assert writer.is_alive(), "the enqueue did not wait for the PR's lock"
        webhook_in_flight.commit()
    writer.join(timeout=30)
    system.wait_status(project["id"], 3, sha, "active")
    [row] = system.rows(
        "SELECT signal, outcome FROM webhook_deliveries WHERE project_id = :p AND event = 'dashboard'",
        p=project["id"],
    )
    assert row == {"signal": Intent.PUSH, "outcome": "dispatched"}
