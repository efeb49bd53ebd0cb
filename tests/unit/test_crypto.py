"""models/crypto.py: AES-256-GCM keyring with rotation."""

from __future__ import annotations

import base64
import os

import pytest
from cryptography.exceptions import InvalidTag

from models.crypto import NONCE_BYTES, Keyring, SecretKeyError, key_id_of


def make_key() -> tuple[str, bytes]:
    raw = os.urandom(32)
    return base64.urlsafe_b64encode(raw).decode(), raw


def test_round_trip_returns_plaintext() -> None:
    key, raw = make_key()
    ring = Keyring([key])
    ciphertext, key_id = ring.encrypt("s3cr3t value ✓", associated="project-1/API_TOKEN")
    assert key_id == ring.current_key_id == key_id_of(raw)
    assert ring.decrypt(ciphertext, key_id, associated="project-1/API_TOKEN") == "s3cr3t value ✓"


def test_round_trip_of_empty_plaintext() -> None:
    ring = Keyring([make_key()[0]])
    ciphertext, key_id = ring.encrypt("", associated="a")
    assert ring.decrypt(ciphertext, key_id, associated="a") == ""


def test_ciphertext_differs_each_time_and_hides_plaintext() -> None:
    ring = Keyring([make_key()[0]])
    first, _ = ring.encrypt("same plaintext", associated="a")
    second, _ = ring.encrypt("same plaintext", associated="a")
    assert first != second
    assert first[:NONCE_BYTES] != second[:NONCE_BYTES]
    assert b"same plaintext" not in first


def test_wrong_associated_data_fails() -> None:
    ring = Keyring([make_key()[0]])
    ciphertext, key_id = ring.encrypt("value", associated="project-1/NAME")
    with pytest.raises(InvalidTag):
        ring.decrypt(ciphertext, key_id, associated="project-2/NAME")


def test_tampered_ciphertext_fails() -> None:
    ring = Keyring([make_key()[0]])
    ciphertext, key_id = ring.encrypt("value", associated="a")
    tampered = ciphertext[:-1] + bytes([ciphertext[-1] ^ 1])
    with pytest.raises(InvalidTag):
        ring.decrypt(tampered, key_id, associated="a")


def test_ciphertext_of_another_key_is_refused_by_key_id() -> None:
    key, _ = make_key()
    other, other_raw = make_key()
    ciphertext, key_id = Keyring([key]).encrypt("value", associated="a")
    with pytest.raises(SecretKeyError):
        Keyring([other]).decrypt(ciphertext, key_id, associated="a")
    assert key_id != key_id_of(other_raw)


def test_rotation_old_key_still_decrypts_and_new_key_encrypts() -> None:
    old_key, old_raw = make_key()
    new_key, new_raw = make_key()
    old_ciphertext, old_id = Keyring([old_key]).encrypt("old value", associated="a")

    rotated = Keyring([new_key, old_key])

    assert rotated.current_key_id == key_id_of(new_raw)
    assert rotated.current_key_id != old_id == key_id_of(old_raw)
    assert rotated.decrypt(old_ciphertext, old_id, associated="a") == "old value"
    new_ciphertext, new_id = rotated.encrypt("new value", associated="a")
    assert new_id == key_id_of(new_raw)
    assert rotated.decrypt(new_ciphertext, new_id, associated="a") == "new value"
    with pytest.raises(SecretKeyError):
        Keyring([old_key]).decrypt(new_ciphertext, new_id, associated="a")


def test_current_key_id_is_the_first_key() -> None:
    a, a_raw = make_key()
    b, b_raw = make_key()
    assert Keyring([a, b]).current_key_id == key_id_of(a_raw)
    assert Keyring([b, a]).current_key_id == key_id_of(b_raw)


def test_key_without_base64_padding_is_accepted() -> None:
    key, raw = make_key()
    assert Keyring([key.rstrip("=")]).current_key_id == key_id_of(raw)


@pytest.mark.parametrize(
    "bad_key",
    [
        "not-a-valid-key-XYZ123",
        base64.urlsafe_b64encode(b"k" * 31).decode(),
        base64.urlsafe_b64encode(b"k" * 33).decode(),
        base64.urlsafe_b64encode(b"k" * 16).decode(),
        "ключ-не-base64-ключ-не-base64-ключ-не-base64",
        "%%%%!!!!####",
    ],
)
def test_malformed_key_raises_without_echoing_the_key(bad_key: str) -> None:
    with pytest.raises(SecretKeyError) as caught:
        Keyring([make_key()[0], bad_key])
    assert bad_key not in str(caught.value)
    assert bad_key.rstrip("=") not in str(caught.value)
    assert "PREVIEWD_SECRET_KEYS" in str(caught.value)


def test_empty_key_list_raises() -> None:
    with pytest.raises(SecretKeyError):
        Keyring([])


def test_unknown_key_id_raises_secret_key_error() -> None:
    ring = Keyring([make_key()[0]])
    ciphertext, _ = ring.encrypt("value", associated="a")
    with pytest.raises(SecretKeyError, match="deadbeef0000"):
        ring.decrypt(ciphertext, "deadbeef0000", associated="a")


def test_secret_key_error_is_a_value_error() -> None:
    assert issubclass(SecretKeyError, ValueError)


def test_key_id_is_short_stable_and_not_the_key() -> None:
    key, raw = make_key()
    assert key_id_of(raw) == key_id_of(raw)
    assert len(key_id_of(raw)) == 12
    assert key_id_of(raw) not in key
