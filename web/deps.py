"""What routes depend on: the process-wide services, reached through request.app.state."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Annotated

from fastapi import Depends, Path, Request
from temporalio.client import Client

from config import Settings
from models.crypto import Keyring
from models.db import Database
from runtime.temporal_client import connect
from web.delivery_log import DeliveryLog
from web.pieces import Pieces
from web.sandbox_status import SandboxStatus


@dataclass
class Services:
    settings: Settings
    db: Database
    keyring: Keyring
    webhook_secret: str
    deliveries: DeliveryLog
    sandbox: SandboxStatus
    _temporal: Client | None = None
    pieces: Pieces = field(init=False)

    def __post_init__(self) -> None:
        self.pieces = Pieces(self.db, self.temporal)

    async def temporal(self) -> Client:
        """Connected on first use, so the web app starts (and takes webhooks) while Temporal is down."""
        if self._temporal is None:
            self._temporal = await connect(self.settings)
        return self._temporal


def get_services(request: Request) -> Services:
    services: Services = request.app.state.services
    return services


ServicesDep = Annotated[Services, Depends(get_services)]
# A PR number in a path: what GitHub numbers PRs with, and what Postgres's INTEGER columns hold (a
# larger one would pass to Temporal and fail at the audit row as a 500 instead of naming the field).
PullNumber = Annotated[int, Path(ge=1, le=2**31 - 1)]
