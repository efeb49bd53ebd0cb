"""What a channel is told about an event: the PR, the commit, the preview's URL and a link to its logs.

Nothing secret goes in: no log lines, no error text (a build's output may hold anything), no
configuration. What a failure was about is behind the logs link, where the dashboard checks who asks.
"""

from __future__ import annotations

import html
import json
from dataclasses import dataclass
from email.message import EmailMessage

from workflows.notification_io import EVENT_LABELS, EventKind, PreviewEvent

HEADLINES: dict[EventKind, str] = {
    EventKind.READY: "Preview ready",
    EventKind.FAILED: "Preview failed",
    EventKind.RECOVERED: "Preview ready again after a failure",
    EventKind.DESTROYED: "Preview destroyed",
    EventKind.EXPIRING: "Preview expiring soon",
    EventKind.AWAITING_APPROVAL: "Preview waiting for a maintainer's approval",
    EventKind.TEST: "A test message from previewd",
}


@dataclass(frozen=True)
class Notice:
    """An event with the links a person needs, ready to be put into each channel's shape."""

    event: PreviewEvent
    repository: str
    pr_url: str
    logs_url: str

    @property
    def headline(self) -> str:
        return f"{HEADLINES[self.event.kind]}: {self.repository}#{self.event.pr_number}"

    def lines(self) -> list[str]:
        event = self.event
        lines = [f"Pull request: {self.pr_url}", f"Commit: {event.sha[:12] or '-'}"]
        if event.url and event.kind in (EventKind.READY, EventKind.RECOVERED, EventKind.EXPIRING):
            lines.append(f"Preview: {event.url}")
        if event.expires_at:
            lines.append(f"Expires at: {event.expires_at}")
        if event.reason:
            lines.append(f"Why: {event.reason}")
        lines.append(f"Logs: {self.logs_url}")
        return lines


def notice_for(event: PreviewEvent, *, repository: str, github_url: str, base_url: str) -> Notice:
    logs = (
        f"{base_url}/deployments/{event.deployment_id}"
        if event.deployment_id
        else f"{base_url}/projects/{event.project_id}"
    )
    return Notice(
        event=event, repository=repository, pr_url=f"{github_url}/{repository}/pull/{event.pr_number}",
        logs_url=logs,
    )  # fmt: skip


def webhook_body(notice: Notice) -> bytes:
    event = notice.event
    body = {
        "delivery_id": event.event_id,
        "event": str(event.kind),
        "timestamp": event.at,
        "repository": notice.repository,
        "pull_request": {"number": event.pr_number, "url": notice.pr_url},
        "commit": event.sha,
        "preview_url": event.url or None,
        "logs_url": notice.logs_url,
        "expires_at": event.expires_at or None,
        "reason": event.reason or None,
    }
    return json.dumps(body, separators=(",", ":")).encode()


def _slack_escaped(text: str) -> str:
    # Slack's mrkdwn control characters are &, < and > (api.slack.com "Escaping text"): exactly what
    # html.escape replaces when quotes are left alone.
    return html.escape(text, quote=False)


def slack_body(notice: Notice) -> bytes:
    text = "\n".join([f"*{_slack_escaped(notice.headline)}*", *map(_slack_escaped, notice.lines())])
    return json.dumps({"text": text}).encode()


def email_message(notice: Notice, *, sender: str, recipients: list[str]) -> EmailMessage:
    message = EmailMessage()
    message["Subject"] = f"[previewd] {notice.headline}"
    message["From"] = sender
    message["To"] = ", ".join(recipients)
    # Threads by delivery: a receiver (or a person) can tell a repeat from a new event.
    message["X-Previewd-Delivery"] = notice.event.event_id
    label = EVENT_LABELS[notice.event.kind]
    message.set_content("\n".join([notice.headline, "", f"Event: {label}", *notice.lines(), ""]))
    return message
