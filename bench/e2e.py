"""End-to-end latency: signed webhook → `active` deployment, against doing the same by hand.

For each variant (plain example app; example app with a ~3 s install step) and each of N rounds, a
"plain" run (git init/fetch/checkout into a temp dir, build, start server.py, poll until 2xx) is
followed by a previewd run (new commit, new PR number, `opened` webhook, poll the DB every 20 ms
until the deployment is `active`). Twice: previewd with its sandbox (where this host has one), and
with PREVIEWD_SANDBOX=off; the table also says what the sandbox adds per deployment. Exit 0 if the
sandboxed overhead ≤ 1.0 s and (3 s build) ratio ≤ 1.3.

    .venv/bin/python -m bench.e2e [--rounds 7] [--keep]
"""

from __future__ import annotations

import argparse
import contextlib
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx

from bench.common import median, running_system, table
from tests.integration.system import AppRepo, System, free_port, wait_for
from workflows.vocabulary import DeploymentStatus

SLEEP_INSTALL = "python3 -c 'import time; time.sleep(3)'"
OVERHEAD_BAR = 1.0
RATIO_BAR = 1.3


def plain_run(repo: Path, sha: str, pr: int, install: str | None) -> float:
    """What previewd does, by hand: returns seconds from start to the first 2xx."""
    work = Path(tempfile.mkdtemp(prefix="bench-plain-"))
    env = {**os.environ, "PATH": SYSTEM_PATH, "COMMIT_SHA": sha, "PR_NUMBER": str(pr), "HOST": "127.0.0.1"}
    server: subprocess.Popen[bytes] | None = None
    started = time.perf_counter()
    try:
        for argv in (
            ["git", "init", "--quiet"],
            ["git", "fetch", "--quiet", "--depth", "1", "--no-tags", str(repo), sha],
            ["git", "-c", "advice.detachedHead=false", "checkout", "--quiet", "--detach", "FETCH_HEAD"],
            *([["/bin/sh", "-c", install]] if install else []),
            ["python3", "build.py"],
        ):
            subprocess.run(
                argv, cwd=work, env=env, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
            )
        port = free_port()
        server = subprocess.Popen(
            ["python3", "server.py"],
            cwd=work,
            env={**env, "PORT": str(port)},
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )
        deadline = time.monotonic() + 30
        with httpx.Client(timeout=1) as client:
            while True:
                try:
                    if client.get(f"http://127.0.0.1:{port}/").is_success:
                        break
                except httpx.HTTPError:
                    pass
                if time.monotonic() > deadline:
                    raise RuntimeError("plain server never answered")
                time.sleep(0.02)
        return time.perf_counter() - started
    finally:
        if server is not None:
            os.killpg(server.pid, signal.SIGKILL)
            server.wait()
        shutil.rmtree(work, ignore_errors=True)


def previewd_run(system: System, project: dict[str, Any], sha: str, pr: int, timeout: float = 120) -> float:
    """Webhook sent → deployment row `active`, polling the DB every 20 ms."""
    started = time.perf_counter()
    system.pull_request(project, "opened", pr, sha)
    deadline = time.monotonic() + timeout
    while True:
        rows = system.rows(
            "SELECT status, error FROM deployments"
            " WHERE project_id = :p AND pr_number = :n AND commit_sha = :s",
            p=project["id"],
            n=pr,
            s=sha,
        )
        if any(r["status"] == DeploymentStatus.ACTIVE for r in rows):
            return time.perf_counter() - started
        failed = [r for r in rows if r["status"] == DeploymentStatus.FAILED]
        if failed:
            raise RuntimeError(f"PR {pr} deployment failed: {failed[0]['error']}")
        if time.monotonic() > deadline:
            raise RuntimeError(f"PR {pr} not active after {timeout}s: {rows}")
        time.sleep(0.02)


def close_and_wait(system: System, project: dict[str, Any], sha: str, pr: int) -> None:
    """Tear the preview down so previews don't pile up between rounds (not timed)."""
    system.pull_request(project, "closed", pr, sha)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        rows = system.rows(
            "SELECT status FROM deployments WHERE project_id = :p AND pr_number = :n AND commit_sha = :s",
            p=project["id"],
            n=pr,
            s=sha,
        )
        if rows and all(r["status"] == DeploymentStatus.DESTROYED for r in rows):
            return
        time.sleep(0.05)
    print(f"warning: PR {pr} not destroyed within 60s", file=sys.stderr)


def run_variant(
    systems: dict[str, System], root: Path, name: str, install: str | None, rounds: int, first_pr: int
) -> dict[str, dict[str, list[float]]]:
    """Per round, for each system in turn on the same commit: the plain script, then previewd; so
    that a slower moment of a shared machine falls on every mode alike."""
    repo = AppRepo.create(root / f"app-{name}")
    config = {"install_command": install} if install else {}
    projects = {mode: system.add_project(repo, **config) for mode, system in systems.items()}
    results: dict[str, dict[str, list[float]]] = {mode: {"plain": [], "previewd": []} for mode in systems}
    for i in range(rounds + 1):  # round 0 is a warm-up, not counted
        pr = first_pr + i
        sha = repo.commit(f"{name} round {i}")
        label = "warm-up" if i == 0 else f"round {i}"
        # Alternating which mode goes first, so that neither always follows the other's teardown.
        order = list(systems.items())
        for mode, system in order if i % 2 else order[::-1]:
            p = plain_run(repo.path, sha, pr, install)
            d = previewd_run(system, projects[mode], sha, pr)
            close_and_wait(system, projects[mode], sha, pr)
            print(f"[{name}] {label} {mode}: plain {p:.3f}s previewd {d:.3f}s", flush=True)
            if i > 0:
                results[mode]["plain"].append(p)
                results[mode]["previewd"].append(d)
    return results


def sandbox_reports(system: System) -> list[dict[str, Any]]:
    """What the system's worker found at its start (written once it has probed)."""

    def rows() -> list[dict[str, Any]]:
        return system.rows("SELECT sandboxed FROM sandbox_reports")

    return wait_for(rows, timeout=60, what="the worker's sandbox report")


# The same python3 for everyone: a sandbox sees the system's only, and a PATH with a pyenv shim
# first (a script) would make the plain and the unsandboxed runs slower by its start-up each time.
SYSTEM_PATH = "/usr/local/bin:/usr/bin:/bin"
MODES = {"sandbox": {"PATH": SYSTEM_PATH}, "no sandbox": {"PREVIEWD_SANDBOX": "off", "PATH": SYSTEM_PATH}}


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--rounds", type=int, default=7, help="measured rounds per variant (≥5)")
    parser.add_argument("--keep", action="store_true", help="keep the data dir (logs) after the run")
    args = parser.parse_args()
    wall = time.perf_counter()
    results: dict[tuple[str, str], dict[str, Any]] = {}
    # Both systems up at once, measured in turn (the idle one costs little), see run_variant.
    with contextlib.ExitStack() as stack:
        systems = {
            mode: stack.enter_context(running_system("e2e", keep=args.keep, extra_env=extra_env))
            for mode, extra_env in MODES.items()
        }
        for mode, system in systems.items():
            reports = sandbox_reports(system)
            print(f"{mode}: the worker sandboxes PR code: {reports[0]['sandboxed']}", flush=True)
        for variant, key, install, first_pr in (
            ("example app", "hello", None, 100),
            ("example + 3 s install", "slow", SLEEP_INSTALL, 200),
        ):
            root = systems["sandbox"].root
            for mode, r in run_variant(systems, root, key, install, args.rounds, first_pr).items():
                results[(variant, mode)] = r

    ok = True
    rows = []
    for (variant, mode), r in results.items():
        mp, md = median(r["plain"]), median(r["previewd"])
        overhead, ratio = md - mp, md / mp
        bars = "—"
        if mode == "sandbox":
            met_overhead = overhead <= OVERHEAD_BAR
            met_ratio = ratio <= RATIO_BAR if "3 s" in variant else None
            ok = ok and met_overhead and (met_ratio is not False)
            bars = f"overhead ≤ {OVERHEAD_BAR:.1f} s: {'✅' if met_overhead else '❌'}"
            if met_ratio is not None:
                bars += f"; ratio ≤ {RATIO_BAR}: {'✅' if met_ratio else '❌'}"
        added = ""
        if mode == "sandbox" and (variant, "no sandbox") in results:
            added = f"{md - median(results[(variant, 'no sandbox')]['previewd']):+.3f} s"
        rows.append(
            [
                variant,
                mode,
                len(r["plain"]),
                f"{mp:.3f} s",
                f"{md:.3f} s",
                f"{overhead:+.3f} s",
                f"{ratio:.2f}×",
                added,
                bars,
            ]
        )
    print()
    headers = ["variant", "previewd", "n", "median plain", "median previewd", "overhead", "ratio"]
    print(table([*headers, "added by the sandbox", "bar"], rows))
    print(f"\nwall time {time.perf_counter() - wall:.1f} s; {'PASS' if ok else 'FAIL'}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
