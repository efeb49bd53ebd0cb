"""Server-side SVG charts for Insights: the geometry is worked out here, the markup is the template's
(`_charts.html`, autoescaped). No script, no inline style (the page's CSP): series are told apart by
CSS classes of dashboard.css. The drawing is 360 units wide, the width of a phone, so its text stays
readable at 375 px; wider screens cap it (dashboard.css `.chart`)."""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import date

WIDTH, HEIGHT = 360, 180
LEFT, RIGHT, TOP, BOTTOM = 40, 8, 10, 22


@dataclass(frozen=True)
class Point:
    x: float
    y: float
    title: str


@dataclass(frozen=True)
class Series:
    label: str
    css: str
    points: list[Point]

    @property
    def path(self) -> str:
        """The SVG polyline's points, through the days that have a value."""
        return " ".join(f"{p.x:.1f},{p.y:.1f}" for p in self.points)


@dataclass(frozen=True)
class Bar:
    x: float
    y: float
    width: float
    height: float
    title: str


@dataclass(frozen=True)
class Chart:
    title: str
    series: list[Series]
    bars: list[Bar]
    y_ticks: list[tuple[float, str]]
    # (x, label, text-anchor): the first label starts at its day, the last ends at it, so neither is
    # cut off at the drawing's edge.
    x_ticks: list[tuple[float, str, str]]
    width: int = WIDTH
    height: int = HEIGHT
    left: int = LEFT
    bottom: float = HEIGHT - BOTTOM

    @property
    def empty(self) -> bool:
        return not self.bars and not any(s.points for s in self.series)


def _x(index: int, count: int) -> float:
    span = WIDTH - LEFT - RIGHT
    return LEFT + (span * index / (count - 1) if count > 1 else span / 2)


def _y(value: float, top: float) -> float:
    span = HEIGHT - TOP - BOTTOM
    return HEIGHT - BOTTOM - (span * value / top if top else 0.0)


def _nice_top(highest: float) -> float:
    """A round ceiling for the axis: 1, 2, 5 or 10 × 10^n."""
    if highest <= 0:
        return 1.0
    step = 10.0 ** math.floor(math.log10(highest))
    return next(step * factor for factor in (1, 2, 5, 10) if step * factor >= highest)


def seconds_label(value: float) -> str:
    if 0 < value < 1:
        return f"{value * 1000:.0f}ms"
    if value >= 60:
        minutes, seconds = divmod(round(value), 60)
        return f"{minutes}m{seconds:02d}s" if seconds else f"{minutes}m"
    return f"{value:.0f}s" if value >= 10 or value == 0 else f"{value:.1f}s"


def _x_ticks(days: Sequence[date], x_of: Callable[[int], float]) -> list[tuple[float, str, str]]:
    if not days:
        return []
    last = len(days) - 1
    picks = sorted({0, len(days) // 2, last})
    anchor = {0: "start", last: "end"}
    return [(x_of(i), days[i].strftime("%b %d"), anchor.get(i, "middle")) for i in picks]


def line_chart(
    title: str, days: Sequence[date], series: dict[tuple[str, str], Sequence[float | None]]
) -> Chart:
    """Seconds per day: one line per (label, css class), gaps where a day has no value."""
    values = [v for line in series.values() for v in line if v is not None]
    top = _nice_top(max(values, default=0.0))
    lines = [
        Series(
            label,
            css,
            [
                Point(_x(i, len(days)), _y(v, top), f"{days[i]:%b %d}: {label} {seconds_label(v)}")
                for i, v in enumerate(line)
                if v is not None
            ],
        )
        for (label, css), line in series.items()
    ]
    ticks = [(_y(top * f, top), seconds_label(top * f)) for f in (0, 0.5, 1)]
    return Chart(title, lines, [], ticks, _x_ticks(days, lambda i: _x(i, len(days))))


def rate_chart(
    title: str, days: Sequence[date], rates: Sequence[float | None], counts: Sequence[int]
) -> Chart:
    """A share per day (0..1) as bars, each titled with its count."""
    slot = (WIDTH - LEFT - RIGHT) / max(len(days), 1)
    bars = [
        Bar(
            LEFT + slot * i + slot * 0.15,
            _y(rate, 1.0),
            slot * 0.7,
            HEIGHT - BOTTOM - _y(rate, 1.0),
            f"{days[i]:%b %d}: {rate:.0%} of {counts[i]}",
        )
        for i, rate in enumerate(rates)
        if rate is not None
    ]
    ticks = [(_y(f, 1.0), f"{f:.0%}") for f in (0, 0.5, 1)]
    return Chart(title, [], bars, ticks, _x_ticks(days, lambda i: LEFT + slot * (i + 0.5)))
