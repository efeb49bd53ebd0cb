"""Connecting to Temporal with the data converter previewd's dataclasses need."""

from __future__ import annotations

from temporalio.client import Client

from config import Settings


def temporal_address(settings: Settings) -> str:
    return settings.temporal_address or "localhost:7233"


async def connect(settings: Settings) -> Client:
    return await Client.connect(temporal_address(settings), namespace=settings.temporal_namespace)
