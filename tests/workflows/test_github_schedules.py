"""The GitHub reconciles' schedules follow the settings: made at the set interval, brought in line when
it changes, removed when it is 0."""

from __future__ import annotations

from datetime import timedelta

import pytest
from temporalio.client import Client
from temporalio.service import RPCError, RPCStatusCode

from activities.github.schedules import ensure_github_schedules
from config import Settings
from workflows.github_reconcile import DRIFT_SCHEDULE_ID, REDELIVERY_SCHEDULE_ID


def settings(redelivery: int, drift: int) -> Settings:
    return Settings(
        _env_file=None,
        temporal_task_queue="schedules-test",
        previewd_redelivery_interval_minutes=redelivery,
        previewd_drift_interval_minutes=drift,
    )


async def every(client: Client, schedule_id: str) -> timedelta:
    described = await client.get_schedule_handle(schedule_id).describe()
    (interval,) = described.schedule.spec.intervals
    return interval.every


async def test_schedules_are_made_updated_and_removed_by_the_settings(client: Client) -> None:
    await ensure_github_schedules(client, settings(3, 10))
    assert await every(client, REDELIVERY_SCHEDULE_ID) == timedelta(minutes=3)
    assert await every(client, DRIFT_SCHEDULE_ID) == timedelta(minutes=10)

    await ensure_github_schedules(client, settings(5, 10))
    assert await every(client, REDELIVERY_SCHEDULE_ID) == timedelta(minutes=5)

    await ensure_github_schedules(client, settings(0, 0))
    for schedule_id in (REDELIVERY_SCHEDULE_ID, DRIFT_SCHEDULE_ID):
        with pytest.raises(RPCError) as gone:
            await client.get_schedule_handle(schedule_id).describe()
        assert gone.value.status == RPCStatusCode.NOT_FOUND
    await ensure_github_schedules(client, settings(0, 0))  # nothing to remove is fine
