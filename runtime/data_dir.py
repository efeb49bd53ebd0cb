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
        existing = path.read_text().strip()
    except FileNotFoundError:
        existing = ""
    if existing:
        return existing
    # Missing, or left empty by a crash mid-write under an older version: (re)generate it.
    path.unlink(missing_ok=True)
    # Written whole to a private temp file, then linked into place: a reader never sees a partial
    # file, and if two processes race, exactly one link wins and both return its value.
    temp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(generate() + "\n")
    try:
        os.link(temp, path)
    except FileExistsError:
        pass
    finally:
        temp.unlink(missing_ok=True)
    value = path.read_text().strip()
    if not value:
        raise SystemExit(f"previewd: {path} is empty; delete it to generate a new value")
    return value


def new_key() -> str:
    return base64.urlsafe_b64encode(secrets.token_bytes(32)).decode()


def secret_keys(settings: Settings) -> list[str]:
    """Encryption keys, first one encrypts: PREVIEWD_SECRET_KEYS, else one generated into the data dir."""
    if settings.previewd_secret_keys:
        return [
            key.strip() for key in settings.previewd_secret_keys.get_secret_value().split(",") if key.strip()
        ]
    stored = read_or_create(settings.data_dir / "secret-keys", new_key)
    return [key.strip() for key in stored.replace("\n", ",").split(",") if key.strip()]


def webhook_secret(settings: Settings) -> str:
    """GITHUB_WEBHOOK_SECRET, or in local mode a secret generated into the data dir."""
    if settings.github_webhook_secret:
        return settings.github_webhook_secret.get_secret_value()
    return read_or_create(settings.data_dir / "webhook-secret", lambda: secrets.token_hex(32))
