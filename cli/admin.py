"""`previewd config show`, `secrets rotate`, `token create|list|revoke`, `project add|list`."""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import uuid

from pydantic import SecretStr
from sqlmodel import col, select

from cli.database import database
from cli.output import fail, say
from config import Settings
from models import DeploymentConfig, Project
from models.api_tokens import create_token, revoke_token, tokens_of
from models.common import utcnow
from models.crypto import Keyring
from models.db import Database
from models.queries import create_project, ensure_admin
from models.secrets import rotate_all
from notifications.channels import rotate_channels
from runtime.data_dir import secret_keys, webhook_secret
from runtime.temporal_client import temporal_address


def config_show(args: argparse.Namespace, settings: Settings) -> int:
    for name, value in sorted(settings.model_dump().items()):
        # Which settings are secret is the type's to say (config.py), not a list kept here.
        shown = "(set, hidden)" if isinstance(value, SecretStr) and value.get_secret_value() else value
        say(f"{name.upper():32} {shown if shown is not None else '(unset)'}")
    say(f"{'temporal (effective)':32} {temporal_address(settings)}")
    if not settings.github_webhook_secret:
        # The local mode's generated secret: what `previewd pr` and a local GitHub App setup sign with.
        say(f"{'webhook secret (local mode)':32} {webhook_secret(settings)}")
    return 0


def _run(settings: Settings, work: object) -> int:
    async def main(url: str) -> int:
        db = Database(url, pool_size=2)
        try:
            result: int = await work(db)  # type: ignore[operator]
            return result
        finally:
            await db.dispose()

    with database(settings) as url:
        return asyncio.run(main(url))


def secrets_rotate(args: argparse.Namespace, settings: Settings) -> int:
    keyring = Keyring(secret_keys(settings))

    async def work(db: Database) -> int:
        async with db.session() as session:
            changed = await rotate_all(session, keyring=keyring)
        async with db.session() as session:
            channels = await rotate_channels(session, keyring=keyring)
        say(
            f"re-encrypted {changed} secret(s) and {channels} notification channel(s) under key "
            f"{keyring.current_key_id}"
        )
        return 0

    return _run(settings, work)


def token_create(args: argparse.Namespace, settings: Settings) -> int:
    """The operator's token, printed once: only its digest is kept, so it cannot be shown again."""

    async def work(db: Database) -> int:
        async with db.session() as session:
            admin = await ensure_admin(session)
            try:
                token, row = await create_token(
                    session, user_id=admin.id, name=args.name, scope=args.scope, days=args.expires_days
                )
            except ValueError as error:
                raise fail(f"--{error}") from None
        # The token alone on stdout (`TOKEN=$(previewd token create)`), what it is on stderr.
        say(token)
        note = f"scope {row.scope}, expires {row.expires_at:%Y-%m-%d}, id {row.id}; it is not shown again"
        sys.stderr.write(note + "\n")
        return 0

    return _run(settings, work)


def token_list(args: argparse.Namespace, settings: Settings) -> int:
    async def work(db: Database) -> int:
        async with db.session() as session:
            admin = await ensure_admin(session)
            rows = await tokens_of(session, user_id=admin.id)
        now = utcnow()
        for row in rows:
            state = "revoked" if row.revoked_at else "expired" if row.expires_at <= now else "active"
            used = f"{row.last_used_at:%Y-%m-%d %H:%M}" if row.last_used_at else "never"
            expires = f"{row.expires_at:%Y-%m-%d}"
            say(f"{row.id}  {row.name:20} {row.scope:7} {state:8} expires {expires}  used {used}")
        return 0

    return _run(settings, work)


def token_revoke(args: argparse.Namespace, settings: Settings) -> int:
    try:
        token_id = uuid.UUID(args.id)
    except ValueError:
        raise fail(f"{args.id!r} is not a token id (see `previewd token list`)") from None

    async def work(db: Database) -> int:
        async with db.session() as session:
            admin = await ensure_admin(session)
            if not await revoke_token(session, user_id=admin.id, token_id=token_id):
                raise fail(f"no active token {token_id}")
        say(f"revoked {token_id}")
        return 0

    return _run(settings, work)


def project_add(args: argparse.Namespace, settings: Settings) -> int:
    env: dict[str, str] = {}
    for item in args.env:
        name, sep, value = item.partition("=")
        if not sep:
            raise fail(f"--env {item!r}: expected NAME=VALUE")
        env[name] = value
    try:
        config = DeploymentConfig(
            install_command=args.install,
            build_command=args.build,
            release_command=args.release,
            start_command=args.start,
            port=args.port,
            env_vars=env,
            clone_url=args.clone_url,
        )
    except ValueError as error:
        raise fail(str(error)) from None

    async def work(db: Database) -> int:
        async with db.session() as session:
            admin = await ensure_admin(session)
            project = await create_project(
                session, user_id=admin.id, repo_full_name=args.repo, config=config, repo_id=args.repo_id
            )
        say(f"project {project.id} added for {project.github_repo_full_name}")
        return 0

    return _run(settings, work)


def project_list(args: argparse.Namespace, settings: Settings) -> int:
    async def work(db: Database) -> int:
        async with db.session() as session:
            projects = (await session.exec(select(Project).order_by(col(Project.created_at)))).all()
        for project in projects:
            state = "active" if project.is_active else "disabled"
            say(
                f"{project.id}  {project.github_repo_full_name:40} {state}  "
                f"{json.dumps(project.deployment_config)}"
            )
        return 0

    return _run(settings, work)
