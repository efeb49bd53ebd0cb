"""Reading and writing project secrets. Plaintext exists only on its way in and out of here."""

from __future__ import annotations

import uuid

from sqlmodel import select
from sqlmodel.ext.asyncio.session import AsyncSession

from models.common import utcnow
from models.crypto import Keyring
from models.projects import ProjectSecret

# Shorter values are refused on save: the log masker could not hide them without blanking ordinary
# words, and a value that short is guessed faster than it is read from a log anyway.
MIN_SECRET_CHARS = 4
MAX_SECRET_BYTES = 64 * 1024


def secret_value_problem(value: str) -> str | None:
    """Why `value` cannot be stored as a secret, or None."""
    if len(value) < MIN_SECRET_CHARS:
        return f"must be at least {MIN_SECRET_CHARS} characters (shorter values cannot be masked in logs)"
    if len(value.encode()) > MAX_SECRET_BYTES:
        return "must be at most 64 KiB"
    return None


def associated_data(project_id: uuid.UUID, name: str) -> str:
    # Binds a ciphertext to its row: a value copied into another project or name will not decrypt.
    return f"{project_id}/{name}"


async def put_secret(
    session: AsyncSession, *, keyring: Keyring, project_id: uuid.UUID, name: str, value: str
) -> ProjectSecret:
    ciphertext, key_id = keyring.encrypt(value, associated=associated_data(project_id, name))
    row = (
        await session.exec(
            select(ProjectSecret).where(ProjectSecret.project_id == project_id, ProjectSecret.name == name)
        )
    ).first()
    if row is None:
        row = ProjectSecret(project_id=project_id, name=name, encrypted_value=ciphertext, key_id=key_id)
    else:
        row.encrypted_value, row.key_id, row.updated_at = ciphertext, key_id, utcnow()
    session.add(row)
    await session.commit()
    await session.refresh(row)
    return row


async def delete_secret(session: AsyncSession, *, project_id: uuid.UUID, name: str) -> bool:
    row = (
        await session.exec(
            select(ProjectSecret).where(ProjectSecret.project_id == project_id, ProjectSecret.name == name)
        )
    ).first()
    if row is None:
        return False
    await session.delete(row)
    await session.commit()
    return True


async def decrypted_secrets(
    session: AsyncSession, *, keyring: Keyring, project_id: uuid.UUID
) -> dict[str, str]:
    rows = (await session.exec(select(ProjectSecret).where(ProjectSecret.project_id == project_id))).all()
    return {
        row.name: keyring.decrypt(
            row.encrypted_value, row.key_id, associated=associated_data(project_id, row.name)
        )
        for row in rows
    }


async def rotate_all(session: AsyncSession, *, keyring: Keyring) -> int:
    """Re-encrypt every secret not yet under the newest key; returns how many changed."""
    rows = (
        await session.exec(select(ProjectSecret).where(ProjectSecret.key_id != keyring.current_key_id))
    ).all()
    for row in rows:
        associated = associated_data(row.project_id, row.name)
        plaintext = keyring.decrypt(row.encrypted_value, row.key_id, associated=associated)
        row.encrypted_value, row.key_id = keyring.encrypt(plaintext, associated=associated)
        row.updated_at = utcnow()
        session.add(row)
    await session.commit()
    return len(rows)
