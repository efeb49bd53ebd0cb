"""GitHub at 30% faults: how long after the last close until GitHub shows the whole truth.

The real system (embedded Postgres, Temporal dev server, `previewd worker` and `previewd web`) as a
GitHub App installation on the loopback GitHub fake, whose reporting routes fail at random (500, 502,
503, 429, secondary-rate-limit 403) at `--fail-rate`, from a seeded generator. Six PRs are opened
through signed webhooks, each pushed once `--push-after` seconds later (its first sha then usually still
building), and closed once the pushed sha is live. Measured from the last `closed` delivery's 202 until
GitHub has converged: every GitHub Deployment of those PRs in a final state, every sticky comment saying
"Destroyed", no `pending` `previewd` commit status, and every PR workflow completed (a run ends only once
its last report got through, so a sha superseded before any report has its `error` status by then).
One fresh system per run; the median over `--runs`.

    .venv/bin/python -m bench.github_faults [--runs 3] [--prs 6] [--fail-rate 0.3] [--timeout 600]
"""

from __future__ import annotations

import argparse
import random
import shutil
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

from bench.common import median, table
from tests.integration.github_system import REPO, GitHubSystem, github_system

FIRST_PR = 31
SEED = 20261130


def converge(
    github: GitHubSystem, project_id: str, closed: dict[int, list[str]], timeout: float
) -> tuple[float | None, list[str]]:
    """Seconds until nothing is left unfinished on GitHub and every PR workflow has completed (a run
    ends once its last report got through; None on timeout), and what was left."""
    started = time.monotonic()
    last: list[str] = []
    while time.monotonic() - started < timeout:
        last = github.loose_ends(closed)
        if not last:
            last = [
                f"PR #{number}'s workflow {status}"
                for number in closed
                if (status := github.system.workflow_status(project_id, number)) != "COMPLETED"
            ]
        if not last:
            return time.monotonic() - started, []
        time.sleep(0.2)
    return None, last


def wait_live(github: GitHubSystem, project_id: str, heads: dict[int, str], timeout: float) -> None:
    for number, sha in heads.items():
        github.system.wait_status(project_id, number, sha, "active", timeout=timeout)


def one_run(run: int, args: argparse.Namespace) -> list[object]:
    work = Path(tempfile.mkdtemp(prefix="pvd-ghf-"))
    try:
        with github_system(work) as github:
            fake, system = github.fake, github.system
            fake.fault_rng = random.Random(SEED + run)
            project = github.add_project(70_000 + run)
            numbers = list(range(FIRST_PR, FIRST_PR + args.prs))
            fake.fail_rate = args.fail_rate
            shas: dict[int, list[str]] = {}
            for number in numbers:
                sha = github.push(f"run {run} PR {number} opened", ref=f"refs/heads/pr-{number}")
                fake.set_pull(REPO, number, head_sha=sha)
                system.pull_request(project, "opened", number, sha)
                shas[number] = [sha]
            time.sleep(args.push_after)
            for number in numbers:
                sha = github.push(f"run {run} PR {number} pushed", ref=f"refs/heads/pr-{number}")
                fake.set_pull(REPO, number, head_sha=sha)
                system.pull_request(project, "synchronize", number, sha)
                shas[number].append(sha)
            wait_live(github, project["id"], {n: s[-1] for n, s in shas.items()}, args.timeout)
            for number in numbers:
                fake.set_pull(REPO, number, head_sha=shas[number][-1], state="closed")
                system.pull_request(project, "closed", number, shas[number][-1])
            seconds, left = converge(github, project["id"], shas, args.timeout)
            calls = [call for call in list(fake.calls) if "/repos/" in call.path]
            injected = Counter(call.status for call in calls if call.injected)
            deployments = sum(len(github.pr_deployments(n)) for n in numbers)
            rows = system.rows(
                "SELECT status, count(*) AS n FROM deployments WHERE project_id = :p GROUP BY status",
                p=project["id"],
            )
            statuses = {r["status"]: r["n"] for r in rows}
            for problem in left[:10]:
                print(f"  run {run}: still unfinished: {problem}", flush=True)
            print(f"  run {run}: {seconds}s, rows by status {statuses}", flush=True)
            return [
                run,
                f"{seconds:.1f}" if seconds is not None else f"> {args.timeout:.0f}",
                len(calls),
                f"{sum(injected.values())} ({', '.join(f'{k}: {v}' for k, v in sorted(injected.items()))})",
                deployments,
                ", ".join(f"{k} {v}" for k, v in sorted(statuses.items())),
                "✅" if seconds is not None else "❌",
            ]
    finally:
        shutil.rmtree(work, ignore_errors=True)


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--prs", type=int, default=6)
    parser.add_argument("--fail-rate", type=float, default=0.3)
    parser.add_argument("--push-after", type=float, default=1.0, help="seconds from the opens to the pushes")
    parser.add_argument("--timeout", type=float, default=600)
    args = parser.parse_args()
    results = [one_run(run, args) for run in range(1, args.runs + 1)]
    times = [float(str(row[1])) for row in results if not str(row[1]).startswith(">")]
    print()
    print(
        table(
            [
                "run",
                "last close → converged (s)",
                "GitHub calls",
                "injected faults",
                "GitHub deployments",
                "previewd deployments",
                "converged",
            ],
            results,
        )  # fmt: skip
    )
    converged = len(times) == len(results)
    print(
        f"\nmedian {median(times):.1f} s over {len(times)} converged runs of {len(results)}" if times else ""
    )
    return 0 if converged else 1


if __name__ == "__main__":
    sys.exit(main())
