"""Deployments (one per built sha), their log lines, and the local proxy's routes."""

from __future__ import annotations

import uuid
from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import BigInteger, Column, Index, String, Text, text, update
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import Field, SQLModel, col

from models.common import optional_timestamp_field, timestamp_field
from workflows.vocabulary import FINAL_STATUSES, DeploymentStatus

__all__ = [
    "FINAL_STATUSES",
    "Deployment",
    "DeploymentLog",
    "DeploymentStatus",
    "LogLevel",
    "LogType",
    "PreviewRoute",
]


class LogType(StrEnum):
    BUILD = "build"
    DEPLOY = "deploy"
    RUNTIME = "runtime"


class LogLevel(StrEnum):
    INFO = "info"
    WARNING = "warning"
    ERROR = "error"


class Deployment(SQLModel, table=True):
    __tablename__ = "deployments"
    __table_args__ = (
        # Project page and PR history: newest first per project / per PR.
        Index("ix_deployments_project_created", "project_id", "created_at"),
        Index("ix_deployments_project_pr_created", "project_id", "pr_number", "created_at"),
        # Home page: recent deployments across projects.
        Index("ix_deployments_created", "created_at"),
        # App-name allocation looks for another project already using a name.
        Index("ix_deployments_app_name", "app_name"),
        # The log retention scan (activities/log_retention.py): finished ones whose logs are kept.
        Index(
            "ix_deployments_logs_kept_completed",
            "completed_at",
            postgresql_where=text("logs_deleted_at IS NULL"),
        ),
    )

    id: uuid.UUID = Field(primary_key=True)
    project_id: uuid.UUID = Field(foreign_key="projects.id", ondelete="CASCADE")
    pr_number: int
    pr_title: str = Field(default="", sa_column=Column(Text, nullable=False, default=""))
    pr_author: str = Field(default="", max_length=100)
    # The PR's head branch when the deployment was made (told to its commands as PREVIEWD_BRANCH).
    pr_branch: str = Field(default="", sa_column=Column(Text, nullable=False, default="", server_default=""))
    commit_sha: str = Field(max_length=64)
    app_name: str = Field(max_length=63)
    app_url: str | None = None
    workflow_id: str = Field(max_length=200)
    status: DeploymentStatus = Field(default=DeploymentStatus.PENDING, sa_type=String(20))
    error: str | None = Field(default=None, sa_column=Column(Text))
    # The config it was built with and where each value came from (models/effective_config.py), set
    # when its sources are read; None until then, and for deployments from before the column.
    effective_config: dict[str, Any] | None = Field(default=None, sa_column=Column(JSONB))
    # How long each step took and what it reused: {"seconds": {"clone": …,
    # "install": …, "start": …}, "reused": {"mirror": …, "virtualenv": …, "build_cache": …},
    # "reuse_keys": {…}}; written by the clone, build and deploy as each ends (models/build_stats.py).
    build_stats: dict[str, Any] | None = Field(default=None, sa_column=Column(JSONB))
    # Its project's preview domain on Fly, as the deploy last saw it: {"hostname", "status" (Fly's
    # certificate status), "configured", "serving" (the URL answered over verified TLS),
    # "dns": [{"type", "name", "value"}]} (activities/fly/custom_domain.py); None without one.
    custom_domain: dict[str, Any] | None = Field(default=None, sa_column=Column(JSONB))
    started_at: datetime | None = optional_timestamp_field()
    completed_at: datetime | None = optional_timestamp_field()
    # When the log retention schedule deleted its log lines (project's log_retention_days after it
    # finished); None while they are kept.
    logs_deleted_at: datetime | None = optional_timestamp_field()
    # The cost basis (models/running_time.py): seconds this deployment's preview ran, closed intervals
    # only, and since when it runs now (None while it does not: building, asleep, replaced, gone).
    running_seconds: float = Field(default=0.0, sa_column_kwargs={"server_default": "0"})
    running_since: datetime | None = optional_timestamp_field()
    created_at: datetime = timestamp_field()
    updated_at: datetime = timestamp_field()


class DeploymentLog(SQLModel, table=True):
    __tablename__ = "deployment_logs"
    __table_args__ = (
        # Every log read is "lines of one deployment after id N, in order". Covering, so that Postgres
        # prefers it over walking the primary key for a deployment holding much of the table
        # (bench/queries: 17.9 ms → 6.3 ms for the first page of a 100,000-line log).
        Index(
            "ix_deployment_logs_deployment_id_id",
            "deployment_id",
            "id",
            postgresql_include=["type", "level", "message", "timestamp"],
        ),
    )

    id: int | None = Field(default=None, sa_column=Column(BigInteger, primary_key=True, autoincrement=True))
    deployment_id: uuid.UUID = Field(foreign_key="deployments.id", ondelete="CASCADE")
    type: LogType = Field(sa_type=String(10))
    level: LogLevel = Field(default=LogLevel.INFO, sa_type=String(10))
    message: str = Field(sa_column=Column(Text, nullable=False))
    timestamp: datetime = timestamp_field()


class PreviewRoute(SQLModel, table=True):
    """Where the local platform's reverse proxy sends a preview's traffic (one row per app name)."""

    __tablename__ = "preview_routes"

    app_name: str = Field(primary_key=True, max_length=63)
    deployment_id: uuid.UUID = Field(foreign_key="deployments.id", ondelete="CASCADE")
    upstream: str = Field(max_length=200)
    host_queue: str = Field(max_length=200)
    pid: int | None = None
    updated_at: datetime = timestamp_field()
    # When the proxy last passed a request to it, written at most every RECORD_EVERY_SECONDS
    # (web/proxy/last_request.py): what idle sleep and expiry count from.
    last_request_at: datetime | None = optional_timestamp_field()
    # The preview sleeps (workflows/sleeper.py): its process is stopped, its files and this route stay,
    # and the proxy asks the PR's workflow to wake it instead of forwarding. A restarted worker leaves
    # it asleep.
    asleep: bool = Field(default=False, sa_column_kwargs={"server_default": "false"})


async def record_effective_config(
    session: AsyncSession, deployment_id: uuid.UUID, record: dict[str, Any]
) -> None:
    """What the deployment runs with (models/effective_config.py), written once its sources are read."""
    await session.execute(
        update(Deployment).where(col(Deployment.id) == deployment_id).values(effective_config=record)
    )
    await session.commit()
