"""Webhook deliveries: the dedup record and the transactional outbox (outbox/) the dispatcher drains."""

from __future__ import annotations

import uuid
from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import BigInteger, Column, Index, String, text
from sqlalchemy.dialects.postgresql import JSONB
from sqlmodel import Field, SQLModel

from models.common import optional_timestamp_field, timestamp_field


class DeliveryOutcome(StrEnum):
    # Recorded, waiting for the dispatcher to signal its workflow.
    QUEUED = "queued"
    DISPATCHED = "dispatched"
    IGNORED = "ignored"
    # Carried out while the delivery was recorded (installation changes): nothing left to dispatch.
    APPLIED = "applied"


class WebhookDelivery(SQLModel, table=True):
    __tablename__ = "webhook_deliveries"
    __table_args__ = (
        # The dispatcher's scan: queued rows in arrival order, and nothing else.
        Index("ix_webhook_deliveries_queued", "id", postgresql_where=text("outcome = 'queued'")),
        # The drift reconcile's read: a PR's rows, newest first.
        Index("ix_webhook_deliveries_pull_request", "project_id", "pr_number", "id"),
    )

    id: int | None = Field(default=None, sa_column=Column(BigInteger, primary_key=True, autoincrement=True))
    delivery_id: str = Field(unique=True, max_length=100)
    event: str = Field(max_length=50)
    action: str | None = Field(default=None, max_length=50)
    received_at: datetime = timestamp_field()
    outcome: DeliveryOutcome = Field(sa_type=String(20))
    reason: str | None = Field(default=None, max_length=200)
    project_id: uuid.UUID | None = None
    pr_number: int | None = None
    # What the row asks of its PR workflow: an outbox.intents.Intent, written by outbox.enqueue only.
    signal: str | None = Field(default=None, max_length=20)
    # The signal's argument (sha, title, author...): what the dispatcher sends, so it needs no re-parse.
    signal_args: dict[str, Any] | None = Field(default=None, sa_column=Column(JSONB))
    attempts: int = 0
    last_error: str | None = None
    dispatched_at: datetime | None = optional_timestamp_field()
