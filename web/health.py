"""/healthz: the process answers. /readyz: Postgres, Temporal and a worker are up, or which is not."""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import JSONResponse

from web.deps import ServicesDep
from web.pieces import OK

router = APIRouter()


@router.get("/healthz")
async def healthz() -> dict[str, str]:
    return {"status": "ok"}


@router.get("/readyz")
async def readyz(services: ServicesDep) -> JSONResponse:
    checks = await services.pieces.check()
    down = [piece for piece, state in checks.items() if state != OK]
    return JSONResponse(
        {"status": "not ready" if down else "ready", "down": down, **checks},
        status_code=503 if down else 200,
    )
