"""Files previewd generates once into its data dir: keys and local-mode secrets, all mode 0600."""

from __future__ import annotations

import base64
import os
import secrets
from collections.abc import Callable
from pathlib import Path

from config import Settings


def read_or_create(path: Path, generate: Callable[[], str]) -> str:
    """Return the file's content, creating it with a generated value (mode 0600) the first time."""
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        return path.read_text().strip()
    except FileNotFoundError:
        pass
    value = generate()
    # O_EXCL: if two processes race, exactly one writes and both read the same value.
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return path.read_text().strip()
    with os.fdopen(fd, "w") as handle:
        handle.write(value + "\n")
    return value


def new_key() -> str:
    return base64.urlsafe_b64encode(secrets.token_bytes(32)).decode()


def secret_keys(settings: Settings) -> list[str]:
    """Encryption keys, first one encrypts: PREVIEWD_SECRET_KEYS, else one generated into the data dir."""
    if settings.previewd_secret_keys:
        return [key.strip() for key in settings.previewd_secret_keys.split(",") if key.strip()]
    stored = read_or_create(settings.data_dir / "secret-keys", new_key)
    return [key.strip() for key in stored.replace("\n", ",").split(",") if key.strip()]


def webhook_secret(settings: Settings) -> str:
    """GITHUB_WEBHOOK_SECRET, or in local mode a secret generated into the data dir."""
    if settings.github_webhook_secret:
        return settings.github_webhook_secret
    return read_or_create(settings.data_dir / "webhook-secret", lambda: secrets.token_hex(32))
