"""Secret values encrypted at rest with AES-256-GCM. Several keys are accepted; the first encrypts.

Each ciphertext is stored beside the id of its key (a short hash of the key), so a rotated-out key
still decrypts old rows until `previewd secrets rotate` re-encrypts them under the newest one.
"""

from __future__ import annotations

import base64
import hashlib
import os

from cryptography.hazmat.primitives.ciphers.aead import AESGCM

NONCE_BYTES = 12


class SecretKeyError(ValueError):
    """A key is malformed, or a ciphertext names a key we do not have."""


def _decode_key(text: str) -> bytes:
    try:
        raw = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    except ValueError:
        raw = b""
    if len(raw) != 32:
        # Never echo the key itself: only how to make a good one.
        raise SecretKeyError(
            "PREVIEWD_SECRET_KEYS: each key must be 32 bytes, url-safe base64 "
            '(python -c "import os,base64;print(base64.urlsafe_b64encode(os.urandom(32)).decode())")'
        )
    return raw


def key_id_of(raw: bytes) -> str:
    return hashlib.sha256(b"previewd-key-id:" + raw).hexdigest()[:12]


class Keyring:
    def __init__(self, keys: list[str]) -> None:
        if not keys:
            raise SecretKeyError("PREVIEWD_SECRET_KEYS: at least one key is needed")
        raws = [_decode_key(key) for key in keys]
        self._keys = {key_id_of(raw): AESGCM(raw) for raw in raws}
        self.current_key_id = key_id_of(raws[0])

    def encrypt(self, plaintext: str, *, associated: str) -> tuple[bytes, str]:
        """Encrypt under the newest key. `associated` binds the ciphertext to its row (project and name)."""
        nonce = os.urandom(NONCE_BYTES)
        sealed = self._keys[self.current_key_id].encrypt(nonce, plaintext.encode(), associated.encode())
        return nonce + sealed, self.current_key_id

    def decrypt(self, ciphertext: bytes, key_id: str, *, associated: str) -> str:
        aead = self._keys.get(key_id)
        if aead is None:
            raise SecretKeyError(f"no key with id {key_id} in PREVIEWD_SECRET_KEYS")
        nonce, sealed = ciphertext[:NONCE_BYTES], ciphertext[NONCE_BYTES:]
        return aead.decrypt(nonce, sealed, associated.encode()).decode()
