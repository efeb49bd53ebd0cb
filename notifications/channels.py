"""A project's notification channels in the database: made (target checked and encrypted), listed
with their hints, decrypted only to send, and the outcome of each send recorded."""

from __future__ import annotations

import re
import uuid
from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy.dialects.postgresql import insert
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from config import Settings
from models.common import utcnow
from models.crypto import Keyring
from models.notifications import (
    ChannelKind,
    NotificationChannel,
    NotificationSend,
    SendStatus,
    associated_data,
)
from notifications import address_guard
from notifications.senders import Channel
from notifications.signing import new_signing_secret
from workflows.notification_io import EventKind, PreviewEvent

MAX_RECIPIENTS = 10
MAX_URL_CHARS = 2000
# Deliberately plain: one @, no spaces or commas; the SMTP server has the last word.
EMAIL = re.compile(r"\A[^@\s,<>]+@[^@\s,<>]+\.[^@\s,<>]+\Z")
# Channels subscribed to `ready` hear of a recovery too: it is the preview being ready.
ALSO_FOR: dict[EventKind, EventKind] = {EventKind.RECOVERED: EventKind.READY}


@dataclass
class NewChannel:
    kind: ChannelKind
    name: str
    target: str
    events: list[EventKind]


async def target_problem(kind: ChannelKind, target: str, settings: Settings) -> str | None:
    """Why `target` cannot be a `kind` channel's target, or None. URLs go through the address guard."""
    if kind == ChannelKind.EMAIL:
        if not settings.previewd_smtp_host:
            return "email channels need the operator's SMTP server (PREVIEWD_SMTP_HOST)"
        addresses = [a.strip() for a in target.split(",") if a.strip()]
        if not addresses or len(addresses) > MAX_RECIPIENTS:
            return f"give 1 to {MAX_RECIPIENTS} email addresses, separated by commas"
        bad = next((a for a in addresses if not EMAIL.match(a)), None)
        return "is not an email address list (name@example.com, …)" if bad is not None else None
    if len(target) > MAX_URL_CHARS:
        return f"must be at most {MAX_URL_CHARS} characters"
    # Slack's URLs are https; plain http only for the operator's own receivers (and the tests').
    allow_private = settings.previewd_notifications_allow_private
    if kind == ChannelKind.SLACK and not target.startswith("https://") and not allow_private:
        return "must be a Slack incoming webhook URL (https://hooks.slack.com/services/…)"
    try:
        await address_guard.resolve(target, allow_private=allow_private)
    except address_guard.AddressRefused as refused:
        return str(refused)
    return None


def hint_of(kind: ChannelKind, target: str) -> str:
    """Enough to recognise a target by, not enough to use it: a URL's host and its last 4 characters,
    an address list's first letters and domains."""
    if kind == ChannelKind.EMAIL:
        shown = []
        for address in (a.strip() for a in target.split(",") if a.strip()):
            local, _, domain = address.partition("@")
            shown.append(f"{local[:1]}…@{domain}")
        return ", ".join(shown)[:200]
    _, host, _ = address_guard.parse(target)
    return f"{target.split(':', 1)[0]}://{host}/…{target[-4:]}"[:200]


async def create_channel(
    session: AsyncSession, *, keyring: Keyring, project_id: uuid.UUID, new: NewChannel, created_by: str
) -> tuple[NotificationChannel, str | None]:
    """The stored channel and, for a webhook, its signing secret: returned once, never again."""
    channel_id = uuid.uuid4()
    target = new.target.strip()
    encrypted, key_id = keyring.encrypt(target, associated=associated_data(channel_id, "target"))
    secret = new_signing_secret() if new.kind == ChannelKind.WEBHOOK else None
    sealed_secret = None
    if secret is not None:
        sealed_secret, _ = keyring.encrypt(secret, associated=associated_data(channel_id, "secret"))
    row = NotificationChannel(
        id=channel_id, project_id=project_id, kind=new.kind, name=new.name, encrypted_target=encrypted,
        key_id=key_id, target_hint=hint_of(new.kind, target), encrypted_signing_secret=sealed_secret,
        events=[str(kind) for kind in new.events], created_by=created_by,
    )  # fmt: skip
    session.add(row)
    await session.commit()
    await session.refresh(row)
    return row, secret


def opened(row: NotificationChannel, keyring: Keyring) -> Channel:
    target = keyring.decrypt(row.encrypted_target, row.key_id, associated=associated_data(row.id, "target"))
    secret = ""
    if row.encrypted_signing_secret is not None:
        secret = keyring.decrypt(
            row.encrypted_signing_secret, row.key_id, associated=associated_data(row.id, "secret")
        )
    return Channel(kind=ChannelKind(row.kind), target=target, signing_secret=secret)


async def channels_of(session: AsyncSession, *, project_id: uuid.UUID) -> Sequence[NotificationChannel]:
    query = select(NotificationChannel).where(NotificationChannel.project_id == project_id)
    return (await session.exec(query.order_by(col(NotificationChannel.created_at)))).all()


async def subscribed(session: AsyncSession, *, project_id: uuid.UUID, kind: EventKind) -> list[str]:
    """Ids of the project's channels, not paused, that are sent `kind`."""
    wanted = {str(kind)} | ({str(ALSO_FOR[kind])} if kind in ALSO_FOR else set())
    rows = await channels_of(session, project_id=project_id)
    return [str(row.id) for row in rows if not row.paused and wanted & set(row.events)]


async def record(
    session: AsyncSession, *, channel_id: uuid.UUID, event: PreviewEvent, status: SendStatus,
    detail: str = "", attempt: int | None = None,
) -> None:  # fmt: skip
    """The latest outcome of `event` on the channel, one row per (channel, event)."""
    changed: dict[str, object] = {"status": str(status), "detail": detail[:200], "updated_at": utcnow()}
    statement = insert(NotificationSend).values(
        id=uuid.uuid4(), channel_id=channel_id, event_id=event.event_id, event=str(event.kind),
        pr_number=event.pr_number, attempts=attempt or 0, **changed,
    )  # fmt: skip
    if attempt is not None:
        changed["attempts"] = attempt
    await session.execute(
        statement.on_conflict_do_update(index_elements=["channel_id", "event_id"], set_=changed)
    )
    await session.commit()


async def delivered(session: AsyncSession, *, channel_id: uuid.UUID, event_id: str) -> bool:
    query = select(NotificationSend.status).where(
        NotificationSend.channel_id == channel_id, NotificationSend.event_id == event_id
    )
    return (await session.exec(query)).first() == SendStatus.DELIVERED


async def recent_sends(
    session: AsyncSession, *, project_id: uuid.UUID, limit: int = 30
) -> list[tuple[NotificationSend, str]]:
    """The project's latest sends, newest first, each with its channel's name."""
    query = (
        select(NotificationSend, NotificationChannel.name)
        .join(NotificationChannel, col(NotificationChannel.id) == col(NotificationSend.channel_id))
        .where(NotificationChannel.project_id == project_id)
        .order_by(col(NotificationSend.updated_at).desc())
        .limit(limit)
    )
    return [(send, name) for send, name in (await session.exec(query)).all()]


async def rotate_channels(session: AsyncSession, *, keyring: Keyring) -> int:
    """Re-encrypt every channel not yet under the newest key (`previewd secrets rotate`); how many."""
    query = select(NotificationChannel).where(NotificationChannel.key_id != keyring.current_key_id)
    rows = (await session.exec(query)).all()
    for row in rows:
        channel = opened(row, keyring)
        row.encrypted_target, row.key_id = keyring.encrypt(
            channel.target, associated=associated_data(row.id, "target")
        )
        if row.encrypted_signing_secret is not None:
            row.encrypted_signing_secret, _ = keyring.encrypt(
                channel.signing_secret, associated=associated_data(row.id, "secret")
            )
        session.add(row)
    await session.commit()
    return len(rows)
