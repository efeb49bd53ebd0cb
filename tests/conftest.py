"""Module order for `make test`, which runs modules on several processes (pytest-xdist, --dist
loadfile): each process takes the next module in collection order when it is free, so the modules
that take minutes go first and the quick ones fill the gaps, and the processes end together instead
of one of them starting the chaos run when the others are done."""

from __future__ import annotations

import pytest

# Measured (durations of full runs, 2026-11-30 and 12-01); the longest first. A module not named
# keeps its place.
LONGEST_FIRST = (
    "tests/chaos/test_chaos.py",
    "tests/integration/test_fly.py",
    "tests/integration/test_up_supervision.py",
    "tests/integration/test_preview_databases.py",
    "tests/integration/test_github_expiry.py",
    "tests/integration/test_notifications.py",
    "tests/integration/test_fly_domains.py",
    "tests/integration/test_sleep.py",
    "tests/integration/test_worker_liveness.py",
    "tests/integration/test_no_pr_missed.py",
    "tests/integration/test_previews.py",
    "tests/integration/test_github_forks.py",
    "tests/integration/test_log_limits.py",
    "tests/integration/test_attacker_proxy.py",
)


def _rank(item: pytest.Item) -> int:
    module = item.nodeid.split("::", 1)[0]
    return LONGEST_FIRST.index(module) if module in LONGEST_FIRST else len(LONGEST_FIRST)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    # sorted() is stable: within a module, and among the modules not named, the order stays.
    items.sort(key=_rank)
