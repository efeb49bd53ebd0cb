"""One chaos run, shared by the bounded test (tests/chaos/test_chaos.py) and the full bench
(bench/chaos.py): load on, each fault in turn mid-build, load off, the reconciles triggered, the
system left to settle, then everything checked. The run returns what it measured and every problem
it found; the test asserts there are none, the bench prints them."""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import psycopg

from tests.chaos import checks
from tests.chaos.census import Census, orphans, ours
from tests.chaos.faults import ALL, DRIFT_PR, PIECES, FaultResult, Faults, p99
from tests.chaos.load import LoadGenerator
from tests.chaos.rig import Rig, start_rig, stop_rig, wait_for
from tests.chaos.temporal_view import drift, redeliver
from tests.fakes.github_hooks import HookAttempt


@dataclass(frozen=True)
class Scenario:
    seed: int = 12
    max_open: int = 3
    pause: tuple[float, float] = (1.0, 2.5)
    # Load before the first fault, so builds are queued and running when it lands.
    warmup: float = 10.0
    # Each wait (a fault's recovery, the settling) gives up after this long: a hang is a failure.
    timeout: float = 240.0
    github_fail_rate: float = 0.0
    # Where to keep the logs of previewd's pieces when the run ends (None: removed with the rest).
    keep_logs: Path | None = None


@dataclass
class Report:
    faults: list[FaultResult] = field(default_factory=list)
    deliveries: int = 0
    refused: int = 0
    p99_ack_ms: float = math.nan
    # From a delivery's send until Postgres recorded it (its transaction's now()): the part of the
    # acknowledgement before the web app's INSERT, so a slow answer can be told from a slow arrival.
    p99_recorded_ms: float = math.nan
    prs: int = 0
    redelivery_asked: int = 0
    drift_actions: list[str] = field(default_factory=list)
    checked_deliveries: int = 0
    # Deliveries the dispatcher signalled again after a fault (the workflow drops the repeat).
    repeated_signals: int = 0
    # From the last load or reconcile until previewd / GitHub showed every PR settled.
    settled_after: float = math.nan
    github_settled_after: float = math.nan
    problems: list[str] = field(default_factory=list)
    load_errors: list[str] = field(default_factory=list)


def run(scenario: Scenario) -> Report:
    rig = start_rig(fail_rate=scenario.github_fail_rate, seed=scenario.seed)
    census = Census(root=lambda: rig.up.process.pid)
    census.start()
    load = LoadGenerator(rig, scenario.seed, max_open=scenario.max_open, pause=scenario.pause)
    report = Report()
    try:
        faults = Faults(rig, load, scenario.timeout)
        faults.open_probe()
        load.start()
        time.sleep(scenario.warmup)
        for piece in (*PIECES, ALL):
            report.faults.append(faults.inject(piece))
        load.stop()
        report.load_errors = load.errors
        _reconcile(rig, report, [s for f in report.faults for s in f.sentinels])
        _settle(rig, report, scenario.timeout)
        report.problems += checks.duplicates(rig)
        windows = [f.window for f in report.faults]
        found, report.checked_deliveries, report.repeated_signals = checks.acted_on_once(rig, windows)
        report.problems += found
        live = {str(r["id"]) for r in rig.deployments() if r["status"] == "active"}
        every = [str(r["id"]) for r in rig.deployments()]
        report.problems += _no_orphans(rig, census, live, every)
        report.deliveries = len(load.deliveries)
        report.refused = sum(not d.ok for d in load.deliveries)
        report.p99_ack_ms = p99([d.latency * 1000 for d in load.deliveries if d.ok])
        report.p99_recorded_ms = _recorded_p99(rig)
        report.prs = len(rig.all_pulls())
        report.problems += _stop_leaves_nothing(rig, census, every)
    finally:
        load.stop()
        census.stop()
        stop_rig(rig, scenario.keep_logs)
    return report


def _reconcile(rig: Rig, report: Report, sentinels: list[HookAttempt]) -> None:
    """Deliveries refused during the faults are found and redelivered; a PR opened while the App's
    webhook was off is found by drift."""
    hooks = rig.fake.hooks
    refused = {a.guid for a in list(hooks.attempts)} - {a.guid for a in list(hooks.attempts) if a.ok}
    result = rig.temporal(redeliver)
    report.redelivery_asked = len(result.asked)
    asked = set(result.asked)
    found = {r["guid"]: r for r in rig.rows("SELECT guid, asked, reason FROM redelivery_requests")}
    report.problems += [
        f"refused delivery {g} was not found by the redelivery scan" for g in sorted(refused - found.keys())
    ]
    for sentinel in sentinels:
        guid = sentinel.guid
        if guid not in asked:
            report.problems.append(
                f"the delivery refused while the web app was down ({guid}) was not asked for again: "
                f"{found.get(guid)}"
            )
    if asked:
        wait_for(lambda: all(any(a.ok for a in hooks.of_guid(g) if a.redelivery) for g in asked),
                 timeout=60, what="GitHub's redeliveries to be taken")  # fmt: skip
    hooks.active = False
    try:
        sha, attempt = rig.open_pr(DRIFT_PR)
        assert attempt is None, "a delivery went out while the App's webhook was off"
        results = rig.temporal(drift)
    finally:
        hooks.active = True
    report.drift_actions = [a for r in results for a in r.actions]
    wanted = f"drift: PR #{DRIFT_PR} at {sha[:7]} had no preview; queued a push"
    if wanted not in report.drift_actions:
        report.problems.append(f"drift did not pick up PR #{DRIFT_PR}: {report.drift_actions}")


def _settle(rig: Rig, report: Report, timeout: float) -> None:
    started = time.monotonic()
    left: list[str] = []

    def settled(check: Callable[[Rig], list[str]]) -> bool:
        nonlocal left
        try:
            left = check(rig)
        except psycopg.OperationalError as error:
            left = [f"Postgres: {error}"]
        return not left

    try:
        wait_for(lambda: settled(checks.unsettled), timeout=timeout, what="every PR to settle", interval=1)
        report.settled_after = time.monotonic() - started
        wait_for(
            lambda: settled(checks.github_unsettled), timeout=timeout, what="GitHub to settle", interval=1
        )
        report.github_settled_after = time.monotonic() - started
        # A closed PR's run ends once its last report got through: the sticky comment's "Destroyed"
        # may still be on its way (a report cut short by a kill waits out its one-minute timeout).
        wait_for(
            lambda: settled(checks.workflows_match), timeout=timeout, what="PR workflows to match", interval=1
        )
    except AssertionError as error:
        report.problems += [str(error), *left]


def _recorded_p99(rig: Rig) -> float:
    first: dict[str, float] = {}
    for attempt in list(rig.fake.hooks.attempts):
        if attempt.ok and not attempt.redelivery:
            first.setdefault(attempt.guid, attempt.delivered_at)
    rows = rig.rows(
        "SELECT delivery_id, received_at FROM webhook_deliveries WHERE delivery_id = ANY(%(g)s)",
        {"g": list(first)},
    )
    return p99([(r["received_at"].timestamp() - first[r["delivery_id"]]) * 1000 for r in rows])


def _no_orphans(rig: Rig, census: Census, live: set[str], every: list[str]) -> list[str]:
    """Nothing of ours runs outside supervision. A preview just replaced may take a moment to stop,
    so a stray must still be there after a while to count."""
    strays: dict[int, str] = {}

    def none_left() -> bool:
        nonlocal strays
        strays = orphans(census, rig.data_dir, up_pid=rig.up.process.pid, postmaster=rig.postmaster_pid(),
                         live=live, deployment_ids=every)  # fmt: skip
        return not strays

    try:
        wait_for(none_left, timeout=30, what="no orphaned process", interval=1)
    except AssertionError:
        return [f"orphaned process {pid}: {what}" for pid, what in sorted(strays.items())]
    return []


def _stop_leaves_nothing(rig: Rig, census: Census, deployment_ids: list[str]) -> list[str]:
    """SIGTERM to `up`: it stops everything it started, previews and sandboxes included."""
    rig.up.stop()
    left: dict[int, str] = {}

    def gone() -> bool:
        nonlocal left
        left = ours(census, rig.data_dir, deployment_ids)
        return not left

    try:
        wait_for(gone, timeout=30, what="nothing of previewd left after `up` stopped", interval=0.5)
    except AssertionError:
        return [f"still running after `up` stopped: {pid} {what}" for pid, what in sorted(left.items())]
    return []
