"""What previewd asked GitHub to redeliver, and how far back the App's delivery log was examined.

Kept in Postgres so that a restarted worker neither asks for a delivery twice nor walks the log from
its start again (outbox/redelivery is the only writer).
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, Column
from sqlmodel import Field, SQLModel

from models.common import timestamp_field


class RedeliveryRequest(SQLModel, table=True):
    __tablename__ = "redelivery_requests"

    # GitHub's id of a failed attempt we decided about: asked to send again, or not (one decision each).
    github_delivery_id: int = Field(sa_column=Column(BigInteger, primary_key=True, autoincrement=False))
    # X-GitHub-Delivery: shared by every attempt of one event.
    guid: str = Field(max_length=100, index=True)
    event: str = Field(max_length=50)
    action: str | None = Field(default=None, max_length=50)
    # What GitHub said of the attempt: "failed to connect", "Invalid HTTP Response: 503"...
    status: str = Field(default="", max_length=200)
    # False: not asked for, because the PR had a later event of ours (a redelivery would arrive
    # after it, out of order); `reason` says which.
    asked: bool = True
    reason: str = Field(default="", max_length=200)
    asked_at: datetime = timestamp_field()


class ScanMark(SQLModel, table=True):
    """How far a periodic scan of GitHub has looked, by scan name."""

    __tablename__ = "scan_marks"

    name: str = Field(primary_key=True, max_length=50)
    examined_through: datetime = timestamp_field()
