"""What a preview event is, as NotificationWorkflow and its activities pass it around.

Every field has a default so that fields can be added without breaking saved histories. Nothing here
is secret: an event says which PR, commit and URL, and the activity adds links, never logs or errors.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

NOTIFICATION_WORKFLOW = "NotificationWorkflow"


class EventKind(StrEnum):
    READY = "ready"
    FAILED = "failed"
    # Ready after a failure of the same PR (PreviewState.last_outcome).
    RECOVERED = "recovered"
    DESTROYED = "destroyed"
    EXPIRING = "expiring"
    AWAITING_APPROVAL = "awaiting_approval"
    # "Send a test message" on the dashboard: never raised by a preview, never subscribed to.
    TEST = "test"


# What a channel can be subscribed to, in the order the dashboard lists them.
SUBSCRIBABLE = [k for k in EventKind if k != EventKind.TEST]

EVENT_LABELS: dict[EventKind, str] = {
    EventKind.READY: "ready",
    EventKind.FAILED: "failed",
    EventKind.RECOVERED: "recovered (ready after a failure)",
    EventKind.DESTROYED: "destroyed",
    EventKind.EXPIRING: "expiring soon",
    EventKind.AWAITING_APPROVAL: "waiting for approval",
    EventKind.TEST: "a test message",
}


class NotifyActivity:
    TARGETS = "notifications.targets"
    SEND = "notifications.send"
    GAVE_UP = "notifications.gave_up"


class NotifyError:
    # The receiver refused (a 4xx), or the guard refused its address: retrying changes nothing.
    REFUSED = "NotificationRefused"


@dataclass
class PreviewEvent:
    # Deterministic (workflow id, event, deployment or sha): the child workflow's id and the delivery
    # id receivers see, so a replayed or duplicated event is one message.
    event_id: str = ""
    kind: EventKind = EventKind.READY
    project_id: str = ""
    pr_number: int = 0
    sha: str = ""
    deployment_id: str = ""
    url: str = ""
    # When it happened (workflow time), ISO 8601.
    at: str = ""
    # EXPIRING: when; DESTROYED: "expired", "closed" or "destroyed".
    expires_at: str = ""
    reason: str = ""


@dataclass
class SendInput:
    event: PreviewEvent
    channel_id: str = ""


@dataclass
class GaveUpInput:
    event: PreviewEvent
    channel_id: str = ""
    detail: str = ""
