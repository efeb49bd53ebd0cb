"""Sleeping previews: wake time, and what N sleeping PRs cost in memory (issue 14).

1. Wake time for the example app: a PR whose project sleeps after 2 idle "minutes" (seconds here:
   PREVIEWD_IDLE_UNIT_SECONDS=1, the test knob), put to sleep and woken by a plain GET through the
   proxy (held until the preview answers), timed from the request to its first byte; median of 5.
2. Memory of the whole system (previewd's worker and web processes and everything they started,
   Postgres with its backends, the Temporal dev server): empty, then with N open PRs whose previews
   all went live and fell asleep (idle 1 s), at each N of --counts. RSS summed over the processes
   (Postgres's shared memory then counts once per backend, so this overstates) and PSS (shared pages
   split between their users). Bar: RSS beyond the empty system < 500 MB for 1,000 sleeping PRs; with
   a largest N below 1,000 the figure is extrapolated linearly from the last two counts, and the
   table says so.

    .venv/bin/python -m bench.sleep [--counts 100,300,1000] [--keep]
"""

from __future__ import annotations

import argparse
import contextlib
import shutil
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx

from bench.common import median, table
from tests.integration.system import AppRepo, System, start_system, wait_for

MB = 1 << 20
RSS_BAR_MB = 500.0
BAR_PRS = 1000
WAKE_ROUNDS = 5
SETUP_BUILDS = 4
WAVE = 2 * SETUP_BUILDS
# The same python3 for everyone (see bench/e2e.py): a sandbox sees the system's only.
SYSTEM_PATH = "/usr/local/bin:/usr/bin:/bin"


def children_of() -> dict[int, list[int]]:
    tree: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        with contextlib.suppress(OSError, IndexError, ValueError):
            stat = (entry / "stat").read_text()
            ppid = int(stat.rsplit(")", 1)[1].split()[1])
            tree.setdefault(ppid, []).append(int(entry.name))
    return tree


def memory(roots: list[int]) -> tuple[float, float, int]:
    """RSS and PSS in MB summed over the roots and all their descendants, and how many processes."""
    rss, pss, _, n = memory_parts(roots)
    return rss, pss, n


def memory_parts(roots: list[int]) -> tuple[float, float, float, int]:
    """memory(), and the part of the RSS that is shared memory (Postgres's shared buffers, counted
    once in each backend that touched them)."""
    tree = children_of()
    seen: set[int] = set()
    stack = list(roots)
    while stack:
        pid = stack.pop()
        if pid in seen:
            continue
        seen.add(pid)
        stack.extend(tree.get(pid, []))
    rss = pss = shmem = 0
    for pid in seen:
        with contextlib.suppress(OSError):
            for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
                if line.startswith("Rss:"):
                    rss += int(line.split()[1]) * 1024
                elif line.startswith("Pss:"):
                    pss += int(line.split()[1]) * 1024
            for line in Path(f"/proc/{pid}/status").read_text().splitlines():
                if line.startswith("RssShmem:"):
                    shmem += int(line.split()[1]) * 1024
    return rss / MB, pss / MB, shmem / MB, len(seen)


def first_byte(system: System, app_name: str) -> float:
    headers = {"Host": f"{app_name}.localhost:{system.preview_port}", "Accept": "*/*"}
    started = time.perf_counter()
    with httpx.stream(
        "GET", f"http://127.0.0.1:{system.preview_port}/", headers=headers, timeout=90
    ) as reply:
        elapsed = time.perf_counter() - started
        reply.read()
        assert reply.status_code == 200, reply.status_code
    return elapsed


def route_counts(system: System, project_id: str) -> tuple[int, int]:
    """(previews that went live: their route exists, previews asleep now) of the project."""
    row = system.rows(
        "SELECT count(*) AS live, count(*) FILTER (WHERE r.asleep) AS asleep FROM preview_routes r "
        "JOIN deployments d ON d.id = r.deployment_id WHERE d.project_id = :p",
        p=project_id,
    )[0]
    return int(row["live"]), int(row["asleep"])


def wake_times(system: System, root: Path) -> list[float]:
    repo = AppRepo.create(root / "wake-app")
    project = system.add_project(repo, idle_minutes=2)
    sha = repo.commit("wake me")
    system.pull_request(project, "opened", 1, sha)
    app = system.wait_status(project["id"], 1, sha, "active")["app_name"]
    times = []
    for _ in range(WAKE_ROUNDS):
        wait_for(lambda: (r := system.route(app)) is not None and r["asleep"], timeout=60, what="asleep")
        times.append(first_byte(system, app))
    return times


def sleeping_prs(system: System, root: Path, counts: list[int]) -> Iterator[tuple[int, float]]:
    """Open PRs up to each count and wait until all are asleep; yields (count, seconds it took)."""
    repo = AppRepo.create(root / "many-app")
    # Four builds at once (the per-project ceiling; the worker's limit is raised to match, see main):
    # the same real path for every PR, set up in a quarter of the time.
    project = system.add_project(repo, idle_minutes=1, max_concurrent_builds=SETUP_BUILDS)
    sha = repo.commit("asleep")
    opened = 0
    for count in counts:
        started = time.monotonic()
        # In waves, each opened once the previous one has gone live: a project's build queue with
        # hundreds of PRs waiting in it is another benchmark (see the README), not this one.
        for wave in range(opened + 1, count + 1, WAVE):
            last = min(wave + WAVE - 1, count)
            for number in range(wave, last + 1):
                system.pull_request(project, "opened", 1000 + number, sha)

            def wave_live(n: int = last) -> bool:
                return route_counts(system, project["id"])[0] >= n

            wait_for(wave_live, timeout=300, what=f"PRs up to {last} live")
        opened = count

        def all_asleep(n: int = count) -> bool:
            return route_counts(system, project["id"])[1] >= n

        wait_for(all_asleep, timeout=300, what=f"{count} sleeping previews")
        time.sleep(10)  # let the last wakes' and sleeps' work settle
        took = time.monotonic() - started
        print(f"{count} PRs asleep after {took:.0f} s", flush=True)
        yield count, took


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--counts", default="100,300,1000")
    parser.add_argument("--keep", action="store_true")
    args = parser.parse_args()
    counts = sorted(int(c) for c in args.counts.split(","))
    root = Path(tempfile.mkdtemp(prefix="previewd-sleep-"))
    print(f"data root: {root}", flush=True)
    env = {
        "PREVIEWD_IDLE_UNIT_SECONDS": "1",
        "PATH": SYSTEM_PATH,
        "PREVIEWD_MAX_CONCURRENT_BUILDS": str(SETUP_BUILDS),
    }
    # Temporal keeps its state in a file, as under `previewd up` (the tests' in-memory database would
    # count every history in the server's RSS).
    system, postgres, temporal = start_system(root, persistent_temporal=True, extra_env=env)
    rows: list[list[Any]] = []
    ok = True
    try:

        def parts() -> dict[str, int]:
            pids = {name: child.process.pid for name, child in system.children.items()}
            return {**pids, "temporal": temporal.process.pid, "postgres": postgres.postmaster_pid()}

        def roots() -> list[int]:
            return list(parts().values())

        def breakdown() -> str:
            def one(name: str, pid: int) -> str:
                rss, pss, shmem, n = memory_parts([pid])
                shared = f" ({n} processes, {shmem:.0f} MB of the RSS shared memory)" if shmem >= 1 else ""
                return f"{name} {rss:.0f}/{pss:.0f}{shared}"

            return ", ".join(one(name, pid) for name, pid in parts().items())

        time.sleep(5)
        empty_rss, empty_pss, empty_n = memory(roots())
        rows.append(
            ["empty system", f"{empty_rss:.0f} MB", f"{empty_pss:.0f} MB", empty_n, "", "", breakdown()]
        )
        wakes = wake_times(system, root)
        print("wake times: " + ", ".join(f"{t:.3f} s" for t in wakes), flush=True)
        measured: list[tuple[int, float]] = []
        for count, took in sleeping_prs(system, root, counts):
            rss, pss, n = memory(roots())
            measured.append((count, rss - empty_rss))
            rows.append(
                [f"{count} sleeping PRs (+1 for the wake)", f"{rss:.0f} MB", f"{pss:.0f} MB", n,
                 f"+{rss - empty_rss:.0f} MB / +{pss - empty_pss:.0f} MB", f"{took:.0f} s", breakdown()]
            )  # fmt: skip
    finally:
        for part in (system, temporal, postgres):
            with contextlib.suppress(Exception):
                part.stop()
        if not args.keep:
            shutil.rmtree(root, ignore_errors=True)
    headers = [
        "system", "RSS", "PSS", "processes", "beyond empty (RSS / PSS)", "setup", "RSS/PSS by part (MB)",
    ]  # fmt: skip
    print(table(headers, rows))
    wake = median(wakes)
    print(f"\nwake, request → first byte: median {wake:.3f} s of {len(wakes)} (" +
          ", ".join(f"{t:.3f}" for t in wakes) + ")")  # fmt: skip
    largest, extra = measured[-1]
    if largest >= BAR_PRS:
        at_bar, how = extra * BAR_PRS / largest, f"measured at {largest}"
    elif len(measured) >= 2:
        (n1, e1), (n2, e2) = measured[-2], measured[-1]
        slope = (e2 - e1) / (n2 - n1)
        at_bar, how = e2 + slope * (BAR_PRS - n2), f"EXTRAPOLATED from {n1} and {n2} ({slope:.2f} MB per PR)"
    else:
        at_bar, how = extra * BAR_PRS / largest, f"EXTRAPOLATED proportionally from {largest}"
    ok = at_bar < RSS_BAR_MB
    verdict = "✅" if ok else "❌"
    print(f"{BAR_PRS} sleeping PRs: +{at_bar:.0f} MB RSS ({how}); bar < {RSS_BAR_MB:.0f} MB {verdict}")
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
