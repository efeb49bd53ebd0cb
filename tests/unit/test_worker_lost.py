"""A worker whose Temporal worker (or dispatcher) ends by itself says which and why, and reports it so
that the process leaves (worker.until_stopped_or_lost); a stop asked for is not a loss."""

from __future__ import annotations

import asyncio
import logging

import pytest

from worker import until_stopped_or_lost


async def _fails() -> None:
    await asyncio.sleep(0.01)
    raise RuntimeError("Namespace no-such-namespace is not found")


async def _runs_forever() -> None:
    await asyncio.Event().wait()


def test_a_piece_that_fails_by_itself_is_named_with_its_error(caplog: pytest.LogCaptureFixture) -> None:
    async def scenario() -> bool:
        pieces = {"the Temporal worker of q": asyncio.create_task(_fails()),
                  "the outbox dispatcher": asyncio.create_task(_runs_forever())}  # fmt: skip
        lost = await until_stopped_or_lost(asyncio.Event(), pieces)
        pieces["the outbox dispatcher"].cancel()
        return lost

    with caplog.at_level(logging.CRITICAL, logger="previewd.worker"):
        assert asyncio.run(scenario()) is True
    [record] = caplog.records
    assert "the Temporal worker of q stopped by itself" in record.getMessage()
    assert "RuntimeError: Namespace no-such-namespace is not found" in record.getMessage()


def test_a_stop_asked_for_is_not_a_loss(caplog: pytest.LogCaptureFixture) -> None:
    async def scenario() -> bool:
        stop = asyncio.Event()
        task = asyncio.create_task(_runs_forever())
        asyncio.get_running_loop().call_later(0.01, stop.set)
        lost = await until_stopped_or_lost(stop, {"the outbox dispatcher": task})
        task.cancel()
        return lost

    with caplog.at_level(logging.CRITICAL, logger="previewd.worker"):
        assert asyncio.run(scenario()) is False
    assert caplog.records == []
