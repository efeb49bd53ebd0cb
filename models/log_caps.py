"""How many log lines a deployment keeps: at most `max_lines` runtime lines (the oldest dropped) and at
most `max_lines` build lines (the rest cut), each with one note line that says so and is kept up to
date, never one line per drop.

Counters live in `deployment_log_counts`, one row per deployment and log type, so the hot path never
counts rows: a flush costs one upsert, plus a delete and two updates once a runtime log is over its cap.
Callers hold the deployment's log-order lock (models.queries.lock_log_order) in the same transaction,
which also serialises the counter's read-modify-write.
"""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy import Column, ForeignKey, String, insert, text
from sqlalchemy.dialects.postgresql import UUID
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import Field, SQLModel, col

from models.deployments import DeploymentLog, LogLevel, LogType


class DeploymentLogCount(SQLModel, table=True):
    __tablename__ = "deployment_log_counts"

    deployment_id: uuid.UUID = Field(
        sa_column=Column(
            UUID(as_uuid=True), ForeignKey("deployments.id", ondelete="CASCADE"), primary_key=True
        )
    )
    type: LogType = Field(sa_column=Column(String(10), primary_key=True))
    # Lines of this type stored now (runtime) or produced so far (build), the note not counted.
    lines: int = 0
    # Lines not kept: dropped from a runtime log's start, or cut from a build log's end.
    dropped: int = 0
    # The note line that says so (None while nothing was dropped).
    note_id: int | None = None


def runtime_note(dropped: int, kept: int) -> str:
    return f"… {dropped:,} earlier lines dropped: a deployment keeps its newest {kept:,} runtime lines"


def build_note(kept: int, cut: int) -> str:
    return f"… build output past {kept:,} lines is not kept: {cut:,} more lines cut (the build went on)"


_COUNT = text(
    """
    INSERT INTO deployment_log_counts (deployment_id, type, lines, dropped)
    VALUES (:deployment_id, :type, :added, 0)
    ON CONFLICT (deployment_id, type)
    DO UPDATE SET lines = deployment_log_counts.lines + EXCLUDED.lines
    RETURNING lines, dropped, note_id
    """
)


async def _count(
    session: AsyncSession, deployment_id: uuid.UUID, log_type: LogType, added: int
) -> tuple[int, int, int | None]:
    row = (
        await session.execute(_COUNT, {"deployment_id": deployment_id, "type": log_type, "added": added})
    ).one()
    return int(row.lines), int(row.dropped), row.note_id


async def _set_counts(
    session: AsyncSession,
    deployment_id: uuid.UUID,
    log_type: LogType,
    *,
    lines: int,
    dropped: int,
    note_id: int,
) -> None:
    await session.execute(
        text(
            "UPDATE deployment_log_counts SET lines = :lines, dropped = :dropped, note_id = :note_id"
            " WHERE deployment_id = :deployment_id AND type = :type"
        ),
        {
            "lines": lines,
            "dropped": dropped,
            "note_id": note_id,
            "deployment_id": deployment_id,
            "type": log_type,
        },
    )


async def _set_note(session: AsyncSession, note_id: int, message: str) -> None:
    await session.execute(
        text("UPDATE deployment_logs SET message = :message, level = :level WHERE id = :id"),
        {"message": message, "level": LogLevel.WARNING, "id": note_id},
    )


async def insert_keeping_newest(
    session: AsyncSession, deployment_id: uuid.UUID, rows: list[dict[str, Any]], *, max_lines: int
) -> None:
    """Runtime output: insert `rows`, then drop the oldest runtime lines beyond `max_lines`.

    The first line dropped becomes the note instead (its id sits just before the lines kept, so the
    log reads "note, then the newest lines"); later drops delete the lines right after the note, found
    through the (deployment_id, id) index from the note on, and rewrite the note's count."""
    await session.execute(insert(DeploymentLog), rows)
    lines, dropped, note_id = await _count(session, deployment_id, LogType.RUNTIME, len(rows))
    excess = lines - max_lines
    if excess <= 0:
        return
    if note_id is None:
        note_id = (
            await session.execute(
                text(
                    "SELECT id FROM deployment_logs WHERE deployment_id = :d AND type = :t"
                    " ORDER BY id LIMIT 1"
                ),
                {"d": deployment_id, "t": LogType.RUNTIME},
            )
        ).scalar_one()
        excess -= 1
        dropped += 1
    if excess > 0:
        deleted = await session.execute(
            text(
                """
                DELETE FROM deployment_logs WHERE id IN (
                    SELECT id FROM deployment_logs
                    WHERE deployment_id = :d AND id > :note AND type = :t
                    ORDER BY id LIMIT :n
                )
                """
            ),
            {"d": deployment_id, "note": note_id, "t": LogType.RUNTIME, "n": excess},
        )
        dropped += deleted.rowcount  # type: ignore[attr-defined]
    await _set_note(session, note_id, runtime_note(dropped, max_lines))
    await _set_counts(
        session, deployment_id, LogType.RUNTIME, lines=max_lines, dropped=dropped, note_id=note_id
    )


async def insert_up_to(
    session: AsyncSession,
    deployment_id: uuid.UUID,
    log_type: LogType,
    rows: list[dict[str, Any]],
    *,
    max_lines: int,
) -> None:
    """Build output: insert what fits under `max_lines`; past it, one note line (at the cut) counts
    what was left out. The counter counts every line produced, so a retried build's sink goes on from
    where the last attempt stopped."""
    lines, dropped, note_id = await _count(session, deployment_id, log_type, len(rows))
    before = lines - len(rows)
    fits = max(0, min(len(rows), max_lines - before))
    if fits:
        await session.execute(insert(DeploymentLog), rows[:fits])
    cut = len(rows) - fits
    if not cut:
        return
    dropped += cut
    if note_id is None:
        note = {**rows[fits], "level": LogLevel.WARNING, "message": build_note(max_lines, dropped)}
        inserted = insert(DeploymentLog).values(**note).returning(col(DeploymentLog.id))
        note_id = (await session.execute(inserted)).scalar_one()
        assert note_id is not None  # a bigserial: Postgres always gives one
    else:
        await _set_note(session, note_id, build_note(max_lines, dropped))
    await _set_counts(session, deployment_id, log_type, lines=lines, dropped=dropped, note_id=note_id)
