"""/healthz: the process answers. /readyz: Postgres and Temporal are reachable too."""

from __future__ import annotations

import asyncio

from fastapi import APIRouter
from fastapi.responses import JSONResponse
from sqlalchemy import text

from web.deps import ServicesDep

router = APIRouter()


@router.get("/healthz")
async def healthz() -> dict[str, str]:
    return {"status": "ok"}


@router.get("/readyz")
async def readyz(services: ServicesDep) -> JSONResponse:
    checks: dict[str, str] = {}
    try:
        async with services.db.session() as session:
            await asyncio.wait_for(session.execute(text("SELECT 1")), 3)
        checks["postgres"] = "ok"
    except Exception as error:
        checks["postgres"] = f"unreachable: {type(error).__name__}"
    try:
        client = await asyncio.wait_for(services.temporal(), 3)
        await asyncio.wait_for(client.service_client.check_health(), 3)
        checks["temporal"] = "ok"
    except Exception as error:
        checks["temporal"] = f"unreachable: {type(error).__name__}"
    ready = all(value == "ok" for value in checks.values())
    return JSONResponse(
        {"status": "ready" if ready else "not ready", **checks}, status_code=200 if ready else 503
    )
