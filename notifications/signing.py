"""A generic webhook's signature, the way GitHub signs its own: HMAC-SHA256 of the raw body under the
channel's secret, hex, as `X-Previewd-Signature-256: sha256=<hex>`. The body carries the delivery id
and a timestamp, so both are signed too (a receiver can refuse old or repeated deliveries)."""

from __future__ import annotations

import hashlib
import hmac
import secrets

SIGNATURE_HEADER = "X-Previewd-Signature-256"
DELIVERY_HEADER = "X-Previewd-Delivery"
EVENT_HEADER = "X-Previewd-Event"
TIMESTAMP_HEADER = "X-Previewd-Timestamp"
SECRET_PREFIX = "pvdwh_"


def new_signing_secret() -> str:
    return SECRET_PREFIX + secrets.token_urlsafe(32)


def signature(secret: str, body: bytes) -> str:
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
