"""Fast rebuilds: a Django app's first deployment against its second (a push changing one file).

Through the real system (signed webhook, outbox, worker, sandbox where this host has one): for each
of N rounds a new project holds tests/integration/apps/django_app (Django, gunicorn, whitenoise,
dj-database-url from PyPI; Heroku's install, collectstatic, Procfile release and web). Its PR's
first push is timed from the webhook to the deployment's row `active`, with an empty git mirror,
build cache and no virtualenv to copy; then a commit changing one file is pushed and timed the same
way, going live from the mirror with a copy of the first deployment's virtualenv. The table has both,
their ratio, and the median seconds per step (from the deployments' build_stats). Exit 0 when the
median second deploy takes at most 40% of the median first.

    .venv/bin/python -m bench.rebuild [--rounds 3] [--keep]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from bench.common import median, running_system, table
from tests.integration.system import AppRepo, System, git
from workflows.vocabulary import DeploymentStatus

DJANGO_APP = Path(__file__).resolve().parents[1] / "tests" / "integration" / "apps" / "django_app"
HEROKU_COMMANDS = {
    "install_command": "pip install -r requirements.txt",
    "build_command": "python manage.py collectstatic --noinput",
    "start_command": None,  # the Procfile's web: (and release:)
}
RATIO_BAR = 0.40
STEPS = ("clone", "virtualenv-copy", "toolchain", "install", "build", "release", "start")


def until_active(system: System, project: dict[str, Any], pr: int, sha: str, action: str) -> dict[str, Any]:
    """Webhook sent → the deployment's row `active`, polling the DB every 20 ms; the row, timed."""
    started = time.perf_counter()
    system.pull_request(project, action, pr, sha)
    deadline = time.monotonic() + 600
    while time.monotonic() < deadline:
        rows = system.rows(
            "SELECT id, status, error, build_stats FROM deployments"
            " WHERE project_id = :p AND pr_number = :n AND commit_sha = :s",
            p=project["id"], n=pr, s=sha,
        )  # fmt: skip
        for row in rows:
            if row["status"] == DeploymentStatus.ACTIVE:
                return row | {"seconds": time.perf_counter() - started}
            if row["status"] == DeploymentStatus.FAILED:
                raise RuntimeError(f"PR {pr} at {sha[:8]} failed: {row['error']}")
        time.sleep(0.02)
    raise RuntimeError(f"PR {pr} at {sha[:8]} not active after 600 s")


def one_round(system: System, number: int, work: Path) -> tuple[dict[str, Any], dict[str, Any]]:
    repo = AppRepo.create(work / f"django-{number}", DJANGO_APP)
    project = system.add_project(repo, **HEROKU_COMMANDS)
    first_sha = git(repo.path, "rev-parse", "HEAD")
    first = until_active(system, project, 1, first_sha, "opened")
    second_sha = repo.commit("one file changed", {"message.txt": f"round {number}, second push\n"})
    second = until_active(system, project, 1, second_sha, "synchronize")
    system.pull_request(project, "closed", 1, second_sha)
    return first, second


def step_seconds(rows: list[dict[str, Any]], step: str) -> str:
    values = [float(r["build_stats"]["seconds"][step]) for r in rows if step in r["build_stats"]["seconds"]]
    return f"{median(values):.1f}" if values else "–"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--keep", action="store_true", help="keep the data root for a look afterwards")
    args = parser.parse_args()
    firsts: list[dict[str, Any]] = []
    seconds: list[dict[str, Any]] = []
    with running_system("rebuild", keep=args.keep) as system, tempfile.TemporaryDirectory() as work:
        for number in range(1, args.rounds + 1):
            first, second = one_round(system, number, Path(work))
            firsts.append(first)
            seconds.append(second)
            reused = second["build_stats"]["reused"]
            print(
                f"round {number}: first {first['seconds']:.1f}s, second {second['seconds']:.1f}s "
                f"(mirror {reused.get('mirror')}, virtualenv copied: {bool(reused.get('virtualenv'))})",
                flush=True,
            )
    rows: list[list[object]] = [
        [n + 1, f"{f['seconds']:.1f}", f"{s['seconds']:.1f}", f"{s['seconds'] / f['seconds']:.0%}"]
        for n, (f, s) in enumerate(zip(firsts, seconds, strict=True))
    ]
    first_median = median([f["seconds"] for f in firsts])
    second_median = median([s["seconds"] for s in seconds])
    ratio = second_median / first_median
    rows.append(["median", f"{first_median:.1f}", f"{second_median:.1f}", f"{ratio:.0%}"])
    print()
    print(table(["round", "first deploy (s)", "second deploy (s)", "second / first"], rows))
    print()
    print(
        table(
            ["step (median s)", *STEPS],
            [
                ["first", *(step_seconds(firsts, step) for step in STEPS)],
                ["second", *(step_seconds(seconds, step) for step in STEPS)],
            ],
        )
    )
    verdict = "meets" if ratio <= RATIO_BAR else "misses"
    print(f"\nsecond deploy at {ratio:.0%} of the first: {verdict} the bar of {RATIO_BAR:.0%}")
    return 0 if ratio <= RATIO_BAR else 1


if __name__ == "__main__":
    sys.exit(main())
