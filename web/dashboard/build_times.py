"""A deployment's build times and what it reused (models/build_stats.py), as the page shows them."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

# The order a deployment runs its steps in; any other label (a Fly image build's) follows.
STEP_ORDER = (
    "clone", "virtualenv-copy", "toolchain", "node-modules-copy", "install", "build", "release", "start",
)  # fmt: skip
REUSED_LABELS = {
    "mirror": "Git mirror",
    "virtualenv": "Virtualenv copied",
    "node_modules": "node_modules copied",
    "build_cache": "Build cache (pip, npm…)",
}


@dataclass(frozen=True)
class BuildTimes:
    steps: list[tuple[str, float]]
    total: float
    reused: list[tuple[str, str]]


def build_times(stats: dict[str, Any] | None) -> BuildTimes | None:
    if not stats or not isinstance(stats.get("seconds"), dict):
        return None
    seconds = {str(k): float(v) for k, v in stats["seconds"].items() if isinstance(v, int | float)}
    ordered = sorted(seconds, key=lambda k: (STEP_ORDER.index(k) if k in STEP_ORDER else len(STEP_ORDER), k))
    reused = []
    for key, value in (stats.get("reused") or {}).items():
        label = REUSED_LABELS.get(key, key)
        if isinstance(value, bool):
            shown = "warm" if value else "empty"
        elif value is None:
            shown = "no"
        elif key in ("virtualenv", "node_modules"):
            shown = f"yes, from deployment {str(value)[:8]}"
        else:
            shown = str(value)
        reused.append((label, shown))
    return BuildTimes(
        steps=[(name, seconds[name]) for name in ordered],
        total=round(sum(seconds.values()), 2),
        reused=reused,
    )
