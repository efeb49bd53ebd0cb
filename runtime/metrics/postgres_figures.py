"""Figures of the web app's /metrics read from Postgres at scrape time, at most every few seconds:
previews live and asleep and their running seconds per project, the outbox's backlog. Read from the
database rather than counted in a process, so that any number of workers, and restarts, agree."""

from __future__ import annotations

import time
from collections.abc import Iterable

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from models.common import utcnow
from models.db import Database
from models.preview_usage import OutboxBacklog, ProjectUsage, outbox_backlog, usage_by_project

CACHE_SECONDS = 5.0


class PostgresFigures(Collector):
    def __init__(self, db: Database, cache_seconds: float = CACHE_SECONDS) -> None:
        self.db = db
        self.cache_seconds = cache_seconds
        self._read_at: float | None = None
        self._usage: list[ProjectUsage] = []
        self._backlog = OutboxBacklog(queued=0, oldest=None)

    async def refresh(self) -> None:
        """Read again unless the last read is younger than `cache_seconds` (scrapes stay cheap)."""
        if self._read_at is not None and time.monotonic() - self._read_at < self.cache_seconds:
            return
        async with self.db.session() as session:
            self._usage = await usage_by_project(session, utcnow())
            self._backlog = await outbox_backlog(session)
        self._read_at = time.monotonic()

    def collect(self) -> Iterable[Metric]:
        previews = GaugeMetricFamily(
            "previewd_previews",
            "Live previews by project and state (running, sleeping)",
            labels=["project", "state"],
        )
        running = CounterMetricFamily(
            "previewd_preview_running_seconds",
            "Seconds previews ran, by project (the cost basis; sleeping time excluded)",
            labels=["project"],
        )
        for usage in self._usage:
            project = str(usage.project_id)
            previews.add_metric([project, "running"], usage.live - usage.sleeping)
            previews.add_metric([project, "sleeping"], usage.sleeping)
            running.add_metric([project], usage.running_seconds)
        yield previews
        yield running
        yield GaugeMetricFamily(
            "previewd_outbox_queued", "Webhook deliveries recorded, not yet handed to Temporal",
            value=self._backlog.queued,
        )  # fmt: skip
        oldest = self._backlog.oldest
        yield GaugeMetricFamily(
            "previewd_outbox_oldest_queued_seconds",
            "Age of the oldest delivery waiting for the dispatcher (0 when none waits)",
            value=0.0 if oldest is None else max(0.0, (utcnow() - oldest).total_seconds()),
        )
