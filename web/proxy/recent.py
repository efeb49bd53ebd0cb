"""A map that remembers a key for a window of time and then forgets it.

The proxy remembers, per preview, when it last recorded a request and when it last asked for a wake:
both matter only for a few seconds. A plain dict would keep an entry for every preview the process ever
saw (thousands on a long-lived box with many sleeping or closed PRs); this one drops stale entries, at
most once per window, so a lookup stays O(1) and the map holds only what is recent.
"""

from __future__ import annotations

from typing import Generic, TypeVar

V = TypeVar("V")


class Recent(Generic[V]):
    def __init__(self, window: float) -> None:
        self.window = window
        self._entries: dict[str, tuple[V, float]] = {}
        self._pruned_at: float | None = None

    def get(self, key: str, now: float) -> tuple[V] | None:
        """The value put for `key` less than `window` seconds before `now` (in a 1-tuple, so that a
        value of None is told apart from nothing), else None."""
        entry = self._entries.get(key)
        if entry is None or now - entry[1] >= self.window:
            return None
        return (entry[0],)

    def put(self, key: str, value: V, now: float) -> None:
        self._entries[key] = (value, now)
        if self._pruned_at is None:
            self._pruned_at = now
        elif now - self._pruned_at >= self.window:
            self._pruned_at = now
            self._entries = {k: e for k, e in self._entries.items() if now - e[1] < self.window}

    def forget(self, key: str) -> None:
        self._entries.pop(key, None)

    def __len__(self) -> int:
        return len(self._entries)
