"""A project's notification channels: add, send a test, pause or resume, delete; and recent sends.

Managed by whoever may change the project's settings (maintain or admin on the repository); anyone
else gets the same 404 or 403 as for the settings page. A channel's URL or addresses are never shown
again after saving, only a hint; a webhook's signing secret is shown once, when it is made.

"Send a test" answers sent or not sent, never what the receiver said, and the URL goes through the
address guard first: the button cannot be used to probe what answers where. Nor can its timing: a
failure (refused at once, a name that does not resolve, a timeout) is answered after the same time,
the send deadline; each person, and each channel, has one test in flight at a time, and a channel's
next test waits a deadline after its last answer (per web process): the button is no faster than one
probe per deadline, nor a way to flood an inbox.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from typing import Annotated

from cryptography.exceptions import InvalidTag
from fastapi import APIRouter, Depends, Form, HTTPException, Request
from fastapi.responses import Response

from models import Project
from models.common import utcnow
from models.crypto import SecretKeyError
from models.notifications import ChannelKind, NotificationChannel
from notifications import channels as store
from notifications.messages import notice_for
from notifications.senders import Refused, Unreachable, deliver
from web.dashboard.access import project_for
from web.dashboard.csrf import require_csrf
from web.dashboard.settings_pages import audit
from web.dashboard.signed_in import UserDep
from web.dashboard.templating import render
from web.deps import Services, ServicesDep
from web.permissions import Action
from workflows.notification_io import EVENT_LABELS, SUBSCRIBABLE, EventKind, PreviewEvent

router = APIRouter(include_in_schema=False)
changes = APIRouter(include_in_schema=False, dependencies=[Depends(require_csrf)])
MAX_NAME_CHARS = 100
MAX_CHANNELS = 20
# Who and which channels have a "send a test" in flight in this process; when each channel's last
# test was answered (time.monotonic()).
_testing: set[str] = set()
_answered: dict[uuid.UUID, float] = {}


async def _page(
    request: Request,
    services: Services,
    project: Project,
    *,
    notice: tuple[bool, str] | None = None,
    errors: dict[str, str] | None = None,
    new_secret: str | None = None,
    status_code: int = 200,
) -> Response:
    async with services.db.session() as session:
        channels = await store.channels_of(session, project_id=project.id)
        sends = await store.recent_sends(session, project_id=project.id)
    context = {
        "project": project,
        "channels": channels,
        "sends": sends,
        "notice": notice,
        "errors": errors or {},
        "new_secret": new_secret,
        "kinds": list(ChannelKind),
        "events": [(str(kind), EVENT_LABELS[kind]) for kind in SUBSCRIBABLE],
        "labels": {str(kind): label for kind, label in EVENT_LABELS.items()},
        "email_ready": bool(services.settings.previewd_smtp_host),
    }
    return render(request, "notifications.html", context, status_code=status_code)


async def _channel(services: Services, project: Project, channel_id: uuid.UUID) -> NotificationChannel:
    async with services.db.session() as session:
        row = await session.get(NotificationChannel, channel_id)
    if row is None or row.project_id != project.id:
        raise HTTPException(404, "Channel not found")
    return row


@router.get("/projects/{project_id}/notifications")
async def notifications_page(
    request: Request, project_id: uuid.UUID, services: ServicesDep, signed_in: UserDep
) -> Response:
    project = await project_for(services, signed_in, project_id, Action.SETTINGS)
    return await _page(request, services, project)


@changes.post("/projects/{project_id}/notifications")
async def add_channel(
    request: Request,
    project_id: uuid.UUID,
    services: ServicesDep,
    signed_in: UserDep,
    kind: Annotated[str, Form()] = "",
    name: Annotated[str, Form()] = "",
    target: Annotated[str, Form()] = "",
    events: Annotated[list[str] | None, Form()] = None,
) -> Response:
    project = await project_for(services, signed_in, project_id, Action.SETTINGS)
    errors: dict[str, str] = {}
    name, target = name.strip(), target.strip()
    if kind not in {str(k) for k in ChannelKind}:
        errors["kind"] = "choose Slack, webhook or email"
    if not name or len(name) > MAX_NAME_CHARS:
        errors["name"] = f"a name of 1 to {MAX_NAME_CHARS} characters is needed"
    chosen = [EventKind(e) for e in dict.fromkeys(events or []) if e in {str(k) for k in SUBSCRIBABLE}]
    if not chosen or len(chosen) != len(set(events or [])):
        errors["events"] = "choose at least one event (from the list)"
    if "kind" not in errors and (
        problem := await store.target_problem(ChannelKind(kind), target, services.settings)
    ):
        errors["target"] = problem
    async with services.db.session() as session:
        if len(await store.channels_of(session, project_id=project.id)) >= MAX_CHANNELS:
            errors["name"] = f"a project has at most {MAX_CHANNELS} channels"
    if errors:
        return await _page(request, services, project, errors=errors, status_code=422)
    new = store.NewChannel(kind=ChannelKind(kind), name=name, target=target, events=chosen)
    async with services.db.session() as session:
        row, secret = await store.create_channel(
            session, keyring=services.keyring, project_id=project.id, new=new, created_by=signed_in.user.login
        )
    await audit(services, project, signed_in, "add notification channel", name=name, kind=kind)
    what = "addresses are" if kind == ChannelKind.EMAIL else "URL is"
    added = f"Channel {name} added. Its {what} not shown again."
    return await _page(request, services, project, new_secret=secret, notice=(True, added))


@changes.post("/projects/{project_id}/notifications/{channel_id}/test")
async def send_test(
    request: Request, project_id: uuid.UUID, channel_id: uuid.UUID, services: ServicesDep, signed_in: UserDep
) -> Response:
    project = await project_for(services, signed_in, project_id, Action.SETTINGS)
    row = await _channel(services, project, channel_id)
    keys = {f"user/{signed_in.user.id}", f"channel/{row.id}"}
    if keys & _testing:
        busy = "A test message is being sent already; wait for its answer."
        return await _page(request, services, project, notice=(False, busy), status_code=429)
    wait = services.settings.previewd_notifications_send_seconds
    if time.monotonic() - _answered.get(row.id, -wait) < wait:
        soon = f"A test message to {row.name} was just sent; try again in a few seconds."
        return await _page(request, services, project, notice=(False, soon), status_code=429)
    _testing.update(keys)
    try:
        ok = await _test_send(services, project, row)
    finally:
        _testing.difference_update(keys)
        _answered[row.id] = time.monotonic()
    await audit(services, project, signed_in, "test notification channel", name=row.name, delivered=ok)
    told = f"Test message to {row.name} sent." if ok else f"The test message to {row.name} was not delivered."
    return await _page(request, services, project, notice=(ok, told))


async def _test_send(services: Services, project: Project, row: NotificationChannel) -> bool:
    """Whether the test message was delivered; a failure answers after exactly the send deadline."""
    started = time.monotonic()
    event = PreviewEvent(
        event_id=f"test-{uuid.uuid4()}",
        kind=EventKind.TEST,
        project_id=str(project.id),
        at=utcnow().isoformat(),
    )
    settings = services.settings
    notice = notice_for(
        event, repository=project.github_repo_full_name, github_url=settings.github_url,
        base_url=settings.previewd_base_url,
    )  # fmt: skip
    try:
        await deliver(store.opened(row, services.keyring), notice, settings)
        ok = True
    except (Refused, Unreachable, SecretKeyError, InvalidTag):
        ok = False  # what the receiver answered is not told (see the module's docstring)
    if not ok:
        await asyncio.sleep(
            max(0.0, settings.previewd_notifications_send_seconds - (time.monotonic() - started))
        )
    return ok


@changes.post("/projects/{project_id}/notifications/{channel_id}/{action}")
async def change_channel(
    request: Request,
    project_id: uuid.UUID,
    channel_id: uuid.UUID,
    action: str,
    services: ServicesDep,
    signed_in: UserDep,
) -> Response:
    project = await project_for(services, signed_in, project_id, Action.SETTINGS)
    if action not in ("pause", "resume", "delete"):
        raise HTTPException(404, "Not found")
    row = await _channel(services, project, channel_id)
    async with services.db.session() as session:
        fresh = await session.get(NotificationChannel, row.id)
        if fresh is not None:
            if action == "delete":
                await session.delete(fresh)
            else:
                fresh.paused = action == "pause"
                session.add(fresh)
            await session.commit()
    await audit(services, project, signed_in, f"{action} notification channel", name=row.name)
    done = {"pause": "paused", "resume": "resumed", "delete": "deleted"}[action]
    return await _page(request, services, project, notice=(True, f"Channel {row.name} {done}."))
