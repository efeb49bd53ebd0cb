"""Deleting the logs of deployments that finished more than their project's `log_retention_days` ago:
their `deployment_logs` rows, in batches of their own transaction each (a 100,000-line log never
holds its locks for long), then their runtime.log files on this host. Each deployment is marked
(`logs_deleted_at`) once its lines are gone, so the dashboard says so and no run looks at it again."""

from __future__ import annotations

import logging
import uuid

from sqlalchemy import text
from temporalio import activity

from activities.context import WorkerContext, heartbeating
from models.common import utcnow
from models.deployments import FINAL_STATUSES
from workflows.log_retention_io import RETENTION_ACTIVITY, RetentionInput, RetentionResult

log = logging.getLogger("previewd.logs.retention")
DEFAULT_RETENTION_DAYS = 30
DEPLOYMENTS_PER_ROUND = 100

# The project's own setting, else the default (a config saved before the setting had none). Only
# finished deployments: an active one keeps writing runtime lines, whenever it was completed.
_EXPIRED = text(
    f"""
    SELECT d.id FROM deployments d JOIN projects p ON p.id = d.project_id
    WHERE d.logs_deleted_at IS NULL
      AND d.status = ANY(:final)
      AND d.completed_at < :now - make_interval(
            days => COALESCE((p.deployment_config->>'log_retention_days')::int, {DEFAULT_RETENTION_DAYS}))
    ORDER BY d.completed_at
    LIMIT :limit
    """
)

_DELETE_BATCH = text(
    """
    DELETE FROM deployment_logs WHERE id IN (
        SELECT id FROM deployment_logs WHERE deployment_id = :d ORDER BY id LIMIT :n
    )
    """
)


class LogRetentionActivities:
    def __init__(self, ctx: WorkerContext) -> None:
        self.ctx = ctx

    @activity.defn(name=RETENTION_ACTIVITY)
    async def delete_expired_logs(self, input: RetentionInput) -> RetentionResult:
        result = RetentionResult()
        async with heartbeating():
            while expired := await self._expired():
                for deployment_id in expired:
                    result.lines += await self._delete_lines(deployment_id, input.batch_lines)
                    result.files += self._delete_files(str(deployment_id))
                    await self._mark(deployment_id)
                    result.deployments += 1
        if result.deployments:
            log.info(
                "deleted the logs of %d deployments (%d lines, %d files)",
                result.deployments, result.lines, result.files,
            )  # fmt: skip
        return result

    async def _expired(self) -> list[uuid.UUID]:
        async with self.ctx.db.session() as session:
            rows = await session.execute(
                _EXPIRED, {"final": list(FINAL_STATUSES), "now": utcnow(), "limit": DEPLOYMENTS_PER_ROUND}
            )
            return [row.id for row in rows]

    async def _delete_lines(self, deployment_id: uuid.UUID, batch: int) -> int:
        deleted = 0
        while True:
            async with self.ctx.db.session() as session:
                result = await session.execute(_DELETE_BATCH, {"d": deployment_id, "n": batch})
                rows = int(result.rowcount)  # type: ignore[attr-defined]
                await session.commit()
            deleted += rows
            if rows < batch:
                return deleted

    def _delete_files(self, deployment_id: str) -> int:
        """The files of a preview that ran on this host (one left behind: its work dir is normally
        removed when it stops). Another host's are its own worker's to delete."""
        removed = 0
        for path in (
            self.ctx.workdirs.runtime_log(deployment_id),
            self.ctx.workdirs.rotated_runtime_log(deployment_id),
        ):
            if path.exists():
                path.unlink(missing_ok=True)
                removed += 1
        return removed

    async def _mark(self, deployment_id: uuid.UUID) -> None:
        async with self.ctx.db.session() as session:
            await session.execute(
                text("DELETE FROM deployment_log_counts WHERE deployment_id = :d"), {"d": deployment_id}
            )
            await session.execute(
                text("UPDATE deployments SET logs_deleted_at = :now WHERE id = :d"),
                {"now": utcnow(), "d": deployment_id},
            )
            await session.commit()
