"""Sending one notice to one channel: a Slack incoming webhook, a signed generic webhook, or email
through the operator's SMTP server.

Outcomes are told in our own words ("HTTP 410", "connection refused"): the receiver's body is never
read back, kept or shown, so a channel cannot be used to read what answers at some address. It is not
even read: a receiver's answer is its own code talking, and a body that never ends (or headers that
trickle in a byte at a time) would hold the send and fill the process's memory. The status line is
all we look at, and one deadline (PREVIEWD_NOTIFICATIONS_SEND_SECONDS) bounds the whole send: name
lookup, connection, TLS, request and status line (or the whole SMTP conversation).
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

import aiosmtplib
import httpx

from config import Settings
from models.notifications import ChannelKind
from notifications import address_guard
from notifications.messages import Notice, email_message, slack_body, webhook_body
from notifications.signing import (
    DELIVERY_HEADER,
    EVENT_HEADER,
    SIGNATURE_HEADER,
    TIMESTAMP_HEADER,
    signature,
)

# 4xx answers that mean "later", not "never".
RETRYABLE_4XX = frozenset({408, 425, 429})


class Refused(Exception):
    """The receiver (or the guard) said no in a way retrying will not change."""


class Unreachable(Exception):
    """Not delivered this time (down, a timeout, a 5xx): worth trying again."""


@dataclass(frozen=True)
class Channel:
    """A channel with its target decrypted, only for the moment of sending."""

    kind: ChannelKind
    target: str
    signing_secret: str = ""


async def deliver(channel: Channel, notice: Notice, settings: Settings) -> None:
    """Sent, or Refused / Unreachable; never longer than the send deadline."""
    try:
        async with asyncio.timeout(settings.previewd_notifications_send_seconds):
            await _deliver(channel, notice, settings)
    except TimeoutError:
        raise Unreachable("timed out") from None


async def _deliver(channel: Channel, notice: Notice, settings: Settings) -> None:
    if channel.kind == ChannelKind.EMAIL:
        await _send_email(channel, notice, settings)
        return
    if channel.kind == ChannelKind.SLACK:
        body, headers = slack_body(notice), {"Content-Type": "application/json"}
    else:
        body = webhook_body(notice)
        headers = {
            "Content-Type": "application/json",
            DELIVERY_HEADER: notice.event.event_id,
            EVENT_HEADER: str(notice.event.kind),
            TIMESTAMP_HEADER: notice.event.at,
            SIGNATURE_HEADER: signature(channel.signing_secret, body),
        }
    await post(channel.target, body, headers, settings)


async def post(url: str, body: bytes, headers: dict[str, str], settings: Settings) -> None:
    try:
        target = await address_guard.resolve(url, allow_private=settings.previewd_notifications_allow_private)
    except address_guard.AddressRefused as refused:
        raise Refused(f"the URL {refused}") from None
    pinned, host_header, extensions = address_guard.pinned_url(target)
    # No proxies from the environment and no redirects: the request goes to the address just checked.
    timeout = httpx.Timeout(settings.previewd_notifications_send_seconds)
    async with httpx.AsyncClient(timeout=timeout, follow_redirects=False, trust_env=False) as client:
        request = client.build_request(
            "POST", pinned, content=body, headers={**headers, **host_header, "User-Agent": "previewd"},
            extensions=extensions,
        )  # fmt: skip
        try:
            # stream=True: the status line and headers, never the body (see the module's docstring).
            response = await client.send(request, stream=True)
            await response.aclose()
        except httpx.TimeoutException:
            raise Unreachable("timed out") from None
        except httpx.TransportError:
            raise Unreachable("could not connect") from None
    status = response.status_code
    if 200 <= status < 300:
        return
    if 300 <= status < 400:
        raise Refused(f"HTTP {status} (redirects are not followed)")
    if 400 <= status < 500 and status not in RETRYABLE_4XX:
        raise Refused(f"HTTP {status}")
    raise Unreachable(f"HTTP {status}")


async def _send_email(channel: Channel, notice: Notice, settings: Settings) -> None:
    if not settings.previewd_smtp_host:
        raise Refused("no SMTP server is set up (PREVIEWD_SMTP_HOST)")
    recipients = [address.strip() for address in channel.target.split(",") if address.strip()]
    message = email_message(notice, sender=settings.previewd_smtp_from, recipients=recipients)
    password = settings.previewd_smtp_password
    try:
        await aiosmtplib.send(
            message,
            hostname=settings.previewd_smtp_host,
            port=settings.previewd_smtp_port,
            username=settings.previewd_smtp_username,
            password=password.get_secret_value() if password else None,
            start_tls=settings.previewd_smtp_starttls,
            timeout=settings.previewd_notifications_send_seconds,
        )
    except aiosmtplib.SMTPRecipientsRefused:
        raise Refused("the SMTP server refused the recipients") from None
    except aiosmtplib.SMTPResponseException as error:
        # 5xx is a permanent refusal; 4xx a temporary one (SMTP's own rule, RFC 5321 4.2.1).
        if 500 <= error.code < 600:
            raise Refused(f"SMTP {error.code}") from None
        raise Unreachable(f"SMTP {error.code}") from None
    except (aiosmtplib.SMTPException, OSError):
        raise Unreachable("could not reach the SMTP server") from None
