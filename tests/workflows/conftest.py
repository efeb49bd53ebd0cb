from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from temporalio.client import Client
from temporalio.testing import WorkflowEnvironment

from tests.workflows.harness import Harness, dev_server, running_workers


@pytest.fixture(scope="session")
async def temporal_env() -> AsyncIterator[WorkflowEnvironment]:
    async with dev_server() as env:
        yield env


@pytest.fixture
async def client(temporal_env: WorkflowEnvironment) -> Client:
    return temporal_env.client


@pytest.fixture
async def harness(client: Client) -> AsyncIterator[Harness]:
    """Fresh task queues (shared, host, build) with their workers and an empty recorder."""
    async with running_workers(client) as harness:
        yield harness
