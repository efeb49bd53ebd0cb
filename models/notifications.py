"""Notification channels of a project (Slack, a generic webhook, email) and what was sent to them.

A channel's target (a webhook URL, email addresses) and a webhook's signing secret are encrypted at
rest (models/crypto.py) and never come back to a page in full: `target_hint` is what is shown.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from enum import StrEnum

from sqlalchemy import Column, ForeignKey, LargeBinary, Text, UniqueConstraint, Uuid
from sqlalchemy.dialects.postgresql import JSONB
from sqlmodel import Field, SQLModel

from models.common import timestamp_field


class ChannelKind(StrEnum):
    SLACK = "slack"
    WEBHOOK = "webhook"
    EMAIL = "email"


class SendStatus(StrEnum):
    SENDING = "sending"
    # The receiver did not take it yet (down, 5xx, a timeout): Temporal tries again.
    RETRYING = "retrying"
    DELIVERED = "delivered"
    # A refusal (4xx), an address the guard refuses, or the retry limit passed: not tried again.
    GAVE_UP = "gave up"


class NotificationChannel(SQLModel, table=True):
    __tablename__ = "notification_channels"

    id: uuid.UUID = Field(default_factory=uuid.uuid4, primary_key=True)
    project_id: uuid.UUID = Field(
        sa_column=Column(Uuid(), ForeignKey("projects.id", ondelete="CASCADE"), nullable=False, index=True)
    )
    kind: str = Field(max_length=20)
    name: str = Field(max_length=100)
    # The URL (slack, webhook) or the comma-separated addresses (email), encrypted.
    encrypted_target: bytes = Field(sa_column=Column(LargeBinary, nullable=False))
    key_id: str = Field(max_length=32)
    # Enough of the target to recognise it, never enough to use it.
    target_hint: str = Field(max_length=200)
    # A generic webhook's HMAC key, encrypted under the same key id; shown once when it is made.
    encrypted_signing_secret: bytes | None = Field(default=None, sa_column=Column(LargeBinary))
    # EventKind values the channel is sent.
    events: list[str] = Field(default_factory=list, sa_column=Column(JSONB, nullable=False))
    paused: bool = False
    created_by: str = Field(default="", max_length=100)
    created_at: datetime = timestamp_field()


class NotificationSend(SQLModel, table=True):
    """One event for one channel: its latest outcome. One row however often it is tried."""

    __tablename__ = "notification_sends"
    __table_args__ = (UniqueConstraint("channel_id", "event_id"),)

    id: uuid.UUID = Field(default_factory=uuid.uuid4, primary_key=True)
    channel_id: uuid.UUID = Field(
        sa_column=Column(
            Uuid(), ForeignKey("notification_channels.id", ondelete="CASCADE"), nullable=False, index=True
        )
    )
    event_id: str = Field(sa_column=Column(Text, nullable=False))
    event: str = Field(max_length=30)
    pr_number: int = 0
    status: str = Field(max_length=20)
    attempts: int = 0
    # Our own words for the last outcome ("HTTP 410", "connection refused"), never the receiver's body.
    detail: str = Field(default="", max_length=200)
    updated_at: datetime = timestamp_field()


def associated_data(channel_id: uuid.UUID, part: str) -> str:
    # Binds a ciphertext to its channel and its part: copied into another row, it does not decrypt.
    return f"notification-channel/{channel_id}/{part}"
