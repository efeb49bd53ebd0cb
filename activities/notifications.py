"""NotificationWorkflow's activities: which channels hear of an event, sending it to one, and
recording a send Temporal stopped retrying. Each send's outcome is written as it happens, so the
dashboard shows a receiver that is down (retrying) or refused (gave up) while it goes on."""

from __future__ import annotations

import logging
import uuid

from cryptography.exceptions import InvalidTag
from temporalio import activity
from temporalio.exceptions import ApplicationError

from activities.context import WorkerContext
from models.crypto import SecretKeyError
from models.notifications import NotificationChannel, SendStatus
from notifications import channels as store
from notifications.messages import notice_for
from notifications.senders import Channel, Refused, Unreachable, deliver
from workflows.notification_io import GaveUpInput, NotifyActivity, NotifyError, PreviewEvent, SendInput

log = logging.getLogger("previewd.notifications")


class NotificationActivities:
    def __init__(self, ctx: WorkerContext) -> None:
        self._ctx = ctx

    @activity.defn(name=NotifyActivity.TARGETS)
    async def targets(self, event: PreviewEvent) -> list[str]:
        async with self._ctx.db.session() as session:
            return await store.subscribed(session, project_id=uuid.UUID(event.project_id), kind=event.kind)

    @activity.defn(name=NotifyActivity.SEND)
    async def send(self, input: SendInput) -> None:
        ctx, event, channel_id = self._ctx, input.event, uuid.UUID(input.channel_id)
        channel = await self._channel_to_send(channel_id, event)
        if channel is None:
            return
        project = await ctx.project(event.project_id)
        settings = ctx.settings
        notice = notice_for(
            event, repository=project.github_repo_full_name, github_url=settings.github_url,
            base_url=settings.previewd_base_url,
        )  # fmt: skip
        attempt = activity.info().attempt
        try:
            await deliver(channel, notice, settings)
        except Refused as refused:
            await self._record(channel_id, event, SendStatus.GAVE_UP, str(refused), attempt)
            raise ApplicationError(str(refused), type=NotifyError.REFUSED, non_retryable=True) from None
        except Unreachable as down:
            await self._record(channel_id, event, SendStatus.RETRYING, str(down), attempt)
            raise ApplicationError(str(down)) from None
        await self._record(channel_id, event, SendStatus.DELIVERED, "", attempt)

    async def _channel_to_send(self, channel_id: uuid.UUID, event: PreviewEvent) -> Channel | None:
        """The channel, decrypted; None when there is nothing to send (deleted or paused since the
        event, or delivered by an attempt whose completion was lost)."""
        async with self._ctx.db.session() as session:
            row = await session.get(NotificationChannel, channel_id)
            if row is None:
                return None  # its sends went with it
            if await store.delivered(session, channel_id=channel_id, event_id=event.event_id):
                return None
            if row.paused:
                # Paused while this send waited for a receiver that was down: said so, or its row
                # would show "retrying" for ever.
                await store.record(
                    session, channel_id=channel_id, event=event, status=SendStatus.GAVE_UP,
                    detail="not sent: the channel was paused", attempt=activity.info().attempt,
                )  # fmt: skip
                return None
        try:
            return store.opened(row, self._ctx.keyring)
        except (SecretKeyError, InvalidTag):
            pass  # its key was dropped from PREVIEWD_SECRET_KEYS: no attempt will do better
        why = "the channel cannot be decrypted with PREVIEWD_SECRET_KEYS"
        await self._record(channel_id, event, SendStatus.GAVE_UP, why, activity.info().attempt)
        raise ApplicationError(why, type=NotifyError.REFUSED, non_retryable=True)

    @activity.defn(name=NotifyActivity.GAVE_UP)
    async def gave_up(self, input: GaveUpInput) -> None:
        await self._record(uuid.UUID(input.channel_id), input.event, SendStatus.GAVE_UP, input.detail, None)

    async def _record(
        self, channel_id: uuid.UUID, event: PreviewEvent, status: SendStatus, detail: str, attempt: int | None
    ) -> None:
        log.info("notification %s to channel %s: %s %s", event.event_id, channel_id, status, detail)
        async with self._ctx.db.session() as session:
            if await session.get(NotificationChannel, channel_id) is None:
                return  # the channel was deleted meanwhile
            await store.record(
                session, channel_id=channel_id, event=event, status=status, detail=detail, attempt=attempt
            )
