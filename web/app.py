"""Builds the FastAPI app: webhooks, JSON API, health, and the dashboard."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI

from config import Settings
from models.crypto import Keyring
from models.db import Database
from runtime.data_dir import secret_keys, webhook_secret
from web import api, api_notifications, health, webhooks
from web.dashboard.install import install as install_dashboard
from web.delivery_log import DeliveryLog
from web.deps import Services
from web.pieces import PiecesDownMiddleware
from web.sandbox_status import SandboxNoticeMiddleware, SandboxStatus

# Postgres connections the web app's ORM pool keeps open, for the dashboard, the API and the proxy's
# route lookups (webhooks have their own pool, web/delivery_log.py); a burst opens up to 10 more, closed
# after it. Each kept one is a backend whose RSS grows with the shared buffers it touches.
WEB_DB_CONNECTIONS = 8


def create_app(settings: Settings, database_url: str, db: Database | None = None) -> FastAPI:
    db = db or Database(database_url, pool_size=WEB_DB_CONNECTIONS)
    services = Services(
        settings=settings,
        db=db,
        keyring=Keyring(secret_keys(settings)),
        webhook_secret=webhook_secret(settings),
        deliveries=DeliveryLog(database_url),
        sandbox=SandboxStatus(db),
    )

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        await services.deliveries.open()
        yield
        await services.deliveries.close()
        await services.pieces.close()
        await db.dispose()

    app = FastAPI(title="previewd", version="0.1.0", lifespan=lifespan)
    app.state.services = services
    app.add_route(webhooks.PATH, webhooks.github_webhook, methods=["POST"])
    app.include_router(api.router)
    app.include_router(api_notifications.router)
    app.include_router(health.router)
    install_dashboard(app, services)
    app.add_middleware(SandboxNoticeMiddleware, status=services.sandbox)
    app.add_middleware(PiecesDownMiddleware, pieces=services.pieces)
    return app
