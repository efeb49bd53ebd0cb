"""Builds the FastAPI app: webhooks, JSON API, health; the dispatcher runs beside it."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI

from config import Settings
from models.crypto import Keyring
from models.db import Database
from runtime.data_dir import secret_keys, webhook_secret
from web import api, health, webhooks
from web.deps import Services
from web.dispatcher import Dispatcher


def create_app(settings: Settings, database_url: str, db: Database | None = None) -> FastAPI:
    db = db or Database(database_url, pool_size=20)
    services = Services(
        settings=settings,
        db=db,
        keyring=Keyring(secret_keys(settings)),
        webhook_secret=webhook_secret(settings),
        dispatcher=None,  # type: ignore[arg-type]  # set just below: it needs services.temporal
    )
    services.dispatcher = Dispatcher(settings, db, services.temporal)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        task = asyncio.create_task(services.dispatcher.run())
        yield
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        await db.dispose()

    app = FastAPI(title="previewd", version="0.1.0", lifespan=lifespan)
    app.state.services = services
    app.include_router(webhooks.router)
    app.include_router(api.router)
    app.include_router(health.router)
    return app
