"""/api/projects/{id}/notifications: a project's notification channels through the JSON API, for the
same people as the dashboard's page (the settings action). A target goes in and never comes out
(only its hint); a webhook's signing secret comes out once, in the answer that made the channel."""

from __future__ import annotations

import uuid
from datetime import datetime

from fastapi import APIRouter, HTTPException, Response
from pydantic import BaseModel, Field

from models import AuditEvent
from models.notifications import ChannelKind, NotificationChannel
from notifications import channels as store
from web.auth import Caller, CurrentCaller, project_as
from web.dashboard.notifications import MAX_CHANNELS
from web.deps import Services, ServicesDep
from web.permissions import Action
from workflows.notification_io import SUBSCRIBABLE, EventKind

router = APIRouter(prefix="/api", tags=["api"])


class ChannelIn(BaseModel):
    kind: ChannelKind
    name: str = Field(min_length=1, max_length=100)
    target: str = Field(min_length=1, max_length=store.MAX_URL_CHARS)
    events: list[EventKind] = Field(min_length=1)


class ChannelOut(BaseModel):
    id: uuid.UUID
    kind: str
    name: str
    target_hint: str
    events: list[str]
    paused: bool
    created_at: datetime
    # Only in the answer that made a webhook channel.
    signing_secret: str | None = None


class ChannelPatch(BaseModel):
    paused: bool


def _out(row: NotificationChannel, secret: str | None = None) -> ChannelOut:
    return ChannelOut(
        id=row.id, kind=row.kind, name=row.name, target_hint=row.target_hint, events=row.events,
        paused=row.paused, created_at=row.created_at, signing_secret=secret,
    )  # fmt: skip


async def _audit(services: Services, project_id: uuid.UUID, caller: Caller, action: str, name: str) -> None:
    async with services.db.session() as session:
        session.add(
            AuditEvent(
                project_id=project_id,
                user_id=caller.user.id,
                actor=caller.user.login,
                action=action,
                detail={"name": name, "via": "api"},
            )  # fmt: skip
        )
        await session.commit()


@router.get("/projects/{project_id}/notifications")
async def list_channels(
    project_id: uuid.UUID, services: ServicesDep, caller: CurrentCaller
) -> list[ChannelOut]:
    await project_as(services, caller, project_id, Action.SETTINGS)
    async with services.db.session() as session:
        return [_out(row) for row in await store.channels_of(session, project_id=project_id)]


@router.post("/projects/{project_id}/notifications", status_code=201)
async def add_channel(
    project_id: uuid.UUID, body: ChannelIn, services: ServicesDep, caller: CurrentCaller
) -> ChannelOut:
    await project_as(services, caller, project_id, Action.SETTINGS)
    errors: dict[str, str] = {}
    if EventKind.TEST in body.events or len(set(body.events)) != len(body.events):
        errors["events"] = f"each at most once, of: {', '.join(SUBSCRIBABLE)}"
    if problem := await store.target_problem(body.kind, body.target.strip(), services.settings):
        errors["target"] = problem
    if not body.name.strip():
        errors["name"] = "a name of 1 to 100 characters is needed"
    async with services.db.session() as session:
        # The dashboard's limit, here too: otherwise the API makes channels without end.
        if len(await store.channels_of(session, project_id=project_id)) >= MAX_CHANNELS:
            errors["name"] = f"a project has at most {MAX_CHANNELS} channels"
    if errors:
        detail = [{"loc": ["body", k], "msg": v, "type": "value_error"} for k, v in errors.items()]
        raise HTTPException(422, detail)
    new = store.NewChannel(kind=body.kind, name=body.name.strip(), target=body.target, events=body.events)
    async with services.db.session() as session:
        row, secret = await store.create_channel(
            session, keyring=services.keyring, project_id=project_id, new=new, created_by=caller.user.login
        )
    await _audit(services, project_id, caller, "add notification channel", row.name)
    return _out(row, secret)


async def _row(services: Services, project_id: uuid.UUID, channel_id: uuid.UUID) -> NotificationChannel:
    async with services.db.session() as session:
        row = await session.get(NotificationChannel, channel_id)
    if row is None or row.project_id != project_id:
        raise HTTPException(404, "channel not found")
    return row


@router.patch("/projects/{project_id}/notifications/{channel_id}")
async def pause_channel(
    project_id: uuid.UUID,
    channel_id: uuid.UUID,
    body: ChannelPatch,
    services: ServicesDep,
    caller: CurrentCaller,
) -> ChannelOut:
    await project_as(services, caller, project_id, Action.SETTINGS)
    row = await _row(services, project_id, channel_id)
    async with services.db.session() as session:
        row.paused = body.paused
        session.add(row)
        await session.commit()
        await session.refresh(row)
    await _audit(services, project_id, caller, "pause" if body.paused else "resume", row.name)
    return _out(row)


@router.delete("/projects/{project_id}/notifications/{channel_id}", status_code=204)
async def delete_channel(
    project_id: uuid.UUID, channel_id: uuid.UUID, services: ServicesDep, caller: CurrentCaller
) -> Response:
    await project_as(services, caller, project_id, Action.SETTINGS)
    row = await _row(services, project_id, channel_id)
    async with services.db.session() as session:
        fresh = await session.get(NotificationChannel, row.id)
        if fresh is not None:
            await session.delete(fresh)
            await session.commit()
    await _audit(services, project_id, caller, "delete notification channel", row.name)
    return Response(status_code=204)
