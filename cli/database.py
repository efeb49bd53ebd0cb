"""The database a CLI command uses: DATABASE_URL, or the embedded one under the data dir."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from config import Settings
from runtime.embedded_postgres import database_url


@contextmanager
def database(settings: Settings) -> Iterator[str]:
    url, embedded = database_url(settings.database_url, settings.data_dir)
    try:
        yield url
    finally:
        if embedded is not None:
            embedded.stop()
