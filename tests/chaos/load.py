"""The load generator: a thread that keeps opening, pushing and closing PRs as GitHub would (a real
commit in the repository the project clones, the PR updated on the fake, then the signed webhook sent
through the fake's delivery mechanism, so a refused delivery is in the App's delivery log), and
records what every delivery got."""

from __future__ import annotations

import random
import threading
import time
from dataclasses import dataclass, field

from tests.chaos.rig import Rig
from tests.fakes.github_hooks import HookAttempt


@dataclass(frozen=True)
class Delivery:
    """One webhook delivery as the sender saw it."""

    at: float  # time.monotonic() when it was sent
    pr: int
    action: str
    guid: str
    status_code: int  # 502 "failed to connect" when nothing listened, 0 on a timeout
    status: str
    latency: float  # seconds until the answer (or the refusal)

    @property
    def ok(self) -> bool:
        return 200 <= self.status_code < 300


@dataclass
class LoadGenerator:
    rig: Rig
    seed: int
    # PR numbers it owns start here; others (probes, sentinels) stay below.
    first_pr: int = 100
    max_open: int = 3
    # Seconds between two actions, drawn uniformly.
    pause: tuple[float, float] = (1.0, 2.5)
    deliveries: list[Delivery] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="chaos-load", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(60)

    def record(self, pr: int, action: str, sent_at: float, attempt: HookAttempt | None) -> None:
        """What a delivery got, whoever sent it (the harness's probes are recorded here too)."""
        if attempt is None:
            return
        delivery = Delivery(
            sent_at, pr, action, attempt.guid, attempt.status_code, attempt.status, attempt.duration
        )
        with self._lock:
            self.deliveries.append(delivery)

    def within(self, start: float, end: float) -> list[Delivery]:
        with self._lock:
            return [d for d in self.deliveries if start <= d.at <= end]

    def _run(self) -> None:
        rng = random.Random(self.seed)
        opened = 0
        while not self._stop.is_set():
            try:
                opened += self._step(rng, opened)
            except Exception as error:  # the load goes on; the suite reports what broke it
                self.errors.append(repr(error))
            self._stop.wait(rng.uniform(*self.pause))

    def _step(self, rng: random.Random, opened: int) -> int:
        mine = sorted(n for n in self.rig.open_pulls() if n >= self.first_pr)
        roll = rng.random()
        sent_at = time.monotonic()
        if not mine or (len(mine) < self.max_open and roll < 0.3):
            number = self.first_pr + opened
            _, attempt = self.rig.open_pr(number)
            self.record(number, "opened", sent_at, attempt)
            return 1
        number = rng.choice(mine)
        if roll < 0.85 or len(mine) == 1:
            _, attempt = self.rig.push_pr(number, f"load push {sent_at:.3f}")
            self.record(number, "synchronize", sent_at, attempt)
        else:
            self.record(number, "closed", sent_at, self.rig.close_pr(number))
        return 0
