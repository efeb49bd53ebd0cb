"""Each PR's own database and role (issue 16): its name, and its role's password, encrypted.

One module for the table: every read and write of it is here. The password is only ever decrypted by
the activity that builds a step's environment (activities/context.py): never in a workflow's input,
a page, an API answer or a PR comment.
"""

from __future__ import annotations

import re
import secrets
import uuid
from datetime import datetime

from sqlalchemy import BigInteger, Column, UniqueConstraint, delete, select, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import Field, SQLModel

from models.common import optional_timestamp_field, timestamp_field, utcnow
from models.crypto import Keyring

# Every database and role previewd makes for a PR is named so: the reconciler lists them by it.
PREFIX = "previewd_pr_"
_NAME = re.compile(rf"\A{PREFIX}([0-9a-f]{{32}})_([0-9]+)\Z")


def name_for(project_id: uuid.UUID, pr_number: int) -> str:
    """The database's name, and its role's: at most 12 + 32 + 1 + 10 characters (Postgres allows 63)."""
    return f"{PREFIX}{project_id.hex}_{pr_number}"


def parse_name(name: str) -> tuple[uuid.UUID, int] | None:
    """The project and PR a `previewd_pr_*` name stands for, or None for any other name."""
    match = _NAME.match(name)
    return (uuid.UUID(match[1]), int(match[2])) if match else None


class PreviewDatabase(SQLModel, table=True):
    __tablename__ = "preview_databases"
    __table_args__ = (UniqueConstraint("project_id", "pr_number"),)

    id: uuid.UUID = Field(default_factory=uuid.uuid4, primary_key=True)
    project_id: uuid.UUID = Field(foreign_key="projects.id", ondelete="CASCADE", index=True)
    pr_number: int
    name: str = Field(max_length=63, unique=True)
    encrypted_password: bytes
    key_id: str = Field(max_length=16)
    # The seed ran (a `.sql` file at creation, a command after the first release): never twice.
    seeded: bool = False
    size_bytes: int | None = Field(default=None, sa_column=Column(BigInteger, nullable=True))
    size_checked_at: datetime | None = optional_timestamp_field()
    created_at: datetime = timestamp_field()


def _associated(name: str) -> str:
    return f"preview-database:{name}"


async def find(session: AsyncSession, project_id: uuid.UUID, pr_number: int) -> PreviewDatabase | None:
    found = await session.execute(
        select(PreviewDatabase).where(
            PreviewDatabase.project_id == project_id,  # type: ignore[arg-type]
            PreviewDatabase.pr_number == pr_number,  # type: ignore[arg-type]
        )
    )
    return found.scalar_one_or_none()


async def record(
    session: AsyncSession, *, keyring: Keyring, project_id: uuid.UUID, pr_number: int
) -> tuple[PreviewDatabase, str]:
    """The PR's row, made with a new random password when there is none; and the password."""
    row = await find(session, project_id, pr_number)
    if row is not None:
        return row, password_of(row, keyring)
    name = name_for(project_id, pr_number)
    password = secrets.token_hex(24)  # hex: nothing to quote in a URL
    sealed, key_id = keyring.encrypt(password, associated=_associated(name))
    row = PreviewDatabase(
        project_id=project_id, pr_number=pr_number, name=name, encrypted_password=sealed, key_id=key_id
    )
    session.add(row)
    await session.commit()
    return row, password


def password_of(row: PreviewDatabase, keyring: Keyring) -> str:
    return keyring.decrypt(row.encrypted_password, row.key_id, associated=_associated(row.name))


async def forget(session: AsyncSession, name: str) -> None:
    await session.execute(delete(PreviewDatabase).where(PreviewDatabase.name == name))  # type: ignore[arg-type]
    await session.commit()


async def all_rows(session: AsyncSession) -> list[PreviewDatabase]:
    return list((await session.execute(select(PreviewDatabase))).scalars())


async def set_seeded(session: AsyncSession, name: str, seeded: bool) -> None:
    await session.execute(
        update(PreviewDatabase).where(PreviewDatabase.name == name).values(seeded=seeded)  # type: ignore[arg-type]
    )
    await session.commit()


async def set_size(session: AsyncSession, row: PreviewDatabase, size: int) -> None:
    """Recorded by the size check; the caller commits."""
    row.size_bytes = size
    row.size_checked_at = utcnow()
    session.add(row)
