"""previewd's own budget for GitHub's content-creation limit: at most 80 content-generating requests a
minute (and 500 an hour) per installation, or GitHub answers with a secondary rate limit.

The workflow already collapses a burst of one PR's phases into its newest; this keeps many PRs of one
installation, updated at once, under the limit instead of finding it. Per worker process: with several
workers each keeps its own count, so the limit below leaves room.
"""

from __future__ import annotations

import hashlib
import time
from collections import deque

PER_MINUTE = 70  # GitHub's limit is 80; the rest is headroom for other workers and retries
PER_HOUR = 450  # of 500


class ContentBudget:
    def __init__(self, per_minute: int = PER_MINUTE, per_hour: int = PER_HOUR) -> None:
        self.windows = ((60.0, per_minute), (3600.0, per_hour))
        self._sent: dict[str, deque[float]] = {}

    def reserve(self, token: str, now: float | None = None) -> float:
        """Seconds to wait before a write with this installation token fits the budget; 0 means the
        write may go now and has been counted."""
        now = time.monotonic() if now is None else now
        # Keyed by a digest: the token itself is kept nowhere it could be printed from.
        key = hashlib.sha256(token.encode()).hexdigest()
        sent = self._sent.setdefault(key, deque())
        while sent and sent[0] <= now - self.windows[-1][0]:
            sent.popleft()
        wait = 0.0
        for window, limit in self.windows:
            recent = [at for at in sent if at > now - window]
            if len(recent) >= limit:
                wait = max(wait, recent[-limit] + window - now)
        if wait <= 0:
            sent.append(now)
        return wait

    def refund(self, token: str) -> None:
        """GitHub refused the write outright (a rate limit: 429, or a 403 that says so): nothing was
        created, so it does not count. Other failures (5xx) stay counted: the write may have happened."""
        sent = self._sent.get(hashlib.sha256(token.encode()).hexdigest())
        if sent:
            sent.pop()
