"""Connecting to Temporal with the data converter previewd's dataclasses need."""

from __future__ import annotations

import logging

from temporalio.client import Client, WorkflowExecutionStatus
from temporalio.runtime import Runtime
from temporalio.service import RPCError, RPCStatusCode

from config import Settings

log = logging.getLogger("previewd.temporal")


def temporal_address(settings: Settings) -> str:
    return settings.temporal_address or "localhost:7233"


async def connect(settings: Settings, runtime: Runtime | None = None) -> Client:
    """`runtime`: the worker's, exporting the SDK's metrics (runtime/metrics/processes.py)."""
    return await Client.connect(
        temporal_address(settings), namespace=settings.temporal_namespace, runtime=runtime
    )


async def workflow_running(client: Client, workflow_id: str, run_id: str | None = None) -> bool | None:
    """Whether the workflow (that run of it, with `run_id`) is running: False once it ended or when
    Temporal never heard of it, None when Temporal cannot say now (the caller keeps what it has)."""
    try:
        described = await client.get_workflow_handle(workflow_id, run_id=run_id).describe()
    except RPCError as error:
        if error.status == RPCStatusCode.NOT_FOUND:
            return False
        log.warning("could not ask Temporal about %s: %s", workflow_id, error.message)
        return None
    return described.status == WorkflowExecutionStatus.RUNNING
