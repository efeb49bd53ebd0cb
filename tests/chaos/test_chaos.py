"""The chaos suite, bounded (issue 12, "Show it"): while a load generator opens, pushes and closes PRs
through signed webhooks, `kill -9` the worker, the web app, Temporal and the Postgres postmaster, each
mid-build, then all of them and `previewd up` itself, and start `up` again. Then every PR ends on its
newest sha (or destroyed when closed), one sticky comment each, no duplicate deployment, every GitHub
Deployment final and no commit status left pending, no orphaned process, every delivery that got a
2xx acted on exactly once, the deliveries refused while the web app was down found and redelivered,
and a PR opened while webhooks were off picked up by drift. No timing is asserted: each wait has a
generous limit and only a hang fails it. `python -m bench.chaos` is the full run, with its table."""

from __future__ import annotations

import math
import shutil

import pytest

from tests.chaos.faults import ALL, PIECES
from tests.chaos.scenario import Scenario, run
from tests.requirements import require

BOUNDED = Scenario(seed=12, max_open=3, pause=(1.0, 2.5), warmup=8.0, timeout=240.0)


@pytest.mark.timeout(1500)
def test_every_pr_converges_after_each_piece_is_killed_mid_build() -> None:
    require(shutil.which("git") is not None, "needs git")
    report = run(BOUNDED)
    assert [f.fault for f in report.faults] == [*PIECES, ALL]
    assert all(math.isfinite(f.live_after) for f in report.faults), report.faults
    assert report.load_errors == [], report.load_errors
    assert report.problems == [], "\n".join(report.problems)
    # The suite looked at something: every fault saw the web app refuse at least the sentinel when it
    # was down, and the redelivery scan asked for it.
    assert all(f.sentinels for f in report.faults if f.fault in ("web", ALL))
    assert report.redelivery_asked >= 2 and report.checked_deliveries > 10
