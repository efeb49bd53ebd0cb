"""The key that signs the dashboard's session cookie."""

from __future__ import annotations

import secrets

from config import Settings
from runtime.data_dir import read_or_create


def session_secret(settings: Settings) -> str:
    """PREVIEWD_SESSION_SECRET, else one generated once into the data dir (mode 0600), like the
    encryption keys: sessions survive a restart and several web processes agree on it."""
    if settings.previewd_session_secret:
        return settings.previewd_session_secret.get_secret_value()
    return read_or_create(settings.data_dir / "session-key", lambda: secrets.token_urlsafe(48))
