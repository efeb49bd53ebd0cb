"""Log retention: the daily schedule's workflow deletes the logs of deployments finished more than
their project's `log_retention_days` ago (and their runtime.log files), and nothing newer."""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

from sqlalchemy import text
from temporalio.client import Client

from tests.integration.system import AppRepo, System
from workflows.log_retention import SCHEDULE_ID, LogRetentionWorkflow
from workflows.log_retention_io import RetentionInput, RetentionResult


def finished_deployment(system: System, repo: AppRepo, number: int, **config: Any) -> dict[str, Any]:
    """A PR's deployment that went live and was destroyed when the PR closed: final, with logs."""
    project = system.add_project(repo, **config)
    sha = repo.commit(f"pr {number}")
    system.pull_request(project, "opened", number, sha)
    system.wait_status(project["id"], number, sha, "active")
    system.pull_request(project, "closed", number, sha)
    return system.wait_status(project["id"], number, sha, "destroyed")


def finished_days_ago(system: System, deployment: dict[str, Any], days: float) -> None:
    with system.engine.begin() as connection:
        connection.execute(
            text("UPDATE deployments SET completed_at = now() - make_interval(secs => :s) WHERE id = :d"),
            {"s": days * 86400, "d": deployment["id"]},
        )


def line_count(system: System, deployment: dict[str, Any]) -> int:
    [row] = system.rows(
        "SELECT count(*) AS n FROM deployment_logs WHERE deployment_id = :d", d=deployment["id"]
    )
    return int(row["n"])


def run_retention(system: System, batch_lines: int) -> RetentionResult:
    async def run() -> RetentionResult:
        client = await Client.connect(system.env["TEMPORAL_ADDRESS"])
        # The schedule the worker made runs this workflow daily; started here directly.
        await client.get_schedule_handle(SCHEDULE_ID).describe()
        return await client.execute_workflow(
            LogRetentionWorkflow.run,
            RetentionInput(batch_lines=batch_lines),
            id=f"log-retention-test-{uuid.uuid4().hex[:8]}",
            task_queue=system.env["TEMPORAL_TASK_QUEUE"],
        )

    return asyncio.run(run())


def test_retention_deletes_old_logs_and_keeps_recent_ones(system: System, tmp_path: Any) -> None:
    old = finished_deployment(system, AppRepo.create(tmp_path / f"old-{uuid.uuid4().hex[:6]}"), 1)
    recent = finished_deployment(system, AppRepo.create(tmp_path / f"recent-{uuid.uuid4().hex[:6]}"), 2)
    short = finished_deployment(
        system, AppRepo.create(tmp_path / f"short-{uuid.uuid4().hex[:6]}"), 3, log_retention_days=5
    )
    finished_days_ago(system, old, 31)  # default retention, 30 days: gone
    finished_days_ago(system, recent, 29)  # default retention: kept
    finished_days_ago(system, short, 6)  # its project keeps 5 days: gone
    # A runtime.log left behind on this host (the work dir is normally removed when a preview stops).
    work = system.root / "data" / "work" / str(old["id"])
    work.mkdir(parents=True, exist_ok=True)
    (work / "runtime.log").write_text("left behind\n")
    (work / "runtime.log.1").write_text("rotated\n")
    before = {name: line_count(system, d) for name, d in (("old", old), ("recent", recent), ("short", short))}
    assert all(count > 3 for count in before.values()), before

    result = run_retention(system, batch_lines=2)  # small batches: many short transactions

    assert line_count(system, old) == 0 and line_count(system, short) == 0
    assert line_count(system, recent) == before["recent"]
    assert result.deployments >= 2 and result.lines >= before["old"] + before["short"]
    assert not (work / "runtime.log").exists() and not (work / "runtime.log.1").exists()
    marked = {
        str(r["id"]): r["logs_deleted_at"]
        for r in system.rows(
            "SELECT id, logs_deleted_at FROM deployments WHERE id IN (:a, :b, :c)",
            a=old["id"],
            b=recent["id"],
            c=short["id"],
        )  # fmt: skip
    }
    assert marked[str(old["id"])] and marked[str(short["id"])] and marked[str(recent["id"])] is None

    dashboard = system.dashboard()
    try:
        assert "Logs deleted after 30 days." in dashboard.get(f"/deployments/{old['id']}/logs").text
        assert "Logs deleted after 5 days." in dashboard.get(f"/deployments/{short['id']}/logs").text
        assert "Logs deleted after" not in dashboard.get(f"/deployments/{recent['id']}/logs").text
    finally:
        dashboard.close()

    # A second run finds nothing left to do for them.
    again = run_retention(system, batch_lines=1000)
    assert line_count(system, recent) == before["recent"]
    assert again.deployments == 0
