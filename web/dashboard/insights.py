"""Insights, per project and over every project the user sees: build time p50/p95 and queue time per
day, the share of builds that went live, previews up now, and an estimated cost per preview on Fly
(seconds it ran × the machine size's price, models/fly_prices.py). Who may see a project may see its
insights; a project they may not see is 404 (web/dashboard/access.py)."""

from __future__ import annotations

import math
import uuid
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta

from fastapi import APIRouter, Request
from fastapi.responses import Response

from models import Project
from models.common import utcnow
from models.fly_prices import (
    CURRENCY,
    PRICES_AS_OF,
    PRICES_SOURCE,
    guest_of,
    machine_label,
    price_per_second,
)
from models.insights import Day, PreviewRun, daily, preview_runs
from models.preview_usage import usage_by_project
from web.dashboard.access import access_to, visible_projects
from web.dashboard.charts import Chart, line_chart, rate_chart, seconds_label
from web.dashboard.signed_in import UserDep
from web.dashboard.templating import render
from web.deps import ServicesDep

router = APIRouter(include_in_schema=False)
WINDOW_DAYS = 30
COSTLIEST_SHOWN = 20


@dataclass(frozen=True)
class PreviewCost:
    project_id: uuid.UUID
    pr_number: int
    seconds: float
    machine: str
    cost: float


@router.get("/insights")
async def insights_overall(request: Request, services: ServicesDep, signed_in: UserDep) -> Response:
    projects = await visible_projects(services, signed_in)
    return await _page(request, services, projects, project=None)


@router.get("/projects/{project_id}/insights")
async def insights_of_project(
    request: Request, project_id: uuid.UUID, services: ServicesDep, signed_in: UserDep
) -> Response:
    access = await access_to(services, signed_in, project_id)
    return await _page(request, services, [access.project], project=access.project)


async def _page(
    request: Request, services: ServicesDep, projects: list[Project], *, project: Project | None
) -> Response:
    now = utcnow()
    first = now.date() - timedelta(days=WINDOW_DAYS - 1)
    since = datetime.combine(first, time.min, tzinfo=now.tzinfo)
    ids = [p.id for p in projects]
    async with services.db.session() as session:
        days = await daily(session, project_ids=ids, since=since)
        runs = await preview_runs(session, project_ids=ids, since=since, now=now)
        usage = [u for u in await usage_by_project(session, now) if u.project_id in set(ids)]
    calendar = [first + timedelta(days=i) for i in range(WINDOW_DAYS)]
    costs = preview_costs(runs)
    total_cost = sum(c.cost for c in costs)
    context = {
        "project": project,
        "names": {p.id: p.github_repo_full_name for p in projects},
        "window_days": WINDOW_DAYS,
        "charts": charts(calendar, days),
        "built": sum(d.live + d.failed for d in days),
        "success": _share(sum(d.live for d in days), sum(d.live + d.failed for d in days)),
        "live": sum(u.live for u in usage),
        "sleeping": sum(u.sleeping for u in usage),
        "costs": costs[:COSTLIEST_SHOWN],
        "previews_costed": len(costs),
        "total_cost": total_cost,
        "average_cost": total_cost / len(costs) if costs else None,
        "currency": CURRENCY,
        "prices_as_of": PRICES_AS_OF,
        "prices_source": PRICES_SOURCE,
        "money": money,
        "duration": duration,
    }
    return render(request, "insights.html", context)


def money(value: float) -> str:
    """Dollars with two significant digits below a cent (a short preview costs millionths)."""
    if value <= 0:
        return "$0"
    decimals = 2 if value >= 0.01 else min(8, 1 - math.floor(math.log10(value)))
    return f"${value:.{decimals}f}"


def duration(seconds: float) -> str:
    return f"{seconds / 3600:.1f} h" if seconds >= 3600 else seconds_label(seconds)


def _share(part: int, whole: int) -> float | None:
    return part / whole if whole else None


def charts(calendar: list[date], days: list[Day]) -> list[Chart]:
    """The window's charts, one value per calendar day (None where nothing was built)."""
    by_day = {d.day: d for d in days}
    row = [by_day.get(day) for day in calendar]
    return [
        line_chart(
            "Build time",
            calendar,
            {
                ("p50", "series-a"): [d.build_p50 if d else None for d in row],
                ("p95", "series-b"): [d.build_p95 if d else None for d in row],
            },
        ),
        rate_chart(
            "Builds that went live",
            calendar,
            [d.success_rate if d else None for d in row],
            [d.live + d.failed if d else 0 for d in row],
        ),
        line_chart(
            "Queue time (created → build started)",
            calendar,
            {
                ("p50", "series-a"): [d.queue_p50 if d else None for d in row],
                ("p95", "series-b"): [d.queue_p95 if d else None for d in row],
            },
        ),
    ]


def preview_costs(runs: list[PreviewRun]) -> list[PreviewCost]:
    """Per preview (a PR of a project): its deployments' seconds, each priced at the machine size it
    ran with; costliest first. The machine shown is the last deployment's."""
    grouped: dict[tuple[uuid.UUID, int], list[PreviewRun]] = {}
    for run in runs:
        grouped.setdefault((run.project_id, run.pr_number), []).append(run)
    costs = [
        PreviewCost(
            project_id=project_id,
            pr_number=pr_number,
            seconds=sum(r.seconds for r in group),
            machine=machine_label(guest_of(group[-1].effective_config)),
            cost=sum(r.seconds * price_per_second(guest_of(r.effective_config)) for r in group),
        )
        for (project_id, pr_number), group in grouped.items()
    ]
    return sorted(costs, key=lambda c: c.cost, reverse=True)
