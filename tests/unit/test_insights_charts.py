"""Insights' server-side SVG: geometry that follows the values, markup the CSP allows, escaping."""

from __future__ import annotations

import re
import uuid
from datetime import date, timedelta

from jinja2 import Environment, FileSystemLoader, select_autoescape

from models.insights import Day, PreviewRun
from web.dashboard.charts import HEIGHT, _nice_top, line_chart, rate_chart, seconds_label
from web.dashboard.insights import charts, duration, money, preview_costs
from web.dashboard.install import STATIC

TEMPLATES = STATIC.parent / "templates"
DAYS = [date(2026, 11, 1) + timedelta(days=i) for i in range(5)]


def render(chart: object) -> str:
    env = Environment(loader=FileSystemLoader(TEMPLATES), autoescape=select_autoescape(["html"]))
    return str(env.from_string('{% from "_charts.html" import chart %}{{ chart(c, "c1") }}').render(c=chart))


def test_a_slower_day_is_drawn_higher_and_a_day_without_builds_is_left_out() -> None:
    chart = line_chart("Build time", DAYS, {("p50", "series-a"): [10.0, None, 40.0, 20.0, None]})
    [series] = chart.series
    assert [p.title for p in series.points] == ["Nov 01: p50 10s", "Nov 03: p50 40s", "Nov 04: p50 20s"]
    ys = [p.y for p in series.points]
    assert ys[1] < ys[2] < ys[0] < HEIGHT  # SVG's y grows downwards
    assert chart.y_ticks[-1][1] == "50s"


def test_the_svg_has_no_style_attribute_or_script_and_escapes_titles() -> None:
    chart = line_chart("<b>Build</b>", DAYS, {("p<95>", "series-b"): [1.0, 2.0, None, None, 3.0]})
    svg = render(chart)
    assert "<svg" in svg and "<polyline" in svg and svg.count("<circle") == 3
    assert "style=" not in svg and "<script" not in svg
    assert "<b>" not in svg and "&lt;b&gt;Build&lt;/b&gt;" in svg and "p&lt;95&gt;" in svg


def test_rates_are_bars_titled_with_their_counts() -> None:
    chart = rate_chart("Went live", DAYS, [1.0, None, 0.5, None, 0.0], [3, 0, 4, 0, 2])
    assert [b.title for b in chart.bars] == ["Nov 01: 100% of 3", "Nov 03: 50% of 4", "Nov 05: 0% of 2"]
    assert chart.bars[0].height == 2 * chart.bars[1].height and chart.bars[2].height == 0


def test_an_empty_window_says_so_instead_of_drawing_nothing() -> None:
    [build, rate, queue] = charts(DAYS, [])
    assert build.empty and rate.empty and queue.empty
    assert "Nothing built in this window" in render(build) and "<svg" not in render(build)


def test_daily_figures_land_on_their_calendar_day() -> None:
    day = Day(DAYS[3], live=3, failed=1, build_p50=12.0, build_p95=30.0, queue_p50=1.0, queue_p95=2.0)
    [build, rate, _] = charts(DAYS, [day])
    assert [p.title for p in build.series[0].points] == ["Nov 04: p50 12s"]
    assert [b.title for b in rate.bars] == ["Nov 04: 75% of 4"]


def test_axis_labels_and_ceilings() -> None:
    assert [_nice_top(v) for v in (0, 0.3, 7, 11, 180, 950)] == [1.0, 0.5, 10.0, 20.0, 200.0, 1000.0]
    assert [seconds_label(v) for v in (0, 0.05, 2.5, 42, 60, 125)] == [
        "0s",
        "50ms",
        "2.5s",
        "42s",
        "1m",
        "2m05s",
    ]


def test_the_edge_labels_stay_inside_the_drawing() -> None:
    chart = line_chart("Build time", DAYS, {("p50", "series-a"): [1.0] * 5})
    assert [(label, anchor) for _, label, anchor in chart.x_ticks] == [
        ("Nov 01", "start"), ("Nov 03", "middle"), ("Nov 05", "end"),
    ]  # fmt: skip
    assert 'text-anchor="end">Nov 05</text>' in render(chart)


def test_costs_are_per_preview_and_price_each_deployment_at_its_own_size() -> None:
    project = uuid.uuid4()
    big = {"config": {"fly_config": {"guest": {"cpu_kind": "performance", "cpus": 1, "memory_mb": 2048}}}}
    runs = [
        PreviewRun(project, 7, None, 3600.0),
        PreviewRun(project, 7, big, 3600.0),
        PreviewRun(project, 8, None, 60.0),
    ]
    [seven, eight] = preview_costs(runs)
    assert (seven.pr_number, seven.seconds, seven.machine) == (7, 7200.0, "performance-1x 2048 MB")
    assert re.match(r"0\.04[0-9]", f"{seven.cost:.3f}")  # 3600 × (0.0000008 + 0.0000120)
    assert eight.cost < seven.cost


def test_money_keeps_two_significant_digits_below_a_cent() -> None:
    assert [money(v) for v in (0, 0.0000024, 0.00042, 0.05, 12.345)] == [
        "$0", "$0.0000024", "$0.00042", "$0.05", "$12.35",
    ]  # fmt: skip
    assert [duration(v) for v in (3, 90, 7200)] == ["3.0s", "1m30s", "2.0 h"]
