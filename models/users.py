"""People and the API tokens they use."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import BigInteger, Column, ForeignKey, SmallInteger, Uuid
from sqlmodel import Field, SQLModel

from models.common import optional_timestamp_field, timestamp_field


class User(SQLModel, table=True):
    __tablename__ = "users"

    id: uuid.UUID = Field(default_factory=uuid.uuid4, primary_key=True)
    github_id: int | None = Field(default=None, unique=True, sa_type=BigInteger)
    login: str = Field(unique=True, max_length=100)
    name: str | None = Field(default=None, max_length=200)
    # The CLI's operator (`previewd token create`, `login-link`, the demo): is_admin with no GitHub id.
    # Never set on a GitHub user, whatever their login (a GitHub user may be called "admin").
    is_admin: bool = False
    created_at: datetime = timestamp_field()
    updated_at: datetime = timestamp_field()


class ApiToken(SQLModel, table=True):
    """A bearer token for /api; only its SHA-256 is stored. It may do what both its scope and its
    user's role on the repository allow, until it expires or is revoked."""

    __tablename__ = "api_tokens"

    id: uuid.UUID = Field(default_factory=uuid.uuid4, primary_key=True)
    user_id: uuid.UUID = Field(foreign_key="users.id", index=True)
    name: str = Field(max_length=100)
    token_sha256: str = Field(unique=True, max_length=64)
    scope: str = Field(default="read", max_length=20)
    created_at: datetime = timestamp_field()
    expires_at: datetime = timestamp_field()
    revoked_at: datetime | None = optional_timestamp_field()
    last_used_at: datetime | None = optional_timestamp_field()


class RepoRole(SQLModel, table=True):
    """A user's role on a repository as GitHub last told it (web/permissions.py `Role`), kept a few
    minutes so that not every request asks GitHub, and no longer, so a downgrade takes effect soon."""

    __tablename__ = "repo_roles"

    user_id: uuid.UUID = Field(
        sa_column=Column(Uuid(), ForeignKey("users.id", ondelete="CASCADE"), primary_key=True)
    )
    github_repo_id: int = Field(primary_key=True, sa_type=BigInteger)
    role: int = Field(sa_type=SmallInteger)
    checked_at: datetime = timestamp_field()
