"""A deployment's log, live, as server-sent events.

Each `lines` event carries rendered, escaped HTML of new lines and, as its id, the last log id it
covers: a browser that reconnects sends it back as `Last-Event-ID` and picks up exactly there.
The stream closes by itself every few minutes (the browser reconnects at once, with that header),
so no connection outlives a deploy of the web app, and sends `end` once a finished deployment's
log is complete.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import AsyncIterator

from fastapi import APIRouter, Query, Request
from fastapi.responses import StreamingResponse

from models import Deployment
from models.deployments import FINAL_STATUSES, DeploymentLog
from models.queries import logs_after
from web.dashboard.deployments import LevelFilter, TypeFilter, deployment_for
from web.dashboard.signed_in import UserDep
from web.dashboard.templating import environment
from web.deps import Services, ServicesDep

router = APIRouter(include_in_schema=False)
BATCH = 1000
POLL_SECONDS = 0.5
STREAM_SECONDS = 240.0
RETRY_MS = 1000


def event(name: str, data: str, event_id: int | None = None) -> str:
    # SSE ends a field at CR, LF or CRLF: normalise, then prefix every line of the payload.
    lines = data.replace("\r\n", "\n").replace("\r", "\n").split("\n")
    head = (f"id: {event_id}\n" if event_id is not None else "") + f"event: {name}\n"
    return head + "".join(f"data: {line}\n" for line in lines) + "\n"


def resume_point(request: Request, after: int) -> int:
    header = request.headers.get("last-event-id", "")
    return max(after, int(header)) if header.isdigit() else after


async def _status(services: Services, deployment_id: uuid.UUID) -> str | None:
    async with services.db.session() as session:
        deployment = await session.get(Deployment, deployment_id)
    return deployment.status if deployment else None


async def _batch(services: Services, deployment_id: uuid.UUID, cursor: int) -> list[DeploymentLog]:
    async with services.db.session() as session:
        return list(await logs_after(session, deployment_id=deployment_id, after=cursor, limit=BATCH))


async def stream(
    request: Request,
    services: Services,
    deployment_id: uuid.UUID,
    cursor: int,
    type_: str | None,
    level: str | None,
) -> AsyncIterator[str]:
    template = environment.get_template("_log_lines.html")
    yield f"retry: {RETRY_MS}\n\n"
    deadline = time.monotonic() + STREAM_SECONDS
    while time.monotonic() < deadline and not await request.is_disconnected():
        # Read the status before the lines: if it was final then, no line can come after these. Lines
        # of one deployment commit in id order (models.queries.lock_log_order), so the cursor never
        # steps over a line committed late.
        finished = await _status(services, deployment_id) in FINAL_STATUSES
        rows = await _batch(services, deployment_id, cursor)
        if rows:
            cursor = rows[-1].id or cursor
            shown = [r for r in rows if (not type_ or r.type == type_) and (not level or r.level == level)]
            # An id-only event still moves the browser's Last-Event-ID past filtered-out lines.
            yield event("lines", template.render(lines=shown) if shown else "", cursor)
            if len(rows) == BATCH or finished:
                continue  # more is waiting, or a finished log is read to its end without pausing
        elif finished:
            yield event("end", "finished", cursor)
            return
        await asyncio.sleep(POLL_SECONDS)


@router.get("/deployments/{deployment_id}/logs/stream")
async def log_stream(
    request: Request,
    deployment_id: uuid.UUID,
    services: ServicesDep,
    signed_in: UserDep,
    type_: TypeFilter = "",
    level: LevelFilter = "",
    after: int = Query(default=0, ge=0),
) -> StreamingResponse:
    await deployment_for(services, signed_in, deployment_id)
    return StreamingResponse(
        stream(
            request,
            services,
            deployment_id,
            resume_point(request, after),
            type_ or None,
            level or None,
        ),
        media_type="text/event-stream",
        headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"},
    )
