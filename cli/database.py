"""The database a CLI command uses: DATABASE_URL, or the embedded one under the data dir."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from config import Settings
from runtime.embedded_postgres import EmbeddedPostgres, database_url


@contextmanager
def database(settings: Settings) -> Iterator[str]:
    with database_server(settings) as (url, _):
        yield url


@contextmanager
def database_server(settings: Settings) -> Iterator[tuple[str, EmbeddedPostgres | None]]:
    """The URL, and the embedded server behind it (None with DATABASE_URL), stopped at the end."""
    url, embedded = database_url(settings.database_url, settings.data_dir)
    try:
        yield url, embedded
    finally:
        if embedded is not None:
            embedded.stop()
