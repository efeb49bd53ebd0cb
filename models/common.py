"""Column helpers shared by the tables."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import DateTime
from sqlmodel import Field


def utcnow() -> datetime:
    return datetime.now(UTC)


def timestamp_field(**kwargs: object) -> datetime:
    field: datetime = Field(default_factory=utcnow, sa_type=DateTime(timezone=True), **kwargs)  # type: ignore[call-overload]
    return field


def optional_timestamp_field() -> datetime | None:
    field: datetime | None = Field(default=None, sa_type=DateTime(timezone=True))
    return field
