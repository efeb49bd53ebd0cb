"""Dashboard sign-in: one-time sign-in links (local mode) and server-side sessions.

Only SHA-256 digests of the random tokens are stored, so a database dump signs nobody in.
A session row is what a session cookie points at: deleting it signs that browser out for good.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import Column, LargeBinary
from sqlalchemy.dialects.postgresql import JSONB
from sqlmodel import Field, SQLModel

from models.common import optional_timestamp_field, timestamp_field


class LoginLink(SQLModel, table=True):
    __tablename__ = "login_links"

    id: uuid.UUID = Field(default_factory=uuid.uuid4, primary_key=True)
    user_id: uuid.UUID = Field(foreign_key="users.id", ondelete="CASCADE")
    token_sha256: str = Field(unique=True, max_length=64)
    created_at: datetime = timestamp_field()
    expires_at: datetime = timestamp_field()
    used_at: datetime | None = optional_timestamp_field()


class WebSession(SQLModel, table=True):
    __tablename__ = "web_sessions"

    # SHA-256 of the random session id that the (signed) cookie carries.
    id_sha256: str = Field(primary_key=True, max_length=64)
    user_id: uuid.UUID = Field(foreign_key="users.id", ondelete="CASCADE", index=True)
    # The user's GitHub OAuth token, AES-GCM encrypted like project secrets (GitHub mode only).
    github_token: bytes | None = Field(default=None, sa_column=Column(LargeBinary, nullable=True))
    github_token_key_id: str | None = Field(default=None, max_length=16)
    # Installation ids the user reached at `installations_checked_at` (a short-lived access cache).
    installation_ids: list[Any] | None = Field(default=None, sa_column=Column(JSONB, nullable=True))
    installations_checked_at: datetime | None = optional_timestamp_field()
    created_at: datetime = timestamp_field()
    expires_at: datetime = timestamp_field()
