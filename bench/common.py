"""Shared helpers for the benchmarks: start/stop the integration system, stats, table printing."""

from __future__ import annotations

import contextlib
import shutil
import statistics
import tempfile
from collections.abc import Iterator
from pathlib import Path

from tests.integration.system import System, start_system


@contextlib.contextmanager
def running_system(
    prefix: str, keep: bool = False, extra_env: dict[str, str] | None = None
) -> Iterator[System]:
    root = Path(tempfile.mkdtemp(prefix=f"previewd-{prefix}-"))
    print(f"data root: {root}", flush=True)
    system = postgres = temporal = None
    try:
        system, postgres, temporal = start_system(root, extra_env=extra_env)
        yield system
    finally:
        for part in (system, temporal, postgres):
            if part is not None:
                with contextlib.suppress(Exception):
                    part.stop()
        if not keep:
            shutil.rmtree(root, ignore_errors=True)


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    if not ordered:
        return float("nan")
    k = (len(ordered) - 1) * p / 100
    lo, hi = int(k), min(int(k) + 1, len(ordered) - 1)
    return ordered[lo] + (ordered[hi] - ordered[lo]) * (k - lo)


def median(values: list[float]) -> float:
    return statistics.median(values)


def table(headers: list[str], rows: list[list[object]]) -> str:
    lines = ["| " + " | ".join(headers) + " |", "|" + "|".join("---" for _ in headers) + "|"]
    lines += ["| " + " | ".join(str(c) for c in row) + " |" for row in rows]
    return "\n".join(lines)
