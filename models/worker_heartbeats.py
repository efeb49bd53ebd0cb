"""Each worker's latest heartbeat, one row per host queue, for the web app's /readyz and its banner
(in docker-compose the web app cannot read the workers' heartbeat files) and for export.

Times are Postgres's own (now()): the web app and the workers may run on hosts whose clocks differ.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import func, select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlmodel import Field, SQLModel
from sqlmodel.ext.asyncio.session import AsyncSession

from models.common import timestamp_field
from runtime.stall_rules import STALE_SECONDS, stall


class WorkerHeartbeat(SQLModel, table=True):
    __tablename__ = "worker_heartbeats"

    host_queue: str = Field(primary_key=True, max_length=300)
    pid: int
    beat_at: datetime = timestamp_field()
    loop_lag_ms: int
    tasks_completed: int
    tasks_pending: int
    last_progress_at: datetime = timestamp_field()


async def record_heartbeat(
    session: AsyncSession,
    *,
    host_queue: str,
    pid: int,
    loop_lag_ms: int,
    tasks_completed: int,
    tasks_pending: int,
    since_progress: float,
) -> None:
    values = {
        "host_queue": host_queue,
        "pid": pid,
        "beat_at": func.now(),
        "loop_lag_ms": loop_lag_ms,
        "tasks_completed": tasks_completed,
        "tasks_pending": tasks_pending,
        "last_progress_at": func.now() - timedelta(seconds=since_progress),
    }
    stmt = pg_insert(WorkerHeartbeat).values(**values)
    await session.execute(stmt.on_conflict_do_update(index_elements=["host_queue"], set_=values))
    await session.commit()


@dataclass(frozen=True)
class HeartbeatAge:
    host_queue: str
    age: float
    loop_lag_ms: int
    tasks_pending: int
    since_progress: float


async def heartbeat_ages(session: AsyncSession) -> list[HeartbeatAge]:
    table = WorkerHeartbeat.__table__  # type: ignore[attr-defined]
    query = select(
        table.c.host_queue,
        func.extract("epoch", func.now() - table.c.beat_at),
        table.c.loop_lag_ms,
        table.c.tasks_pending,
        func.extract("epoch", table.c.beat_at - table.c.last_progress_at),
    )
    rows = (await session.execute(query)).all()
    return [HeartbeatAge(str(r[0]), float(r[1]), int(r[2]), int(r[3]), float(r[4])) for r in rows]


def workers_down(ages: list[HeartbeatAge], stale_after: float = STALE_SECONDS) -> str | None:
    """Why the workers count as down: none has a fresh heartbeat, or a fresh one is stalled."""
    fresh = [a for a in ages if a.age <= stale_after]
    for beat in fresh:
        lag = beat.loop_lag_ms / 1000
        why = stall(loop_lag=lag, pending=beat.tasks_pending, since_progress=beat.since_progress)
        if why is not None:
            return f"worker {beat.host_queue} is stalled: {why}"
    if fresh:
        return None
    if not ages:
        return "no worker has reported a heartbeat"
    return f"no worker heartbeat for {min(a.age for a in ages):.0f}s"
