"""What each worker host found at start: whether PR code runs in a sandbox there.

The worker writes it (it is where the sandbox is probed: in docker-compose the web app runs in
another container, so probing there would answer for the wrong host); the web app reads it for the
"unsandboxed" banner and the sign-in rule, and the fork-policy activity for holding forks back.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime

from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlmodel import Field, SQLModel, col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from models.common import timestamp_field

UNSANDBOXED_NOTICE = "unsandboxed: PR code runs as previewd"


class SandboxReport(SQLModel, table=True):
    __tablename__ = "sandbox_reports"

    # The worker's host queue: one row per host, replaced at each start.
    host_queue: str = Field(primary_key=True, max_length=300)
    sandboxed: bool
    # Why not, for the operator (probe()'s reasons or "PREVIEWD_SANDBOX=off"); never a secret.
    reasons: str = Field(default="", max_length=2000)
    reported_at: datetime = timestamp_field()


async def record_sandbox(session: AsyncSession, *, host_queue: str, sandboxed: bool, reasons: str) -> None:
    values = {
        "host_queue": host_queue,
        "sandboxed": sandboxed,
        "reasons": reasons[:2000],
        "reported_at": datetime.now(UTC),
    }
    stmt = pg_insert(SandboxReport).values(**values)
    await session.execute(stmt.on_conflict_do_update(index_elements=["host_queue"], set_=values))
    await session.commit()


async def unsandboxed_hosts(session: AsyncSession) -> Sequence[SandboxReport]:
    """Hosts whose worker runs PR code unsandboxed (as last reported)."""
    query = select(SandboxReport).where(col(SandboxReport.sandboxed).is_(False))
    return (await session.exec(query)).all()
