"""How long each preview ran: the cost basis of Insights and of previewd_preview_running_seconds_total.

A deployment's preview runs from going live (activities/store.py activate) or waking (local sleep,
activities/local/routes.py) until it is replaced, destroyed, failed or put to sleep. Each stop adds the
closed interval to `running_seconds`; the open one (`running_since`) is added when read. A Fly machine
that Fly's own autostop stopped still counts as running: previewd does not see that (an upper bound).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, Float, case, cast, func, literal
from sqlmodel import col

from models.deployments import Deployment


def started(now: datetime) -> dict[str, Any]:
    """`.values(**started(now))`: the preview runs from now on (unless it already runs)."""
    return {"running_since": func.coalesce(col(Deployment.running_since), literal(now))}


def stopped(now: datetime) -> dict[str, Any]:
    """`.values(**stopped(now))`: the open interval, if any, is closed and added up."""
    return {"running_seconds": ran_until(now), "running_since": None}


def ran_until(now: datetime) -> ColumnElement[float]:
    """Seconds the deployment ran up to `now`, its open interval included."""
    # Never negative: `now` is this host's clock, `running_since` may be another host's.
    open_interval = func.greatest(
        0.0, cast(func.extract("epoch", literal(now) - col(Deployment.running_since)), Float)
    )
    return col(Deployment.running_seconds) + case(
        (col(Deployment.running_since).is_(None), 0.0), else_=open_interval
    )
