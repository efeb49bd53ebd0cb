"""GitHub's X-Hub-Signature-256: HMAC-SHA256 of the raw body, compared in constant time.

Top level because both ends use it: the web app checks deliveries, the CLI and benchmarks sign them.
"""

from __future__ import annotations

import hashlib
import hmac


def sign(secret: str, body: bytes) -> str:
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def signature_valid(secret: str, body: bytes, header: str | None) -> bool:
    if not header or not secret:
        return False
    return hmac.compare_digest(sign(secret, body).encode(), header.encode())
