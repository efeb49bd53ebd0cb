"""Data helpers for dashboard sign-in: one-time links and server-side sessions. Session first."""

from __future__ import annotations

import secrets
import uuid
from datetime import timedelta

from sqlalchemy import delete, update
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from models.api_tokens import token_digest
from models.common import utcnow
from models.users import User
from models.web_sessions import LoginLink, WebSession


async def create_login_link(session: AsyncSession, *, user_id: uuid.UUID, hours: int) -> str:
    """A random single-use token for `user_id`; only its digest is stored. Returns the token."""
    token = secrets.token_urlsafe(32)
    now = utcnow()
    session.add(
        LoginLink(
            user_id=user_id,
            token_sha256=token_digest(token),
            created_at=now,
            expires_at=now + timedelta(hours=hours),
        )
    )
    await session.commit()
    return token


async def consume_login_link(session: AsyncSession, *, token: str) -> uuid.UUID | None:
    """Mark the link used and return its user, in one UPDATE: of two clicks racing, one wins."""
    now = utcnow()
    result = await session.execute(
        update(LoginLink)
        .where(
            col(LoginLink.token_sha256) == token_digest(token),
            col(LoginLink.used_at).is_(None),
            col(LoginLink.expires_at) > now,
        )
        .values(used_at=now)
        .returning(col(LoginLink.user_id))
    )
    user_id = result.scalar_one_or_none()
    await session.commit()
    return user_id


async def open_session(
    session: AsyncSession,
    *,
    user_id: uuid.UUID,
    hours: int,
    github_token: tuple[bytes, str] | None = None,
) -> str:
    """A new session row; returns the random id that only the (signed) cookie carries."""
    sid = secrets.token_urlsafe(32)
    now = utcnow()
    # Housekeeping on the rare write path: sessions and links past their time are worth nothing.
    await session.execute(delete(WebSession).where(col(WebSession.expires_at) < now))
    await session.execute(delete(LoginLink).where(col(LoginLink.expires_at) < now - timedelta(days=7)))
    row = WebSession(
        id_sha256=token_digest(sid), user_id=user_id, created_at=now, expires_at=now + timedelta(hours=hours)
    )
    if github_token is not None:
        row.github_token, row.github_token_key_id = github_token
    session.add(row)
    await session.commit()
    return sid


async def session_user(session: AsyncSession, *, sid: str) -> tuple[User, WebSession] | None:
    found = (
        await session.execute(
            select(User, WebSession)
            .join(WebSession, col(WebSession.user_id) == col(User.id))
            .where(WebSession.id_sha256 == token_digest(sid), col(WebSession.expires_at) > utcnow())
        )
    ).first()
    return None if found is None else (found[0], found[1])


async def close_session(session: AsyncSession, *, sid: str) -> None:
    await session.execute(delete(WebSession).where(col(WebSession.id_sha256) == token_digest(sid)))
    await session.commit()


async def upsert_github_user(session: AsyncSession, *, github_id: int, login: str, name: str | None) -> User:
    """Users are keyed by GitHub id: a renamed account stays the same user."""
    user = (await session.exec(select(User).where(User.github_id == github_id))).first()
    if user is None:
        # A login is unique: a stale row holding it (the account was renamed) gives it up.
        stale = (await session.exec(select(User).where(User.login == login))).first()
        if stale is not None:
            stale.login = f"{login}~{stale.id.hex[:8]}"
            session.add(stale)
            await session.flush()
        user = User(github_id=github_id, login=login, name=name)
    else:
        user.login, user.name, user.updated_at = login, name, utcnow()
    session.add(user)
    await session.commit()
    await session.refresh(user)
    return user
