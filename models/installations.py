"""GitHub App installations, kept current by `installation` and `installation_repositories` events."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, Column
from sqlmodel import Field, SQLModel

from models.common import optional_timestamp_field, timestamp_field


class Installation(SQLModel, table=True):
    __tablename__ = "installations"

    # GitHub's installation id: what webhooks and the App's token endpoint name it by.
    id: int = Field(sa_column=Column(BigInteger, primary_key=True, autoincrement=False))
    account_login: str = Field(max_length=100)
    account_type: str = Field(default="User", max_length=20)
    # "all" or "selected": whether repositories created later are reached too.
    repository_selection: str = Field(default="selected", max_length=20)
    suspended_at: datetime | None = optional_timestamp_field()
    deleted_at: datetime | None = optional_timestamp_field()
    created_at: datetime = timestamp_field()
    updated_at: datetime = timestamp_field()
