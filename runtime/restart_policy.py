"""When `previewd up` starts a child again, and when it gives up: exponential backoff, reset once a
child has stayed up a while; a child that keeps dying within a short window is a crash loop."""

from __future__ import annotations

from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field


@dataclass(frozen=True)
class RestartPolicy:
    first_delay: float = 1.0
    max_delay: float = 30.0
    # A child that ran this long before it died is treated as healthy again: its next delay is the first.
    stable_after: float = 60.0
    # This many exits within `crash_loop_window` seconds stop everything: restarting is not helping.
    crash_loop_exits: int = 5
    crash_loop_window: float = 120.0


@dataclass
class Backoff:
    """The restart history of one child, on an injected monotonic clock."""

    policy: RestartPolicy
    clock: Callable[[], float]
    _failures: int = 0
    _started_at: float = 0.0
    _exits: deque[float] = field(default_factory=deque)

    def started(self) -> None:
        self._started_at = self.clock()

    def exited(self) -> float | None:
        """The delay before the next start, or None when the child is crash-looping."""
        now = self.clock()
        self._exits.append(now)
        while self._exits and now - self._exits[0] > self.policy.crash_loop_window:
            self._exits.popleft()
        if len(self._exits) >= self.policy.crash_loop_exits:
            return None
        if now - self._started_at >= self.policy.stable_after:
            self._failures = 0
        delay = min(self.policy.max_delay, self.policy.first_delay * 2.0**self._failures)
        self._failures += 1
        return delay
