"""Who did what by hand, from the dashboard: redeploy, destroy, approve, settings changes."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import BigInteger, Column, Index
from sqlalchemy.dialects.postgresql import JSONB
from sqlmodel import Field, SQLModel

from models.common import timestamp_field


class AuditEvent(SQLModel, table=True):
    __tablename__ = "audit_events"
    __table_args__ = (Index("ix_audit_events_project_created", "project_id", "created_at"),)

    id: int | None = Field(default=None, sa_column=Column(BigInteger, primary_key=True, autoincrement=True))
    # Kept when the project or user is deleted: the record outlives what it is about.
    project_id: uuid.UUID | None = Field(default=None, foreign_key="projects.id", ondelete="SET NULL")
    user_id: uuid.UUID | None = Field(default=None, foreign_key="users.id", ondelete="SET NULL")
    actor: str = Field(max_length=100)
    action: str = Field(max_length=40)
    pr_number: int | None = None
    # "ok" or what went wrong, in the words shown to the user.
    outcome: str = Field(default="ok", max_length=300)
    detail: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSONB, nullable=False))
    created_at: datetime = timestamp_field()
