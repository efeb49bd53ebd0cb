"""web/proxy/recent.py: the proxy's per-preview memory forgets what is no longer recent."""

from __future__ import annotations

from web.proxy.recent import Recent


def test_a_value_is_recent_for_its_window_only() -> None:
    recent: Recent[str] = Recent(window=30)
    recent.put("pr-1-app", "asleep since 12:00", now=100)
    assert recent.get("pr-1-app", now=129.9) == ("asleep since 12:00",)
    assert recent.get("pr-1-app", now=130) is None
    assert recent.get("pr-2-app", now=100) is None


def test_none_is_a_value_not_an_absence() -> None:
    recent: Recent[None] = Recent(window=30)
    recent.put("pr-1-app", None, now=0)
    assert recent.get("pr-1-app", now=1) == (None,)


def test_stale_entries_are_dropped_so_the_map_does_not_grow_with_every_preview() -> None:
    recent: Recent[None] = Recent(window=30)
    for n in range(1000):
        recent.put(f"pr-{n}-app", None, now=n * 0.01)  # 1,000 previews seen within 10 s
    assert len(recent) == 1000
    recent.put("pr-late-app", None, now=45)  # a window later: those 1,000 are stale
    assert len(recent) == 1
    assert recent.get("pr-late-app", now=45) == (None,)


def test_pruning_keeps_what_is_still_recent_and_runs_at_most_once_a_window() -> None:
    recent: Recent[None] = Recent(window=30)
    recent.put("old", None, now=0)
    recent.put("young", None, now=20)
    recent.put("trigger", None, now=31)  # prunes: "old" is 31 s old, "young" 11 s
    assert len(recent) == 2
    assert recent.get("young", now=31) == (None,)
    recent.put("another", None, now=51)  # "young" is stale now, but the last prune was 20 s ago
    assert len(recent) == 3
    recent.put("later", None, now=61)  # a window after the last prune: "young" and "trigger" go
    assert len(recent) == 2
    assert recent.get("another", now=61) == (None,)


def test_forget() -> None:
    recent: Recent[int] = Recent(window=30)
    recent.put("pr-1-app", 1, now=0)
    recent.forget("pr-1-app")
    recent.forget("never-there")
    assert recent.get("pr-1-app", now=0) is None
    assert len(recent) == 0
