"""`previewd up` prints the operator's token on the first run only, and never writes it down; the
plaintext copy an older previewd left in the data dir is revoked and removed."""

from __future__ import annotations

import asyncio
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from cli.up import _admin_token
from config import Settings
from models.api_tokens import create_token, holder_of
from models.db import Database
from models.queries import ensure_admin
from runtime.embedded_postgres import EmbeddedPostgres
from runtime.migrate import migrate


@pytest.fixture(scope="module")
def database_url() -> Iterator[str]:
    postgres = EmbeddedPostgres(Path(tempfile.mkdtemp(prefix="pvd-up-")))
    url = postgres.start()
    migrate(url)
    try:
        yield url
    finally:
        postgres.stop()


async def _holds(url: str, token: str) -> bool:
    db = Database(url, pool_size=1)
    try:
        async with db.session() as session:
            return await holder_of(session, token=token) is not None
    finally:
        await db.dispose()


async def _old_style_token(url: str) -> str:
    db = Database(url, pool_size=1)
    try:
        async with db.session() as session:
            admin = await ensure_admin(session)
            token, _ = await create_token(session, user_id=admin.id, name="previewd up", scope="admin")
            return token
    finally:
        await db.dispose()


def test_up_prints_a_token_once_and_leaves_none_on_disk(database_url: str, tmp_path: Path) -> None:
    settings = Settings(previewd_data_dir=tmp_path)
    old = asyncio.run(_old_style_token(database_url))
    (tmp_path / "api-token").write_text(old)

    first = asyncio.run(_admin_token(database_url, settings))
    assert first and first != old
    assert not (tmp_path / "api-token").exists()
    assert asyncio.run(_holds(database_url, first))
    assert not asyncio.run(_holds(database_url, old)), "the copy that sat on disk still works"
    # The next start prints nothing: the token lives only where the person put it.
    assert asyncio.run(_admin_token(database_url, settings)) is None
    assert [p.name for p in tmp_path.iterdir() if "token" in p.name] == []
