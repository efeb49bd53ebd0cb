"""NotificationWorkflow: one preview event told to each channel of its project that wants it.

Started by PreviewWorkflow as an abandoned child (workflows/preview_events.py), so a receiver that is
down holds neither the preview back nor a closed PR's run open. Its id is the event's: the same event
started twice is one workflow, one message per channel.

Each channel's send is retried by Temporal for up to an hour (a receiver down for a while still gets
it), never after a refusal (a 4xx, an address the guard refuses). Either way out is recorded, so the
dashboard shows it.
"""

from __future__ import annotations

import asyncio
from datetime import timedelta

from temporalio import workflow
from temporalio.common import RetryPolicy
from temporalio.exceptions import ActivityError, ApplicationError

with workflow.unsafe.imports_passed_through():
    from workflows.failures import describe_failure
    from workflows.notification_io import (
        NOTIFICATION_WORKFLOW,
        GaveUpInput,
        NotifyActivity,
        NotifyError,
        PreviewEvent,
        SendInput,
    )

# Bookkeeping in Postgres: retried until the database answers.
STORE_TIMEOUT = timedelta(seconds=30)
STORE_RETRY = RetryPolicy(maximum_interval=timedelta(seconds=10))
# The limit on retries of one send; the interval is capped low so that a receiver that comes back is
# sent its messages within seconds, not minutes.
SEND_LIMIT = timedelta(hours=1)
SEND_RETRY = RetryPolicy(
    initial_interval=timedelta(seconds=1),
    maximum_interval=timedelta(seconds=10),
    non_retryable_error_types=[NotifyError.REFUSED],
)


@workflow.defn(name=NOTIFICATION_WORKFLOW)
class NotificationWorkflow:
    @workflow.run
    async def run(self, event: PreviewEvent) -> None:
        channel_ids: list[str] = await workflow.execute_activity(
            NotifyActivity.TARGETS, event, start_to_close_timeout=STORE_TIMEOUT, retry_policy=STORE_RETRY
        )
        await asyncio.gather(*(self._send(event, channel_id) for channel_id in channel_ids))

    async def _send(self, event: PreviewEvent, channel_id: str) -> None:
        try:
            await workflow.execute_activity(
                NotifyActivity.SEND,
                SendInput(event=event, channel_id=channel_id),
                start_to_close_timeout=timedelta(seconds=60),
                schedule_to_close_timeout=SEND_LIMIT,
                retry_policy=SEND_RETRY,
            )
        except ActivityError as failure:
            # A refusal says why in our own words (activities/notifications.py); otherwise the hour
            # ran out, and the last attempt's outcome is on the send's row already.
            cause = failure.cause
            refused = isinstance(cause, ApplicationError) and cause.type == NotifyError.REFUSED
            detail = describe_failure(failure) if refused else "not delivered within an hour"
            await workflow.execute_activity(
                NotifyActivity.GAVE_UP,
                GaveUpInput(event=event, channel_id=channel_id, detail=f"gave up: {detail}"),
                start_to_close_timeout=STORE_TIMEOUT,
                retry_policy=STORE_RETRY,
            )
