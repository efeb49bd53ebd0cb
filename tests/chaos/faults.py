"""The faults, each landed mid-build: `kill -9` of one piece of `previewd up` (or of all of them and
`up` itself, which is then started again), and what recovery took as the load generator and a probe
PR saw it."""

from __future__ import annotations

import contextlib
import math
import os
import signal
import time
from dataclasses import dataclass, field

from tests.chaos.load import LoadGenerator
from tests.chaos.rig import Rig, wait_for
from tests.fakes.github_hooks import HookAttempt

# PR numbers of the harness's own: the probe pushed before and after each fault, the PRs opened
# while the web app is down (their deliveries refused), the PR opened while webhooks are off.
PROBE_PR = 1
SENTINEL_PR = 10
DRIFT_PR = 90
PIECES = ("worker", "web", "temporal", "postgres")
ALL = "everything, and previewd up"


@dataclass
class FaultResult:
    fault: str
    # Seconds from the kill until /readyz said ready, and until a push sent after that was live.
    ready_after: float = math.nan
    live_after: float = math.nan
    deliveries: int = 0
    refused: int = 0
    p99_ack_ms: float = math.nan
    # The deliveries sent while the web app was down that no later event of their PR covers.
    sentinels: list[HookAttempt] = field(default_factory=list)
    # What the killed build was building.
    killed_mid_build: str = ""
    # The window, on the wall clock (what Postgres stamps rows with): from the kill to the fresh push live.
    window: tuple[float, float] = (math.nan, math.nan)


def p99(values: list[float]) -> float:
    if not values:
        return math.nan
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, math.ceil(0.99 * len(ordered)) - 1)]


class Faults:
    def __init__(self, rig: Rig, load: LoadGenerator, timeout: float) -> None:
        self.rig = rig
        self.load = load
        self.timeout = timeout
        self.probe_sha = ""
        self._probe_pushes = 0
        self._sentinels = SENTINEL_PR

    def open_probe(self) -> None:
        sent_at = time.monotonic()
        self.probe_sha, attempt = self.rig.open_pr(PROBE_PR)
        self.load.record(PROBE_PR, "opened", sent_at, attempt)
        wait_for(lambda: self.rig.status_of(PROBE_PR, self.probe_sha) == "active", timeout=self.timeout,
                 what="the probe PR live")  # fmt: skip

    def _push_probe(self) -> str:
        self._probe_pushes += 1
        sent_at = time.monotonic()
        sha, attempt = self.rig.push_pr(PROBE_PR, f"probe push {self._probe_pushes}")
        self.load.record(PROBE_PR, "synchronize", sent_at, attempt)
        assert attempt is not None and attempt.ok, f"the probe push was refused: {attempt}"
        self.probe_sha = sha
        return sha

    def _building(self) -> str:
        """Push the probe and wait until its build runs: the kill lands in it."""
        sha = self._push_probe()
        wait_for(lambda: self.rig.status_of(PROBE_PR, sha) == "building", timeout=self.timeout,
                 what="the probe's build to start", interval=0.05)  # fmt: skip
        return sha

    def inject(self, piece: str) -> FaultResult:
        """`kill -9` one piece (or ALL) mid-build, then measure until the system serves a new push."""
        result = FaultResult(piece)
        result.killed_mid_build = self._building()
        started, started_wall = time.monotonic(), time.time()
        if piece == ALL:
            self._kill_everything()
        else:
            os.kill(self._pid(piece), signal.SIGKILL)
        if piece in ("web", ALL):
            # The web app is down for at least up's restart delay: GitHub's delivery is refused.
            result.sentinels.append(self._sentinel())
        if piece == ALL:
            self.rig.start_up_again()
        wait_for(self.rig.ready, timeout=self.timeout, what=f"/readyz after the {piece} kill")
        result.ready_after = time.monotonic() - started
        sha = self._push_probe()
        wait_for(lambda: self.rig.status_of(PROBE_PR, sha) == "active", timeout=self.timeout,
                 what=f"a fresh push live after the {piece} kill")  # fmt: skip
        ended = time.monotonic()
        result.live_after = ended - started
        result.window = (started_wall, time.time())
        window = self.load.within(started, ended)
        result.deliveries = len(window)
        result.refused = sum(not d.ok for d in window)
        result.p99_ack_ms = p99([d.latency * 1000 for d in window if d.ok])
        return result

    def _pid(self, piece: str) -> int:
        if piece == "postgres":
            return self.rig.postmaster_pid()
        return self.rig.up.child(piece)

    def _kill_everything(self) -> None:
        pids = [self.rig.up.process.pid, *(self._pid(piece) for piece in PIECES)]
        for pid in pids:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        self.rig.up.process.wait()

    def _sentinel(self) -> HookAttempt:
        """A PR opened on GitHub while the web app is down: its only event is refused."""
        self._sentinels += 1
        sent_at = time.monotonic()
        _, attempt = self.rig.open_pr(self._sentinels)
        self.load.record(self._sentinels, "opened", sent_at, attempt)
        assert attempt is not None and not attempt.ok, f"the web app took a delivery while down: {attempt}"
        return attempt
