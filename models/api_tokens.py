"""API tokens for /api: random, shown once, stored as SHA-256, scoped, expiring, revocable.
Session first.

The CLI makes them (`token create`, `up`) and the web app checks them, so they live with the table
rather than under web/.
"""

from __future__ import annotations

import hashlib
import secrets
import uuid
from collections.abc import Sequence
from datetime import timedelta

from sqlalchemy import update
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from models.common import utcnow
from models.users import ApiToken, User

TOKEN_PREFIX = "pvd_"
DEFAULT_DAYS = 90
MAX_DAYS = 366
SCOPES = ("read", "deploy", "admin")


def new_token() -> str:
    return TOKEN_PREFIX + secrets.token_urlsafe(32)


def token_digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


async def create_token(
    session: AsyncSession,
    *,
    user_id: uuid.UUID,
    name: str,
    scope: str = "read",
    days: int = DEFAULT_DAYS,
) -> tuple[str, ApiToken]:
    """Stores a new token's digest for `user_id`; the token itself is returned, once, never kept."""
    if scope not in SCOPES:
        raise ValueError(f"scope: one of {', '.join(SCOPES)}")
    if not 1 <= days <= MAX_DAYS:
        raise ValueError(f"expires-days: between 1 and {MAX_DAYS}")
    token = new_token()
    row = ApiToken(
        user_id=user_id,
        name=name,
        scope=scope,
        token_sha256=token_digest(token),
        expires_at=utcnow() + timedelta(days=days),
    )
    session.add(row)
    await session.commit()
    await session.refresh(row)
    return token, row


async def tokens_of(session: AsyncSession, *, user_id: uuid.UUID) -> Sequence[ApiToken]:
    rows = await session.exec(
        select(ApiToken).where(ApiToken.user_id == user_id).order_by(col(ApiToken.created_at).desc())
    )
    return rows.all()


async def revoke_token(session: AsyncSession, *, user_id: uuid.UUID, token_id: uuid.UUID) -> bool:
    """Only the owner's own token; False when there is none of theirs by that id (or it is revoked)."""
    result = await session.execute(
        update(ApiToken)
        .where(
            col(ApiToken.id) == token_id,
            col(ApiToken.user_id) == user_id,
            col(ApiToken.revoked_at).is_(None),
        )
        .values(revoked_at=utcnow())
    )
    await session.commit()
    return bool(getattr(result, "rowcount", 0))


async def revoke_by_value(session: AsyncSession, *, token: str) -> None:
    await session.execute(
        update(ApiToken)
        .where(col(ApiToken.token_sha256) == token_digest(token), col(ApiToken.revoked_at).is_(None))
        .values(revoked_at=utcnow())
    )
    await session.commit()


async def has_live_token(session: AsyncSession, *, user_id: uuid.UUID, name: str) -> bool:
    found = (
        await session.exec(
            select(ApiToken.id).where(
                ApiToken.user_id == user_id,
                ApiToken.name == name,
                col(ApiToken.revoked_at).is_(None),
                col(ApiToken.expires_at) > utcnow(),
            )
        )
    ).first()
    return found is not None


async def holder_of(session: AsyncSession, *, token: str) -> tuple[User, ApiToken] | None:
    """The token's owner and row, noting the token's use; None for a token nobody holds, or one
    revoked or expired."""
    found = (
        await session.exec(
            select(User, ApiToken)
            .join(ApiToken, col(ApiToken.user_id) == col(User.id))
            .where(
                ApiToken.token_sha256 == token_digest(token),
                col(ApiToken.revoked_at).is_(None),
                col(ApiToken.expires_at) > utcnow(),
            )
        )
    ).first()
    if found is None:
        return None
    user, row = found
    await session.execute(update(ApiToken).where(col(ApiToken.id) == row.id).values(last_used_at=utcnow()))
    await session.commit()
    return user, row
