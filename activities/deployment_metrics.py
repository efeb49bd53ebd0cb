"""The deployment figures of runtime/metrics/registry.py, observed where activities/store.py changes a
deployment's status (from the row the UPDATE returned: a retried activity that changed nothing
observes nothing)."""

from __future__ import annotations

import uuid
from datetime import datetime

from runtime.metrics.registry import BUILD_SECONDS, DEPLOYMENTS, QUEUE_SECONDS


def build_started(project_id: uuid.UUID, created_at: datetime, now: datetime) -> None:
    QUEUE_SECONDS.labels(project=str(project_id)).observe(max(0.0, (now - created_at).total_seconds()))


def finished(project_id: uuid.UUID, outcome: str, started_at: datetime | None, now: datetime) -> None:
    """A deployment reached `outcome` (a DeploymentStatus value; "active" when it went live). Its
    build time counts when it was built (started_at) and went live or failed."""
    project = str(project_id)
    DEPLOYMENTS.labels(project=project, outcome=outcome).inc()
    if started_at is not None and outcome in ("active", "failed"):
        BUILD_SECONDS.labels(project=project).observe(max(0.0, (now - started_at).total_seconds()))
