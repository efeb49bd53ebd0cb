"""POST /webhooks/github: verify, record durably, answer. No git, no Temporal, no outbound call.

The recorded delivery is the outbox: the dispatcher forwards it to its workflow, so an accepted
delivery survives a Temporal outage (GitHub does not retry failed deliveries by itself).
"""

from __future__ import annotations

import json
import uuid
from typing import Any

from fastapi import APIRouter, Header, HTTPException, Request
from sqlalchemy import text
from sqlalchemy.dialects.postgresql import insert
from sqlmodel import col, select

from models import Project, WebhookDelivery
from models.common import utcnow
from models.deliveries import DeliveryOutcome
from web.deps import ServicesDep
from web.github_events import MalformedPayload, pull_request_event
from web.signature import signature_valid
from workflows.signals import workflow_id_for

MAX_BODY_BYTES = 25 * 1024 * 1024

router = APIRouter()


async def read_body(request: Request) -> bytes:
    declared = request.headers.get("content-length")
    if declared and declared.isdigit() and int(declared) > MAX_BODY_BYTES:
        raise HTTPException(413, "payload larger than 25 MB")
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > MAX_BODY_BYTES:
            raise HTTPException(413, "payload larger than 25 MB")
        chunks.append(chunk)
    return b"".join(chunks)


@router.post("/webhooks/github", status_code=202)
async def github_webhook(
    request: Request,
    services: ServicesDep,
    x_github_event: str | None = Header(default=None),
    x_github_delivery: str | None = Header(default=None),
    x_hub_signature_256: str | None = Header(default=None),
) -> dict[str, str]:
    body = await read_body(request)
    if not signature_valid(services.webhook_secret, body, x_hub_signature_256):
        raise HTTPException(401, "missing or invalid X-Hub-Signature-256")
    if not x_github_event or not x_github_delivery or len(x_github_delivery) > 100:
        raise HTTPException(400, "X-GitHub-Event and X-GitHub-Delivery headers are required")
    try:
        payload = json.loads(body)
    except ValueError:
        raise HTTPException(400, "body is not valid JSON") from None
    if not isinstance(payload, dict):
        raise HTTPException(400, "body must be a JSON object")
    action = payload.get("action") if isinstance(payload.get("action"), str) else None
    row = await _plan(services, x_github_event, action, payload, x_github_delivery)
    async with services.db.session() as session:
        inserted = (
            await session.execute(
                insert(WebhookDelivery)
                .values(**row)
                .on_conflict_do_nothing(index_elements=["delivery_id"])
                .returning(text("id"))
            )
        ).first()
        await session.commit()
    if inserted is None:
        return {"status": "duplicate", "delivery": x_github_delivery}
    if row["outcome"] == DeliveryOutcome.QUEUED:
        services.dispatcher.wake()
    return {"status": str(row["outcome"]), "delivery": x_github_delivery}


async def _plan(
    services: ServicesDep, event: str, action: str | None, payload: dict[str, Any], delivery_id: str
) -> dict[str, Any]:
    row: dict[str, Any] = {
        "delivery_id": delivery_id,
        "event": event[:50],
        "action": action[:50] if action else None,
        "received_at": utcnow(),
        "outcome": DeliveryOutcome.IGNORED,
    }
    if event == "ping":
        return row | {"reason": "ping"}
    if event != "pull_request":
        return row | {"reason": f"event {event} is not handled"}
    try:
        pr = pull_request_event(action, payload, delivery_id)
    except MalformedPayload as error:
        raise HTTPException(400, str(error)) from None
    if pr is None:
        return row | {"reason": f"action {action} is not handled"}
    project_id = await _active_project_id(services, pr.repo_id)
    if project_id is None:
        return row | {"reason": "no active project for this repository", "pr_number": pr.pr_number}
    return row | {
        "outcome": DeliveryOutcome.QUEUED,
        "project_id": project_id,
        "pr_number": pr.pr_number,
        "workflow_id": workflow_id_for(str(project_id), pr.pr_number),
        "signal": pr.signal,
        "signal_args": pr.args,
    }


async def _active_project_id(services: ServicesDep, repo_id: int) -> uuid.UUID | None:
    async with services.db.session() as session:
        result = await session.execute(
            select(Project.id).where(Project.github_repo_id == repo_id, col(Project.is_active)).limit(1)
        )
        value: uuid.UUID | None = result.scalar_one_or_none()
        return value
