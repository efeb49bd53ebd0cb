"""What a channel is told: signed the way GitHub signs, the PR, commit, URL and logs link, and
nothing else (no error text, no log lines); Slack's control characters escaped."""

from __future__ import annotations

import hashlib
import hmac
import json

from models.notifications import ChannelKind
from notifications.channels import hint_of
from notifications.messages import email_message, notice_for, slack_body, webhook_body
from notifications.signing import new_signing_secret, signature
from workflows.notification_io import EventKind, PreviewEvent

SHA = "0123456789abcdef0123456789abcdef01234567"


def event(kind: EventKind = EventKind.READY, **extra: str) -> PreviewEvent:
    return PreviewEvent(
        event_id="preview-p-pr-4-ready-d1", kind=kind, project_id="p", pr_number=4, sha=SHA,
        deployment_id="d1", url="https://pr-4.example.dev/", at="2026-11-30T23:00:00+00:00", **extra,
    )  # fmt: skip


def test_the_signature_is_githubs_scheme() -> None:
    secret, body = new_signing_secret(), b'{"event":"ready"}'
    expected = hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
    assert signature(secret, body) == f"sha256={expected}"
    assert signature(secret, body + b" ") != signature(secret, body)
    assert new_signing_secret() != secret


def test_the_webhook_body_carries_delivery_timestamp_and_links() -> None:
    notice = notice_for(event(), repository="o/r", github_url="https://github.com", base_url="https://pvd")
    body = json.loads(webhook_body(notice))
    assert (
        body["delivery_id"] == "preview-p-pr-4-ready-d1" and body["timestamp"] == "2026-11-30T23:00:00+00:00"
    )
    assert body["pull_request"] == {"number": 4, "url": "https://github.com/o/r/pull/4"}
    assert body["commit"] == SHA and body["preview_url"] == "https://pr-4.example.dev/"
    assert body["logs_url"] == "https://pvd/deployments/d1"
    assert set(body) == {
        "delivery_id", "event", "timestamp", "repository", "pull_request", "commit", "preview_url",
        "logs_url", "expires_at", "reason",
    }  # fmt: skip


def test_slack_text_is_escaped_and_email_is_plain() -> None:
    notice = notice_for(
        event(EventKind.FAILED), repository="o/<r>&", github_url="https://g", base_url="https://p"
    )
    text = json.loads(slack_body(notice))["text"]
    assert "o/&lt;r&gt;&amp;#4" in text and "<r>" not in text
    assert "Preview:" not in text  # a failure has no preview to link
    mail = email_message(notice, sender="previewd@example.com", recipients=["a@example.com"])
    assert mail["Subject"] == "[previewd] Preview failed: o/<r>&#4"
    assert "Logs: https://p/deployments/d1" in mail.get_content()


def test_hints_show_the_host_and_never_the_whole_target() -> None:
    url = "https://hooks.slack.com/services/T000/B000/abcdefSECRET1234"
    hint = hint_of(ChannelKind.SLACK, url)
    assert hint == "https://hooks.slack.com/…1234" and "SECRET" not in hint
    assert (
        hint_of(ChannelKind.EMAIL, "alice@example.com, bob@corp.example") == "a…@example.com, b…@corp.example"
    )
