"""Dashboard pages at scale: server time of every page on 10,000 deployments and 1,000,000 log lines.

Loads the data set of bench/queries.py (20 projects × 25 PRs × 20 deployments, one deployment with a
100,000-line log) into a throwaway embedded Postgres, starts a Temporal dev server (the project
page's open-PR list asks it for each PR's state; none of these PRs has a workflow, so each query
is answered "not found", the quick path), builds the real web app in this process, signs in with a
one-time link, and times each page through httpx's ASGI transport: no sockets, so what is timed is
the app's own work (routing, session, access check, queries, Temporal calls, templates).

Bar: every page's median < 100 ms (issue 5). Exit 0 when all meet it.

    .venv/bin/python -m bench.dashboard [--runs 30]
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import re
import shutil
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

import httpx

from bench.common import median, percentile, table
from bench.queries import Dataset, load
from config import Settings
from models.db import Database
from models.queries import ensure_admin
from models.sign_in import create_login_link
from runtime.embedded_postgres import EmbeddedPostgres
from runtime.embedded_temporal import start_dev_server
from runtime.migrate import migrate
from tests.integration.system import free_port
from web.app import create_app

BAR_MS = 100.0
WARMUP = 3


async def sign_in(client: httpx.AsyncClient, url: str) -> None:
    db = Database(url, pool_size=1)
    async with db.session() as session:
        admin = await ensure_admin(session)
        token = await create_login_link(session, user_id=admin.id, hours=1)
    await db.dispose()
    page = await client.get(f"/auth/link?token={token}")
    csrf = re.search(r'name="csrf_token" value="([^"]+)"', page.text)
    assert csrf, page.text[:500]
    response = await client.post("/auth/link", data={"csrf_token": csrf[1], "token": token})
    assert response.status_code == 303, response.text[:500]


async def whole_stream(client: httpx.AsyncClient, path: str) -> int:
    """The live log of a finished deployment, read to its `end` event. (httpx's ASGI transport hands
    the body over only when the app is done, so this is the whole stream, not its first event.)"""
    response = await client.get(path)
    assert response.status_code == 200 and "event: end" in response.text, response.text[-300:]
    return response.text.count("\nevent: lines\n")


async def run(url: str, temporal: str, data: Dataset, root: Path, runs: int) -> list[list[object]]:
    settings = Settings(
        database_url=url,
        temporal_address=temporal,
        previewd_data_dir=root / "data",
        github_webhook_secret="x" * 32,
    )
    app = create_app(settings, url)
    big, finished = data.big_deployment, data.finished
    busiest = data.project_ids[0]
    headers = {"HX-Request": "true"}
    mid = (data.big_first_id + data.big_last_id) // 2
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://dash.test", timeout=30) as client:
            await sign_in(client, url)
            pages: list[tuple[str, Callable[[], Awaitable[object]]]] = [
                ("home", lambda: client.get("/")),
                ("home, page 50 (offset 980)", lambda: client.get("/?page=50")),
                ("home, poll of recent deployments", lambda: client.get("/", headers=headers)),
                ("home, poll of the project cards", lambda: client.get("/?part=projects", headers=headers)),
                ("project", lambda: client.get(f"/projects/{busiest}")),
                ("project, page 20 of history", lambda: client.get(f"/projects/{busiest}?page=20")),
                ("project, open PRs + Temporal state", lambda: client.get(f"/projects/{busiest}/pulls")),
                ("project settings", lambda: client.get(f"/projects/{busiest}/settings")),
                ("deployment (100,000-line log)", lambda: client.get(f"/deployments/{big}")),
                ("deployment, status poll", lambda: client.get(f"/deployments/{big}", headers=headers)),
                ("log panel: last 500 lines", lambda: client.get(f"/deployments/{big}/logs")),
                ("log panel: level=error", lambda: client.get(f"/deployments/{big}/logs?level=error")),
                ("log panel: type=runtime", lambda: client.get(f"/deployments/{big}/logs?type=runtime")),
                ("log: 500 earlier lines", lambda: client.get(f"/deployments/{big}/logs?before={mid}")),
                (
                    f"live log (SSE) of a finished deployment, all {data.finished_lines:,} lines",
                    lambda: whole_stream(client, f"/deployments/{finished}/logs/stream?after=0"),
                ),
            ]
            rows: list[list[object]] = []
            for name, call in pages:
                for _ in range(WARMUP):
                    result = await call()
                    if isinstance(result, httpx.Response):
                        assert result.status_code == 200, (name, result.status_code, result.text[:300])
                times = []
                for _ in range(runs):
                    t0 = time.perf_counter()
                    await call()
                    times.append((time.perf_counter() - t0) * 1000)
                med = median(times)
                verdict = "✅" if med < BAR_MS else "❌"
                rows.append([name, f"{med:.1f}", f"{percentile(times, 95):.1f}", verdict])
                print(f"  {name}: median {med:.1f} ms", flush=True)
    return rows


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--runs", type=int, default=30, help="timed requests per page (after 3 warm-up ones)")
    args = parser.parse_args()
    root = Path(tempfile.mkdtemp(prefix="previewd-dash-"))
    postgres = EmbeddedPostgres(root)
    port = free_port()
    temporal = start_dev_server(
        db_file=None, port=port, ui_port=None, log_file=root / "temporal.log", sync="off"
    )
    try:
        url = postgres.start()
        migrate(url)
        data = Dataset()
        t0 = time.perf_counter()
        load(url, data)
        print(f"loaded in {time.perf_counter() - t0:.1f} s", flush=True)
        gc.collect()
        gc.freeze()  # as web/server.py does
        rows = asyncio.run(run(url, f"127.0.0.1:{port}", data, root, args.runs))
    finally:
        temporal.terminate()
        temporal.wait(10)
        postgres.stop()
        shutil.rmtree(root, ignore_errors=True)
    print()
    print(table(["page", "median ms", "p95 ms", f"bar: median < {BAR_MS:g} ms"], rows))
    return 0 if all(row[3] == "✅" for row in rows) else 1


if __name__ == "__main__":
    raise SystemExit(main())
