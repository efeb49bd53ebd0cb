"""`previewd login-link`: a one-time link that signs a browser in to the dashboard (local mode)."""

from __future__ import annotations

import argparse
import asyncio

from cli.database import database
from cli.output import fail, say
from config import Settings
from models.db import Database
from models.queries import ensure_admin
from models.sign_in import create_login_link


async def new_link(database_url: str, settings: Settings) -> str:
    """A link for the local admin, good once, for PREVIEWD_LOGIN_LINK_HOURS."""
    db = Database(database_url, pool_size=1)
    try:
        async with db.session() as session:
            admin = await ensure_admin(session)
            token = await create_login_link(
                session, user_id=admin.id, hours=settings.previewd_login_link_hours
            )
    finally:
        await db.dispose()
    return f"{settings.previewd_base_url}/auth/link?token={token}"


def run(args: argparse.Namespace, settings: Settings) -> int:
    if settings.github_sign_in:
        raise fail(
            "GitHub sign-in is configured (GITHUB_CLIENT_ID): open the dashboard and sign in with GitHub"
        )
    with database(settings) as url:
        say(asyncio.run(new_link(url, settings)))
    return 0
