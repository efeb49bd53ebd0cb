"""The route table (`preview_routes`): which process serves each app name, read by the preview proxy.
A row belongs to the host queue of the worker whose process it points at."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlmodel import col, select

from activities.local.preview import Preview
from models import Deployment, DeploymentStatus, PreviewRoute
from models.db import Database
from models.running_time import started, stopped


class Routes:
    def __init__(self, db: Database, host_queue: str) -> None:
        self.db = db
        self.host_queue = host_queue

    async def of_this_host(self) -> Sequence[PreviewRoute]:
        async with self.db.session() as session:
            return (
                await session.exec(select(PreviewRoute).where(PreviewRoute.host_queue == self.host_queue))
            ).all()

    async def point_at(self, preview: Preview) -> str | None:
        """Point the proxy at this preview: from here on it serves the app's traffic. The deployment
        the route served before, when another one of this host's."""
        values: dict[str, Any] = {
            "app_name": preview.app_name,
            "deployment_id": uuid.UUID(preview.deployment_id),
            "upstream": preview.upstream,
            "host_queue": self.host_queue,
            "pid": preview.pid,
            "updated_at": datetime.now(UTC),
            # A new deployment is awake, whatever its predecessor was.
            "asleep": False,
        }
        stmt = (
            pg_insert(PreviewRoute)
            .values(**values)
            .on_conflict_do_update(index_elements=["app_name"], set_=values)
        )
        async with self.db.session() as session:
            before = (
                await session.exec(
                    select(PreviewRoute)
                    .where(col(PreviewRoute.app_name) == preview.app_name)
                    .with_for_update()
                )
            ).first()
            await session.execute(stmt)
            await session.commit()
        if before is None or before.host_queue != self.host_queue:
            return None
        previous = str(before.deployment_id)
        return previous if previous != preview.deployment_id else None

    async def repoint(self, preview: Preview) -> bool:
        """Point the route at a restarted process, only if the route still belongs to its deployment and
        is awake (a preview put to sleep while it restarted stays asleep)."""
        async with self.db.session() as session:
            result = await session.execute(
                update(PreviewRoute)
                .where(col(PreviewRoute.app_name) == preview.app_name)
                .where(col(PreviewRoute.deployment_id) == uuid.UUID(preview.deployment_id))
                .where(col(PreviewRoute.asleep).is_(False))
                .values(upstream=preview.upstream, pid=preview.pid, updated_at=datetime.now(UTC))
            )
            await session.commit()
        return bool(getattr(result, "rowcount", 0))

    async def fall_asleep(self, deployment_id: str) -> bool:
        """Mark the deployment's route asleep, before its process stops: from here on the proxy asks
        for a wake instead of forwarding. False when the route is no longer this deployment's."""
        async with self.db.session() as session:
            result = await session.execute(
                update(PreviewRoute)
                .where(col(PreviewRoute.deployment_id) == uuid.UUID(deployment_id))
                .values(asleep=True, pid=None, updated_at=datetime.now(UTC))
            )
            # Asleep costs nothing: its running time stops here (models/running_time.py).
            await session.execute(
                update(Deployment)
                .where(col(Deployment.id) == uuid.UUID(deployment_id))
                .values(**stopped(datetime.now(UTC)))
            )
            await session.commit()
        return bool(getattr(result, "rowcount", 0))

    async def wake(self, preview: Preview) -> bool:
        """Point the sleeping route at its started process and mark it awake, only if the route still
        belongs to its deployment."""
        async with self.db.session() as session:
            result = await session.execute(
                update(PreviewRoute)
                .where(col(PreviewRoute.app_name) == preview.app_name)
                .where(col(PreviewRoute.deployment_id) == uuid.UUID(preview.deployment_id))
                .values(
                    upstream=preview.upstream,
                    pid=preview.pid,
                    asleep=False,
                    # Idleness counts from the wake, not from the request before the sleep.
                    last_request_at=datetime.now(UTC),
                    updated_at=datetime.now(UTC),
                )
            )
            if getattr(result, "rowcount", 0):
                await session.execute(
                    update(Deployment)
                    .where(col(Deployment.id) == uuid.UUID(preview.deployment_id))
                    .where(col(Deployment.status) == DeploymentStatus.ACTIVE)
                    .values(**started(datetime.now(UTC)))
                )
            await session.commit()
        return bool(getattr(result, "rowcount", 0))

    async def serves(self, deployment_id: str) -> bool:
        async with self.db.session() as session:
            routed = (
                await session.exec(
                    select(PreviewRoute).where(PreviewRoute.deployment_id == uuid.UUID(deployment_id))
                )
            ).first()
        return routed is not None

    async def remove(self, app_name: str) -> str | None:
        """Remove the app's route; the deployment it pointed at, if it had one."""
        async with self.db.session() as session:
            route = await session.get(PreviewRoute, app_name)
            if route is None:
                return None
            deployment_id = str(route.deployment_id)
            await session.delete(route)
            await session.commit()
        return deployment_id
