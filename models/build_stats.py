"""What a deployment's steps took and what they reused (issue 13, fast rebuilds): the one writer of
`deployments.build_stats`, and the query that finds the deployment a build may copy from.

    {"seconds":    {"clone": 0.4, "toolchain": 0.1, "virtualenv-copy": 0.6, "install": 1.9,
                    "build": 0.8, "release": 0.7, "start": 1.2},
     "reused":     {"mirror": "updated", "virtualenv": "<deployment id>", "build_cache": true},
     "reuse_keys": {"virtualenv": "<sha256>"}}

Each activity merges its own keys (a retried one overwrites what its earlier attempt wrote). The
seconds are observed as they are recorded, in previewd_step_seconds{project, step}.
"""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy import update
from sqlmodel import col, select

from models.db import Database
from models.deployments import Deployment
from runtime.metrics.registry import STEP_SECONDS
from workflows.vocabulary import DeploymentStatus

SECTIONS = ("seconds", "reused", "reuse_keys")


async def merge_build_stats(db: Database, deployment_id: str, **sections: dict[str, Any]) -> None:
    """Merge `sections` (seconds=…, reused=…, reuse_keys=…) into the deployment's record."""
    unknown = set(sections) - set(SECTIONS)
    if unknown:
        raise ValueError(f"unknown build_stats sections: {sorted(unknown)}")
    async with db.session() as session:
        row = (
            await session.exec(
                select(Deployment.build_stats, Deployment.project_id)
                .where(col(Deployment.id) == uuid.UUID(deployment_id))
                .with_for_update()
            )
        ).first()
        if row is None:
            return
        stats, project_id = row
        merged: dict[str, Any] = dict(stats or {})
        for name, values in sections.items():
            merged[name] = {**merged.get(name, {}), **values}
        await session.execute(
            update(Deployment)
            .where(col(Deployment.id) == uuid.UUID(deployment_id))
            .values(build_stats=merged)
        )
        await session.commit()
    for step, seconds in sections.get("seconds", {}).items():
        STEP_SECONDS.labels(project=str(project_id), step=step).observe(float(seconds))


async def live_deployment_of(
    db: Database, *, project_id: uuid.UUID, pr_number: int, other_than: uuid.UUID
) -> Deployment | None:
    """The PR's deployment that serves now (while a newer one builds, the live one still does)."""
    async with db.session() as session:
        return (
            await session.exec(
                select(Deployment)
                .where(
                    Deployment.project_id == project_id,
                    Deployment.pr_number == pr_number,
                    Deployment.status == DeploymentStatus.ACTIVE,
                    col(Deployment.id) != other_than,
                )
                .order_by(col(Deployment.created_at).desc())
                .limit(1)
            )
        ).first()
