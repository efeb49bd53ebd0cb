"""Dashboard queries at scale: 10,000 deployments and 1,000,000 log lines in a throwaway Postgres.

Starts an embedded Postgres in a temp dir, runs the migrations (so the indexes are the real ones),
bulk-loads with COPY 20 projects × 25 PRs × 20 deployments spread over 30 days (one project went
quiet after the first 8), 1,000,000 deployment_logs lines (one long-running deployment with
100,000 interleaved with everyone else's since it started, a few hundred with thousands, the rest
with a few dozen) and ~200 preview_routes, then VACUUM (ANALYZE): statistics plus the visibility
map autovacuum would write anyway (and otherwise would be writing during the timings).

Each query runs through `models.db.Database`, a fresh session per run like a request, with the
real helpers where they exist (5 warm-up runs, then --runs timed), then once more with its SQL
captured as sent, which is run under EXPLAIN ANALYZE: the plan's top node and scans are printed,
and a Seq Scan on deployments or deployment_logs, or an index scan of them that filters out
thousands of rows, is flagged. Bar: every query's median < 10 ms (a page render has 100 ms in
all). Exit 0 if every query meets it. --what-if then re-times the failing or flagged queries with
random_page_cost = 1.1, and with a covering log index and an app_name index.

    .venv/bin/python -m bench.queries [--runs 60] [--what-if] [--keep]
"""

from __future__ import annotations

import argparse
import asyncio
import atexit
import gc
import json
import random
import shutil
import sys
import tempfile
import time
import uuid
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import psycopg
from sqlalchemy import event, tuple_
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from activities.app_names import app_name as make_app_name
from bench.common import median, percentile, table
from models import Deployment, DeploymentLog, DeploymentStatus, PreviewRoute
from models.db import Database
from models.queries import latest_deployment_per_pr, local_repo_id, logs_after
from runtime.embedded_postgres import EmbeddedPostgres
from runtime.migrate import migrate
from workflows.signals import workflow_id_for

PROJECTS = 20
PRS_PER_PROJECT = 25
DEPLOYS_PER_PR = 20
LOG_LINES = 1_000_000
BIG_LOG_LINES = 100_000
HEAVY_DEPLOYMENTS = 300
LIGHT_LINES = (10, 30)
ROUTES = 200
DAYS = 30
QUIET_DAYS = 8
BIG_AGE_DAYS = 25
PAGE = 50
DEEP_OFFSET = 5000
LOG_PAGE = 1000
TAIL_LINES = 30  # activities.store.LOG_TAIL_LINES
BAR_MS = 10.0
WATCHED = {"deployments", "deployment_logs"}  # a Seq Scan on these is flagged
FILTERED_FLAG = 1000  # ... and so is an index scan of them that filters out this many rows
WARMUP = 5
SEED = 20261125

NOW = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)

MESSAGES = [
    "Step {n}/14 : RUN npm ci --no-audit --no-fund",
    "added {n} packages, and audited {n} packages in 12s",
    "#{n} [build 4/9] COPY package.json package-lock.json ./",
    "#{n} DONE 0.{n}s",
    "Collecting requests==2.32.{n} (from -r requirements.txt (line {n}))",
    "  Downloading urllib3-2.2.{n}-py3-none-any.whl (121 kB)",
    "webpack compiled successfully in {n} ms",
    "GET /api/items?page={n} 200 in 14ms",
    "POST /api/session 201 in {n}ms",
    "worker {n} started, listening on 0.0.0.0:8080",
    "health check passed after {n} attempts",
    "warning: deprecated option --legacy-peer-deps used ({n})",
    "INFO  [alembic.runtime.migration] Running upgrade {n} -> {n}, add column",
    "retrying connection to database (attempt {n})",
    "Error: ECONNREFUSED 127.0.0.1:{n}",
    "Traceback (most recent call last): File 'app.py', line {n}, in <module>",
]
FEATURES = ["login", "search", "billing", "export", "settings", "onboarding"]
AUTHORS = ["alice", "bob", "carol", "dave", "erin", "frank", "grace", "heidi", "ivan", "judy"]


# -- data ------------------------------------------------------------------------------------------


@dataclass
class Dataset:
    project_ids: list[uuid.UUID] = field(default_factory=list)
    # (project_id, pr_number) of every PR.
    prs: list[tuple[uuid.UUID, int]] = field(default_factory=list)
    deployment_ids: list[uuid.UUID] = field(default_factory=list)
    big_deployment: uuid.UUID = field(default_factory=uuid.uuid4)
    route_names: list[str] = field(default_factory=list)
    # Filled after loading: ids of the big deployment's lines.
    big_first_id: int = 0
    big_near_end_id: int = 0
    big_last_id: int = 0
    finished: uuid.UUID = field(default_factory=uuid.uuid4)
    finished_lines: int = 0
    finished_last_id: int = 0


def deployment_rows(rng: random.Random, data: Dataset) -> list[tuple[Any, ...]]:
    """Every PR gets DEPLOYS_PER_PR pushes a few minutes to hours apart, starting somewhere in the
    last DAYS days; rows come back in created_at order, as they would have been inserted."""
    rows: list[tuple[Any, ...]] = []
    for p, project_id in enumerate(data.project_ids):
        repo = f"acme/service-{p:02d}"
        for k in range(PRS_PER_PROJECT):
            pr = 100 + k * 7 + p
            data.prs.append((project_id, pr))
            name = make_app_name(pr_number=pr, repo_full_name=repo, project_id=str(project_id))
            # The last project went quiet: all its PRs are from the first QUIET_DAYS days.
            span = QUIET_DAYS if p == PROJECTS - 1 else DAYS - 2
            created = NOW - timedelta(days=DAYS) + timedelta(seconds=rng.uniform(0, span * 86400))
            fate = rng.random()  # the PR's newest deployment: active, destroyed, failed or in flight
            for d in range(DEPLOYS_PER_PR):
                created += timedelta(minutes=rng.uniform(3, 150))
                last = d == DEPLOYS_PER_PR - 1
                if last:
                    status = (
                        DeploymentStatus.ACTIVE
                        if fate < 0.6
                        else DeploymentStatus.DESTROYED
                        if fate < 0.85
                        else DeploymentStatus.FAILED
                        if fate < 0.95
                        else DeploymentStatus.BUILDING
                    )
                else:
                    r = rng.random()
                    status = (
                        DeploymentStatus.REPLACED
                        if r < 0.8
                        else DeploymentStatus.SUPERSEDED
                        if r < 0.92
                        else DeploymentStatus.FAILED
                    )
                started = created + timedelta(seconds=rng.uniform(1, 20))
                completed = (
                    None
                    if status == DeploymentStatus.BUILDING
                    else started + timedelta(seconds=rng.uniform(30, 600))
                )
                error = (
                    "build failed: exit status 1\n\nLast log lines:\nnpm ERR! code ELIFECYCLE"
                    if status == DeploymentStatus.FAILED
                    else None
                )
                deployment_id = uuid.UUID(int=rng.getrandbits(128), version=4)
                rows.append(
                    (
                        deployment_id,
                        project_id,
                        pr,
                        f"Feature {pr}: improve the {rng.choice(FEATURES)} flow",
                        rng.choice(AUTHORS),
                        f"{rng.getrandbits(160):040x}",
                        name,
                        f"https://{name}.preview.example.com",
                        workflow_id_for(str(project_id), pr),
                        status.value,
                        error,
                        started,
                        completed,
                        created,
                        completed or started,
                    )
                )
    rows.sort(key=lambda row: row[13])
    return rows


def log_plan(rng: random.Random, ids: list[uuid.UUID], big: uuid.UUID) -> list[tuple[uuid.UUID, int]]:
    """(deployment, line count) in created_at order, the big one excluded: HEAVY_DEPLOYMENTS get
    thousands of lines each, every other deployment a few dozen; LOG_LINES - BIG_LOG_LINES in all."""
    others = [d for d in ids if d != big]
    heavy = set(rng.sample(others, HEAVY_DEPLOYMENTS))
    counts = {d: rng.randint(*LIGHT_LINES) for d in others if d not in heavy}
    left = LOG_LINES - BIG_LOG_LINES - sum(counts.values())
    weights = [rng.uniform(0.2, 1.8) for _ in heavy]
    total = sum(weights)
    position = {d: i for i, d in enumerate(ids)}
    heavy_sorted = sorted(heavy, key=position.__getitem__)
    for d, w in zip(heavy_sorted, weights, strict=True):
        counts[d] = int(left * w / total)
    counts[heavy_sorted[-1]] += LOG_LINES - BIG_LOG_LINES - sum(counts.values())
    return [(d, counts[d]) for d in others]


def log_rows(
    rng: random.Random, plan: list[tuple[uuid.UUID, int]], created: dict[uuid.UUID, datetime], big: uuid.UUID
) -> Iterator[tuple[Any, ...]]:
    """Lines in insertion (id) order: each deployment's build/deploy lines in one burst after it was
    created, and from the big deployment's creation on, its runtime lines interleaved evenly with
    everyone else's (it has been up, and logging requests, ever since)."""
    big_start = created[big]
    later = sum(count for d, count in plan if created[d] >= big_start)
    per_line = BIG_LOG_LINES / later  # big lines owed per other line, once it exists
    big_step = (NOW - big_start) / BIG_LOG_LINES
    owed = 0.0
    big_done = 0
    infos = ("build", "build", "build", "deploy")
    for deployment_id, count in plan:
        at = created[deployment_id]
        logging = at >= big_start
        for i in range(count):
            r = rng.random()
            level = "error" if r < 0.01 else "warning" if r < 0.05 else "info"
            message = MESSAGES[(i * 7 + count) % len(MESSAGES)].format(n=i)
            yield (deployment_id, infos[i % 4] if i < count - 3 else "deploy", level, message, at)
            at += timedelta(milliseconds=250)
            if logging:
                owed += per_line
                while owed >= 1 and big_done < BIG_LOG_LINES:
                    owed -= 1
                    yield (big, "runtime", "info", f"GET /api/items?page={big_done} 200 in 9ms", big_start)
                    big_start += big_step
                    big_done += 1
    while big_done < BIG_LOG_LINES:
        yield (big, "runtime", "info", f"GET /api/items?page={big_done} 200 in 9ms", big_start)
        big_start += big_step
        big_done += 1


def load(url: str, data: Dataset) -> dict[str, float]:
    rng = random.Random(SEED)
    timings: dict[str, float] = {}
    with psycopg.connect(url) as conn, conn.cursor() as cur:
        t0 = time.perf_counter()
        data.project_ids = [uuid.UUID(int=rng.getrandbits(128), version=4) for _ in range(PROJECTS)]
        with cur.copy(
            "COPY projects (id, github_repo_id, github_repo_full_name, deployment_config, is_active,"
            " created_at, updated_at) FROM STDIN"
        ) as copy:
            for p, project_id in enumerate(data.project_ids):
                repo = f"acme/service-{p:02d}"
                when = NOW - timedelta(days=DAYS + 10 - p)
                copy.write_row((project_id, local_repo_id(repo), repo, "{}", True, when, when))

        rows = deployment_rows(rng, data)
        data.deployment_ids = [row[0] for row in rows]
        with cur.copy(
            "COPY deployments (id, project_id, pr_number, pr_title, pr_author, commit_sha, app_name,"
            " app_url, workflow_id, status, error, started_at, completed_at, created_at, updated_at)"
            " FROM STDIN"
        ) as copy:
            for row in rows:
                copy.write_row(row)
        timings["projects + deployments"] = time.perf_counter() - t0

        # The big one: an active deployment from early in the month that has been logging since.
        active = [row for row in rows if row[9] == DeploymentStatus.ACTIVE]
        born = NOW - timedelta(days=BIG_AGE_DAYS)
        data.big_deployment = min(active, key=lambda row: abs(row[13] - born))[0]
        created = {row[0]: row[13] for row in rows}
        t0 = time.perf_counter()
        plan = log_plan(rng, data.deployment_ids, data.big_deployment)
        # A heavy deployment from mid-month, long finished: someone opens its logs, then they poll.
        heavy = [d for d, count in plan if count >= 1000]
        data.finished = heavy[len(heavy) // 2]
        with cur.copy(
            "COPY deployment_logs (deployment_id, type, level, message, timestamp) FROM STDIN"
        ) as copy:
            for line in log_rows(rng, plan, created, data.big_deployment):
                copy.write_row(line)
        timings["1,000,000 log lines"] = time.perf_counter() - t0

        # Routes: the newest ROUTES active deployments, one per app name.
        t0 = time.perf_counter()
        newest_active = sorted(active, key=lambda row: row[13], reverse=True)[:ROUTES]
        with cur.copy(
            "COPY preview_routes (app_name, deployment_id, upstream, host_queue, pid, updated_at) FROM STDIN"
        ) as copy:
            for i, row in enumerate(newest_active):
                copy.write_row(
                    (row[6], row[0], f"http://127.0.0.1:{20000 + i}", "host-local", 4000 + i, row[14])
                )
                data.route_names.append(row[6])
        conn.commit()
        timings["routes"] = time.perf_counter() - t0

        t0 = time.perf_counter()
        conn.autocommit = True
        cur.execute("VACUUM (ANALYZE)")
        timings["VACUUM (ANALYZE)"] = time.perf_counter() - t0

        cur.execute(
            "SELECT count(*), min(id), max(id) FROM deployment_logs WHERE deployment_id = %s",
            (data.big_deployment,),
        )
        count, first, last = cur.fetchone() or (0, 0, 0)
        assert count == BIG_LOG_LINES, count
        cur.execute(
            "SELECT id FROM deployment_logs WHERE deployment_id = %s ORDER BY id OFFSET %s LIMIT 1",
            (data.big_deployment, BIG_LOG_LINES - 50),
        )
        near_end = cur.fetchone()
        data.big_first_id, data.big_last_id = first, last
        data.big_near_end_id = near_end[0] if near_end else last
        cur.execute(
            "SELECT count(*), max(id) FROM deployment_logs WHERE deployment_id = %s", (data.finished,)
        )
        data.finished_lines, data.finished_last_id = cur.fetchone() or (0, 0)
        cur.execute("SELECT (SELECT count(*) FROM deployments), (SELECT count(*) FROM deployment_logs)")
        print(f"loaded: {cur.fetchone()} (deployments, log lines)", flush=True)
    return timings


# -- queries ---------------------------------------------------------------------------------------

Runner = Callable[[AsyncSession, int], Awaitable[int]]


@dataclass
class Query:
    name: str
    run: Runner  # (session, run number) -> rows returned
    dashboard: bool = True


def queries(data: Dataset, keyset: tuple[datetime, uuid.UUID]) -> list[Query]:
    big = data.big_deployment

    async def recent(session: AsyncSession, offset: int) -> int:
        rows = await session.exec(
            select(Deployment).order_by(col(Deployment.created_at).desc()).offset(offset).limit(PAGE)
        )
        return len(rows.all())

    async def recent_first(session: AsyncSession, i: int) -> int:
        return await recent(session, 0)

    async def recent_deep(session: AsyncSession, i: int) -> int:
        return await recent(session, DEEP_OFFSET)

    async def recent_keyset(session: AsyncSession, i: int) -> int:
        rows = await session.exec(
            select(Deployment)
            .where(tuple_(col(Deployment.created_at), col(Deployment.id)) < tuple_(*keyset))
            .order_by(col(Deployment.created_at).desc(), col(Deployment.id).desc())
            .limit(PAGE)
        )
        return len(rows.all())

    async def project_page(session: AsyncSession, i: int) -> int:
        rows = await session.exec(
            select(Deployment)
            .where(Deployment.project_id == data.project_ids[i % (PROJECTS - 1)])
            .order_by(col(Deployment.created_at).desc())
            .limit(PAGE)
        )
        return len(rows.all())

    async def quiet_project_page(session: AsyncSession, i: int) -> int:
        rows = await session.exec(
            select(Deployment)
            .where(Deployment.project_id == data.project_ids[-1])
            .order_by(col(Deployment.created_at).desc())
            .limit(PAGE)
        )
        return len(rows.all())

    async def pr_history(session: AsyncSession, i: int) -> int:
        project_id, pr = data.prs[(i * 37) % len(data.prs)]
        rows = await session.exec(
            select(Deployment)
            .where(Deployment.project_id == project_id, Deployment.pr_number == pr)
            .order_by(col(Deployment.created_at).desc())
            .limit(PAGE)
        )
        return len(rows.all())

    async def latest_per_pr(session: AsyncSession, i: int) -> int:
        return len(await latest_deployment_per_pr(session, project_id=data.project_ids[i % PROJECTS]))

    async def logs_first(session: AsyncSession, i: int) -> int:
        return len(await logs_after(session, deployment_id=big, after=0, limit=LOG_PAGE))

    async def logs_tail_follow(session: AsyncSession, i: int) -> int:
        return len(await logs_after(session, deployment_id=big, after=data.big_near_end_id, limit=LOG_PAGE))

    async def logs_poll_end(session: AsyncSession, i: int) -> int:
        return len(await logs_after(session, deployment_id=big, after=data.big_last_id, limit=LOG_PAGE))

    async def finished_first(session: AsyncSession, i: int) -> int:
        return len(await logs_after(session, deployment_id=data.finished, after=0, limit=LOG_PAGE))

    async def finished_poll(session: AsyncSession, i: int) -> int:
        return len(
            await logs_after(
                session, deployment_id=data.finished, after=data.finished_last_id, limit=LOG_PAGE
            )
        )

    async def logs_last_30(session: AsyncSession, i: int) -> int:
        # activities.store.fail_deployment
        rows = await session.exec(
            select(DeploymentLog.message)
            .where(DeploymentLog.deployment_id == big)
            .order_by(col(DeploymentLog.id).desc())
            .limit(TAIL_LINES)
        )
        return len(rows.all())

    async def deployment_by_id(session: AsyncSession, i: int) -> int:
        ids = data.deployment_ids
        return int(await session.get(Deployment, ids[(i * 101) % len(ids)]) is not None)

    async def route(session: AsyncSession, i: int) -> int:
        names = data.route_names
        return int(await session.get(PreviewRoute, names[(i * 13) % len(names)]) is not None)

    async def app_name_clash(session: AsyncSession, i: int) -> int:
        # activities.store._allocate_app_name, once per new deployment (not a dashboard read).
        project_id, pr = data.prs[(i * 37) % len(data.prs)]
        name = make_app_name(pr_number=pr, repo_full_name="acme/elsewhere", project_id=str(project_id))
        rows = await session.exec(
            select(Deployment.id)
            .where(Deployment.app_name == name, Deployment.project_id != project_id)
            .limit(1)
        )
        return len(rows.all())

    return [
        Query("recent, all projects, page 1 (OFFSET 0)", recent_first),
        Query(f"recent, all projects, OFFSET {DEEP_OFFSET}", recent_deep),
        Query(f"recent, all projects, keyset after row {DEEP_OFFSET}", recent_keyset),
        Query("one project's deployments, page 1", project_page),
        Query(f"quiet project's deployments (none in {DAYS - QUIET_DAYS} days), page 1", quiet_project_page),
        Query("one PR's deployments", pr_history),
        Query("latest_deployment_per_pr (project)", latest_per_pr),
        Query("logs_after(0, 1000), 100k-line deployment", logs_first),
        Query("logs_after(near end, 1000): tail follow", logs_tail_follow),
        Query("logs_after(last id): poll, nothing new", logs_poll_end),
        Query(f"logs_after(0, 1000), finished {data.finished_lines}-line deployment", finished_first),
        Query("logs_after(last id), finished deployment: poll", finished_poll),
        Query(f"last {TAIL_LINES} lines (ORDER BY id DESC)", logs_last_30),
        Query("deployment by id (session.get)", deployment_by_id),
        Query("route by app_name (session.get)", route),
        Query("app-name clash check (store, not a page)", app_name_clash, dashboard=False),
    ]


# -- timing and plans ------------------------------------------------------------------------------


@dataclass
class Result:
    name: str
    median_ms: float
    p95_ms: float
    rows: int
    plan: str
    # "Seq Scan on deployments", "ix_x filtered out 12,345 rows": scans that grow with the table.
    flags: list[str]
    dashboard: bool

    @property
    def passed(self) -> bool:
        return self.median_ms < BAR_MS


def summarize(plan: dict[str, Any]) -> tuple[str, list[str]]:
    """("top node → its scans", flags) of an EXPLAIN (ANALYZE, FORMAT JSON) plan.

    Flags a Seq Scan on deployments or deployment_logs, and a scan of them that threw away at least
    FILTERED_FLAG rows and ten times what it kept (a usable index was not the one used)."""

    def label(node: dict[str, Any]) -> str:
        kind = str(node["Node Type"])
        if node.get("Scan Direction") == "Backward":
            kind += " Backward"
        if "Index Name" in node:
            return f"{kind} using {node['Index Name']}"
        if "Relation Name" in node:
            return f"{kind} on {node['Relation Name']}"
        return kind

    scans: list[str] = []
    flags: list[str] = []

    def walk(node: dict[str, Any]) -> None:
        if "Relation Name" in node or "Index Name" in node:
            scans.append(label(node))
            if node.get("Relation Name") in WATCHED:
                removed = int(node.get("Rows Removed by Filter", 0))
                kept = float(node.get("Actual Rows", 0))
                if node["Node Type"] == "Seq Scan":
                    flags.append(f"Seq Scan on {node['Relation Name']}")
                elif removed >= FILTERED_FLAG and removed >= 10 * kept:
                    flags.append(f"{label(node)} filtered out {removed:,} rows")
        for child in node.get("Plans", []):
            walk(child)

    walk(plan)
    top = label(plan)
    inner = [s for s in scans if s != top]
    return top + (f" → {', '.join(inner)}" if inner else ""), flags


async def explain(url: str, statement: str, parameters: Any) -> dict[str, Any]:
    async with await psycopg.AsyncConnection.connect(url) as conn, conn.cursor() as cur:
        await cur.execute("EXPLAIN (ANALYZE, BUFFERS OFF, FORMAT JSON) " + statement, parameters)
        found = await cur.fetchone()
    assert found is not None
    document = json.loads(found[0]) if isinstance(found[0], str) else found[0]
    plan: dict[str, Any] = document[0]["Plan"]
    return plan


async def measure(db: Database, url: str, query: Query, runs: int) -> Result:
    """WARMUP + runs runs, each in a fresh session (one request's worth); then one more with the SQL
    captured as sent, which is EXPLAINed as is."""
    durations: list[float] = []
    rows = 0
    for i in range(WARMUP + runs):
        t0 = time.perf_counter()
        async with db.session() as session:
            rows = await query.run(session, i)
        if i >= WARMUP:
            durations.append((time.perf_counter() - t0) * 1000)

    statements: list[tuple[str, Any]] = []

    def capture(conn: Any, cursor: Any, statement: str, parameters: Any, context: Any, many: bool) -> None:
        statements.append((statement, parameters))

    event.listen(db.engine.sync_engine, "before_cursor_execute", capture)
    try:
        async with db.session() as session:
            await query.run(session, runs)
    finally:
        event.remove(db.engine.sync_engine, "before_cursor_execute", capture)
    statement, parameters = [s for s in statements if s[0].lstrip().upper().startswith("SELECT")][-1]
    plan, flags = summarize(await explain(url, statement, parameters))
    return Result(
        query.name, median(durations), percentile(durations, 95), rows, plan, flags, query.dashboard
    )


async def measure_all(url: str, chosen: list[Query], runs: int, *, echo: bool) -> list[Result]:
    db = Database(url, pool_size=1)
    try:
        results = []
        for query in chosen:
            result = await measure(db, url, query, runs)
            if echo:
                head = f"{result.name}: {result.rows} rows, median {result.median_ms:.2f} ms"
                print(f"{head} — {plan_cell(result)}", flush=True)
            results.append(result)
        return results
    finally:
        await db.dispose()


def keyset_at(url: str, offset: int) -> tuple[datetime, uuid.UUID]:
    """(created_at, id) of the last row of the page before `offset`, newest first."""
    with psycopg.connect(url) as conn, conn.cursor() as cur:
        cur.execute(
            "SELECT created_at, id FROM deployments ORDER BY created_at DESC, id DESC OFFSET %s LIMIT 1",
            (offset - 1,),
        )
        found = cur.fetchone()
    assert found is not None
    return found[0], found[1]


def admin(url: str, *statements: str) -> None:
    with psycopg.connect(url, autocommit=True) as conn:
        for statement in statements:
            conn.execute(statement.encode())


# What-if scenarios for the queries that missed the bar or were flagged: (title, setup, teardown).
WHAT_IF: list[tuple[str, list[str], list[str]]] = [
    (
        "random_page_cost = 1.1 (SSD), no schema change",
        ["ALTER SYSTEM SET random_page_cost = 1.1", "SELECT pg_reload_conf()"],
        ["ALTER SYSTEM RESET random_page_cost", "SELECT pg_reload_conf()"],
    ),
    (
        "covering log index + app_name index",
        [
            "CREATE INDEX ix_deployment_logs_deployment_id_id_cover ON deployment_logs (deployment_id, id)"
            ' INCLUDE (type, level, message, "timestamp")',
            "CREATE INDEX ix_deployments_app_name ON deployments (app_name)",
            "VACUUM (ANALYZE) deployment_logs, deployments",
        ],
        [],
    ),
]


def what_if(url: str, chosen: list[Query], runs: int) -> list[list[object]]:
    rows: list[list[object]] = []
    for title, setup, teardown in WHAT_IF:
        admin(url, *setup)
        for r in asyncio.run(measure_all(url, chosen, runs, echo=False)):
            rows.append([r.name, title, f"{r.median_ms:.2f}", f"{r.p95_ms:.2f}", plan_cell(r), verdict(r)])
        admin(url, *teardown)
    return rows


def plan_cell(r: Result) -> str:
    return r.plan + "".join(f" ⚠ {flag}" for flag in r.flags)


def verdict(r: Result) -> str:
    return "pass" if r.passed else "FAIL"


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--runs", type=int, default=60, help="timed runs per query (after 5 warm-up runs)")
    parser.add_argument(
        "--what-if",
        action="store_true",
        help="then re-time the failing/flagged queries with random_page_cost = 1.1, and with extra indexes",
    )
    parser.add_argument("--keep", action="store_true", help="keep the data dir (the server is stopped)")
    args = parser.parse_args()
    if args.runs < 1:
        parser.error("--runs must be at least 1")

    wall = time.perf_counter()
    root = Path(tempfile.mkdtemp(prefix="previewd-queries-"))
    print(f"data root: {root}", flush=True)
    if not args.keep:
        # embedded_postgres takes its lock once more at exit, which re-creates root/run/...: registered
        # first, this runs after that.
        atexit.register(shutil.rmtree, root, ignore_errors=True)
    postgres = EmbeddedPostgres(root)
    extra: list[list[object]] = []
    try:
        t0 = time.perf_counter()
        url = postgres.start()
        migrate(url)
        print(f"postgres started and migrated in {time.perf_counter() - t0:.1f} s", flush=True)

        data = Dataset()
        t0 = time.perf_counter()
        timings = load(url, data)
        print(
            f"loaded in {time.perf_counter() - t0:.1f} s ("
            + ", ".join(f"{name} {seconds:.1f} s" for name, seconds in timings.items())
            + ")",
            flush=True,
        )

        # As web/server.py does once everything is loaded: a full collection must not walk the heap.
        gc.collect()
        gc.freeze()
        all_queries = queries(data, keyset_at(url, DEEP_OFFSET))
        results = asyncio.run(measure_all(url, all_queries, args.runs, echo=True))
        if args.what_if:
            names = {r.name for r in results if r.flags or not r.passed}
            extra = what_if(url, [q for q in all_queries if q.name in names], args.runs)
    finally:
        postgres.stop()
        if not args.keep:
            shutil.rmtree(root, ignore_errors=True)

    failed = [r for r in results if not r.passed]
    print()
    print(
        table(
            ["query", "median ms", "p95 ms", "plan (index used)", f"bar: median < {BAR_MS:g} ms"],
            [[r.name, f"{r.median_ms:.2f}", f"{r.p95_ms:.2f}", plan_cell(r), verdict(r)] for r in results],
        )
    )
    print()
    for r in results:
        for flag in r.flags:
            print(f"⚠ {r.name}{'' if r.dashboard else ' (not a dashboard query)'}: {flag}")
    if extra:
        print("\nWhat if (the queries above that missed the bar or were flagged, one change at a time):\n")
        print(table(["query", "change", "median ms", "p95 ms", "plan", "bar"], extra))
    print(f"\n{args.runs} timed runs per query; total wall time {time.perf_counter() - wall:.1f} s")
    print(
        "PASS" if not failed else f"FAIL: {len(failed)} quer{'y' if len(failed) == 1 else 'ies'} over the bar"
    )
    return 0 if not failed else 1


if __name__ == "__main__":
    sys.exit(main())
