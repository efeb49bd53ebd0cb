"""People and the API tokens they use."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import BigInteger
from sqlmodel import Field, SQLModel

from models.common import optional_timestamp_field, timestamp_field


class User(SQLModel, table=True):
    __tablename__ = "users"

    id: uuid.UUID = Field(default_factory=uuid.uuid4, primary_key=True)
    github_id: int | None = Field(default=None, unique=True, sa_type=BigInteger)
    login: str = Field(unique=True, max_length=100)
    name: str | None = Field(default=None, max_length=200)
    is_admin: bool = False
    created_at: datetime = timestamp_field()
    updated_at: datetime = timestamp_field()


class ApiToken(SQLModel, table=True):
    """A bearer token for /api; only its SHA-256 is stored."""

    __tablename__ = "api_tokens"

    id: uuid.UUID = Field(default_factory=uuid.uuid4, primary_key=True)
    user_id: uuid.UUID = Field(foreign_key="users.id", index=True)
    name: str = Field(max_length=100)
    token_sha256: str = Field(unique=True, max_length=64)
    created_at: datetime = timestamp_field()
    last_used_at: datetime | None = optional_timestamp_field()
