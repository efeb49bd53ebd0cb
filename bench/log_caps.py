"""What the log caps cost on the write path: 200,000 runtime lines flushed through a LogSink in batches
of 500 (one flush every 200 ms under load), into a real Postgres, without a cap and with the 50,000-line
cap (which drops lines from the second half on), and 150,000 build lines under the 100,000-line cap.
Prints one table: milliseconds per 500-line flush, median and p95.

    .venv/bin/python -m bench.log_caps
"""

from __future__ import annotations

import asyncio
import shutil
import tempfile
import time
import uuid
from pathlib import Path

from activities.logsink import LogSink
from bench.common import median, percentile, table
from models import Deployment, DeploymentStatus, LogType
from models.db import Database
from models.projects import DeploymentConfig
from models.queries import create_project, ensure_admin, local_repo_id
from runtime.embedded_postgres import EmbeddedPostgres
from runtime.migrate import migrate

BATCH = 500


async def deployment(db: Database) -> str:
    async with db.session() as session:
        admin = await ensure_admin(session)
        name = f"bench/logs-{uuid.uuid4().hex[:6]}"
        project = await create_project(
            session, user_id=admin.id, repo_full_name=name, config=DeploymentConfig(),
            repo_id=local_repo_id(name),
        )  # fmt: skip
        row = Deployment(
            id=uuid.uuid4(), project_id=project.id, pr_number=1, commit_sha="a" * 40, app_name="pr-1-x",
            workflow_id="bench", status=DeploymentStatus.ACTIVE,
        )  # fmt: skip
        session.add(row)
        await session.commit()
        return str(row.id)


async def flushes(db: Database, log_type: LogType, lines: int, max_lines: int | None) -> list[float]:
    sink = LogSink(db, await deployment(db), log_type, max_lines=max_lines)
    timings: list[float] = []
    for start in range(0, lines, BATCH):
        for i in range(start, start + BATCH):
            sink.info(f"line {i:07d} " + "x" * 60)
        began = time.perf_counter()
        await sink.flush()
        timings.append((time.perf_counter() - began) * 1000)
    return timings


async def measure(url: str) -> list[list[object]]:
    db = Database(url, pool_size=2)
    rows: list[list[object]] = []
    try:
        for label, log_type, lines, cap in (
            ("runtime, no cap", LogType.RUNTIME, 200_000, None),
            ("runtime, cap 50,000", LogType.RUNTIME, 200_000, 50_000),
            ("build, cap 100,000", LogType.BUILD, 150_000, 100_000),
        ):
            timings = await flushes(db, log_type, lines, cap)
            past = timings[len(timings) // 2 :]  # the second half: over the cap where there is one
            rows.append([
                label, f"{median(timings):.1f}", f"{percentile(timings, 95):.1f}",
                f"{median(past):.1f}", f"{percentile(past, 95):.1f}",
            ])  # fmt: skip
    finally:
        await db.dispose()
    return rows


def main() -> None:
    root = Path(tempfile.mkdtemp(prefix="previewd-logcaps-"))
    postgres = EmbeddedPostgres(root)
    try:
        url = postgres.start()
        migrate(url)
        rows = asyncio.run(measure(url))
    finally:
        postgres.stop()
        shutil.rmtree(root, ignore_errors=True)
    headers = ["500-line flush (ms)", "median", "p95", "2nd half median", "2nd half p95"]
    print(table(headers, rows))


if __name__ == "__main__":
    main()
