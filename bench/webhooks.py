"""Webhook burst: 2,000 signed `pull_request` deliveries across 200 PRs, then 200 `closed`.

Each PR gets `opened` (sha0) then 9 `synchronize` (sha1..sha9), sent in order by one task per PR,
over 20 keep-alive connections (bench.raw_http), at most 20 requests in flight. Measures ack latency
(bar: p99 < 50 ms), then the time until every PR's active deployment is sha9, checks nothing was
lost or doubled, closes all PRs and times the teardown. Exit 0 if the bar and all checks pass.

    .venv/bin/python -m bench.webhooks [--prs 200] [--pushes 10] [--concurrency 20] [--timeout 600] [--keep]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import sys
import time
import uuid
from pathlib import Path
from typing import Any

from bench.common import percentile, running_system, table
from bench.raw_http import Connection, build_request
from cli.webhook_client import pull_request_payload
from tests.integration.system import WEBHOOK_SECRET, System, git
from webhook_signature import sign
from workflows.vocabulary import DeploymentStatus

FIRST_PR = 1000
ACK_P99_BAR_MS = 50.0

SERVER_PY = '''"""Serves a constant page on $PORT: builds and starts instantly."""
import http.server
import os


class Handler(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        body = b"<h1>bench</h1>"
        self.send_response(200)
        self.send_header("Content-Type", "text/html")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


# HOST: 0.0.0.0 inside a sandbox (the proxy comes in through a port forward), else 127.0.0.1.
address = (os.environ.get("HOST", "127.0.0.1"), int(os.environ["PORT"]))
http.server.ThreadingHTTPServer(address, Handler).serve_forever()
'''


class Repo:
    def __init__(self, path: Path) -> None:
        self.path = path
        path.mkdir(parents=True)
        (path / "server.py").write_text(SERVER_PY)
        git(path, "init", "--quiet", "--initial-branch=main")

    def commit(self, message: str) -> str:
        (self.path / "message.txt").write_text(message)
        git(self.path, "add", "-A")
        git(self.path, "commit", "--quiet", "-m", message)
        return git(self.path, "rev-parse", "HEAD")


async def send_all(
    system: System,
    project: dict[str, Any],
    plan: dict[int, list[tuple[str, str]]],
    run_id: str,
    concurrency: int,
) -> tuple[list[float], list[str]]:
    """plan: pr → [(action, sha), ...] sent in order. Returns (latencies in s, problems).

    `concurrency` connections, each owning a share of the PRs and sending their deliveries
    interleaved (push k of every PR, then push k+1), so each PR's order is kept. Requests are signed
    and serialised before the clock starts.
    """
    host = f"127.0.0.1:{system.web_port}"
    prepared: dict[int, list[bytes]] = {}
    for pr, deliveries in plan.items():
        prepared[pr] = []
        for k, (action, sha) in enumerate(deliveries):
            payload = pull_request_payload(
                action=action,
                number=pr,
                sha=sha,
                repo_id=project["github_repo_id"],
                repo_full_name=project["github_repo_full_name"],
            )
            body = json.dumps(payload).encode()
            headers = {
                "Content-Type": "application/json",
                "X-GitHub-Event": "pull_request",
                "X-GitHub-Delivery": f"{run_id}-{pr}-{action}-{k}",
                "X-Hub-Signature-256": sign(WEBHOOK_SECRET, body),
                "User-Agent": "GitHub-Hookshot/previewd-bench",
            }
            prepared[pr].append(build_request(host, "/webhooks/github", headers, body))
    latencies: list[float] = []
    problems: list[str] = []
    prs = list(prepared)
    timeline: list[tuple[float, float]] = []
    shares = [prs[i::concurrency] for i in range(concurrency)]

    async def lane(share: list[int]) -> None:
        connection = await Connection.open("127.0.0.1", system.web_port)
        try:
            rounds = max((len(prepared[pr]) for pr in share), default=0)
            for k in range(rounds):
                for pr in share:
                    if k >= len(prepared[pr]):
                        continue
                    status, body, elapsed = await connection.send(prepared[pr][k])
                    latencies.append(elapsed)
                    timeline.append((time.perf_counter(), elapsed))
                    if status != 202:
                        problems.append(f"PR {pr} #{k}: HTTP {status} {body[:200]!r}")
        finally:
            await connection.close()

    await asyncio.gather(*(lane(share) for share in shares if share))
    if timeline:
        t0 = min(t for t, _ in timeline)
        slow = sorted(timeline, key=lambda item: -item[1])[:20]
        print("slowest acks (s after start, ms):", [(round(t - t0, 2), round(e * 1000)) for t, e in slow])
    return latencies, problems


def wait_until(check: Any, timeout: float, what: str, every: float = 1.0) -> tuple[bool, float]:
    started = time.perf_counter()
    last = None
    while time.perf_counter() - started < timeout:
        done, status = check()
        if status != last:
            print(f"  [{time.perf_counter() - started:6.1f}s] {what}: {status}", flush=True)
            last = status
        if done:
            return True, time.perf_counter() - started
        time.sleep(every)
    return False, time.perf_counter() - started


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--prs", type=int, default=200)
    parser.add_argument(
        "--pushes", type=int, default=10, help="deliveries per PR: opened + (pushes-1) synchronize"
    )
    parser.add_argument("--concurrency", type=int, default=20)
    parser.add_argument(
        "--timeout", type=float, default=600, help="seconds to wait for each convergence phase"
    )
    parser.add_argument("--keep", action="store_true", help="keep the data dir (logs) after the run")
    args = parser.parse_args()

    wall = time.perf_counter()
    prs = list(range(FIRST_PR, FIRST_PR + args.prs))
    run_id = f"bench-{uuid.uuid4().hex[:8]}"
    results: list[list[object]] = []
    problems: list[str] = []
    ok = True

    with running_system("webhooks", keep=args.keep) as system:
        repo = Repo(system.root / "instant-app")
        shas = [repo.commit(f"push {i}") for i in range(args.pushes)]
        last_sha = shas[-1]
        project = system.add_project(repo, build_command=None, start_command="python3 server.py")  # type: ignore[arg-type]
        pid = project["id"]
        n_deliveries = args.prs * args.pushes

        # -- phase 1: the burst -----------------------------------------------------------------
        plan = {
            pr: [("opened" if i == 0 else "synchronize", sha) for i, sha in enumerate(shas)] for pr in prs
        }
        t0 = time.perf_counter()
        # The load generator stands in for GitHub, which runs on other machines: on this shared 2-core
        # box, give it priority so that its own scheduling delays are not counted as server latency.
        with contextlib.suppress(PermissionError):
            os.nice(-10)
        latencies, send_problems = asyncio.run(send_all(system, project, plan, run_id, args.concurrency))
        send_time = time.perf_counter() - t0
        problems += send_problems
        ms = [x * 1000 for x in latencies]
        p50, p99, pmax = percentile(ms, 50), percentile(ms, 99), max(ms) if ms else float("nan")
        ack_ok = p99 < ACK_P99_BAR_MS and not send_problems and len(ms) == n_deliveries
        ok = ok and ack_ok
        print(
            f"sent {len(ms)}/{n_deliveries} deliveries in {send_time:.1f}s:"
            f" p50 {p50:.1f} ms p99 {p99:.1f} ms max {pmax:.1f} ms",
            flush=True,
        )

        # -- phase 2: converge on the last sha --------------------------------------------------
        def all_on_last() -> tuple[bool, str]:
            rows = system.rows(
                "SELECT status, count(DISTINCT pr_number) AS n FROM deployments"
                " WHERE project_id = :p AND commit_sha = :s GROUP BY status",
                p=pid,
                s=last_sha,
            )
            counts = {r["status"]: r["n"] for r in rows}
            queued = system.rows(
                "SELECT count(*) AS n FROM webhook_deliveries"
                " WHERE delivery_id LIKE :r AND outcome = 'queued'",
                r=f"{run_id}-%",
            )[0]["n"]
            return counts.get(
                DeploymentStatus.ACTIVE, 0
            ) >= args.prs, f"last sha {dict(sorted(counts.items()))}, outbox queued {queued}"

        converged, converge_time = wait_until(all_on_last, args.timeout, "converging")
        ok = ok and converged
        if not converged:
            problems.append(f"not all {args.prs} PRs active on the last sha after {args.timeout:.0f}s")

        # checks: nothing lost, nothing doubled
        with system.api() as api:
            pulls = api.get(f"/api/projects/{pid}/pulls").json()
        wants_last = sum(
            1 for p in pulls if ((p.get("workflow") or {}).get("desired") or {}).get("sha") == last_sha
        )
        deployed_last = sum(1 for p in pulls if (p.get("workflow") or {}).get("deployed_sha") == last_sha)
        doubled = system.rows(
            "SELECT pr_number, count(*) AS n FROM deployments WHERE project_id = :p AND status = 'active'"
            " GROUP BY pr_number HAVING count(*) > 1",
            p=pid,
        )
        outcomes = {
            r["outcome"]: r["n"]
            for r in system.rows(
                "SELECT outcome, count(*) AS n FROM webhook_deliveries"
                " WHERE delivery_id LIKE :r GROUP BY outcome",
                r=f"{run_id}-%",
            )
        }
        status_counts = {
            r["status"]: r["n"]
            for r in system.rows(
                "SELECT status, count(*) AS n FROM deployments WHERE project_id = :p GROUP BY status", p=pid
            )
        }
        print(
            f"pulls via API: {len(pulls)}, workflow.desired.sha == last: {wants_last},"
            f" deployed_sha == last: {deployed_last}"
        )
        print(f"deliveries by outcome: {outcomes}; deployments by status: {status_counts}", flush=True)
        lost_ok = len(pulls) == args.prs and deployed_last == args.prs
        dup_ok = not doubled and outcomes == {"dispatched": n_deliveries}
        if not lost_ok:
            problems.append(
                f"lost: {len(pulls)} pulls, {deployed_last} deployed on last sha (want {args.prs})"
            )
        if wants_last != args.prs:
            # desired is kept after a deploy in this version; report but don't fail on it
            print(f"note: workflow.desired.sha == last sha for {wants_last}/{args.prs} pulls")
        if not dup_ok:
            problems.append(f"doubled/undispatched: {len(doubled)} PRs with >1 active, deliveries {outcomes}")
        ok = ok and lost_ok and dup_ok

        # -- phase 3: close everything ----------------------------------------------------------
        close_plan = {pr: [("closed", last_sha)] for pr in prs}
        t1 = time.perf_counter()
        close_lat, close_problems = asyncio.run(
            send_all(system, project, close_plan, run_id, args.concurrency)
        )
        close_send = time.perf_counter() - t1
        problems += close_problems
        cms = [x * 1000 for x in close_lat]

        def all_destroyed() -> tuple[bool, str]:
            latest = system.rows(
                "SELECT DISTINCT ON (pr_number) pr_number, status FROM deployments WHERE project_id = :p"
                " ORDER BY pr_number, created_at DESC",
                p=pid,
            )
            destroyed = sum(1 for r in latest if r["status"] == DeploymentStatus.DESTROYED)
            routes = system.rows(
                "SELECT count(*) AS n FROM preview_routes r"
                " JOIN deployments d ON d.id = r.deployment_id WHERE d.project_id = :p",
                p=pid,
            )[0]["n"]
            return destroyed == len(
                latest
            ) == args.prs and routes == 0, f"latest destroyed {destroyed}/{len(latest)}, routes {routes}"

        closed, close_time = wait_until(all_destroyed, args.timeout, "closing")
        ok = ok and closed and not close_problems
        if not closed:
            problems.append(f"not all PRs destroyed / routes empty after {args.timeout:.0f}s")

        results = [
            [
                f"burst: {n_deliveries} deliveries ({args.prs} PRs × {args.pushes}),"
                f" concurrency {args.concurrency}",
                f"{send_time:.1f} s",
                f"{p50:.1f} / {p99:.1f} / {pmax:.1f}",
                f"p99 < {ACK_P99_BAR_MS:.0f} ms: {'✅' if ack_ok else '❌'}",
            ],
            [
                f"converge (after burst): all {args.prs} PRs active on last sha",
                f"{converge_time:.1f} s",
                "",
                f"{'✅' if converged else '❌'} lost: {'none ✅' if lost_ok else '❌'},"
                f" doubled: {'none ✅' if dup_ok else '❌'}",
            ],
            [
                f"close: {args.prs} `closed` deliveries",
                f"{close_send:.1f} s",
                f"{percentile(cms, 50):.1f} / {percentile(cms, 99):.1f}"
                f" / {max(cms) if cms else float('nan'):.1f}",
                "all 202 ✅" if not close_problems and len(cms) == args.prs else "❌",
            ],
            [
                "teardown: all latest destroyed, routes empty",
                f"{close_time:.1f} s",
                "",
                "✅" if closed else "❌",
            ],
        ]

    print()
    print(table(["phase", "time", "ack ms p50 / p99 / max", "result"], results))
    for problem in problems[:20]:
        print(f"- {problem}")
    print(f"\nwall time {time.perf_counter() - wall:.1f} s; {'PASS' if ok else 'FAIL'}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
