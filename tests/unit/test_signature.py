"""webhook_signature.py: GitHub's X-Hub-Signature-256 header."""

from __future__ import annotations

import hashlib
import hmac

from webhook_signature import sign, signature_valid

SECRET = "webhook-secret"
BODY = b'{"action":"opened","number":2}'


def test_sign_matches_github_documented_example() -> None:
    # Example from GitHub's "Validating webhook deliveries" documentation.
    assert (
        sign("It's a Secret to Everybody", b"Hello, World!")
        == "sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17"
    )


def test_sign_is_prefixed_hmac_sha256_hex() -> None:
    expected = hmac.new(SECRET.encode(), BODY, hashlib.sha256).hexdigest()
    assert sign(SECRET, BODY) == f"sha256={expected}"


def test_signature_accepts_valid_header() -> None:
    assert signature_valid(SECRET, BODY, sign(SECRET, BODY)) is True


def test_signature_rejects_wrong_secret() -> None:
    assert signature_valid(SECRET, BODY, sign("another-secret", BODY)) is False


def test_signature_rejects_tampered_body() -> None:
    header = sign(SECRET, BODY)
    assert signature_valid(SECRET, BODY.replace(b"opened", b"closed"), header) is False
    assert signature_valid(SECRET, BODY + b" ", header) is False


def test_signature_rejects_missing_header() -> None:
    assert signature_valid(SECRET, BODY, None) is False
    assert signature_valid(SECRET, BODY, "") is False


def test_signature_rejects_header_without_sha256_prefix() -> None:
    bare_hex = sign(SECRET, BODY).removeprefix("sha256=")
    assert signature_valid(SECRET, BODY, bare_hex) is False
    assert signature_valid(SECRET, BODY, f"sha1={bare_hex}") is False


def test_signature_rejects_truncated_or_garbage_header() -> None:
    header = sign(SECRET, BODY)
    assert signature_valid(SECRET, BODY, header[:-1]) is False
    assert signature_valid(SECRET, BODY, "sha256=") is False
    assert signature_valid(SECRET, BODY, "sha256=ünïcode") is False
