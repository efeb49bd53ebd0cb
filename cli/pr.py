"""`previewd pr open|push|close`: drive the full flow without GitHub, through a signed webhook."""

from __future__ import annotations

import argparse
import asyncio
import subprocess
import uuid
from pathlib import Path

import httpx

from activities.processes import base_env
from cli.database import database
from cli.output import fail, say
from cli.webhook_client import pull_request_payload, send_webhook
from config import Settings
from models import Project
from models.clone_source import CloneRules, merge_git_config
from models.db import Database
from runtime.data_dir import webhook_secret

ACTIONS = {"open": "opened", "push": "synchronize", "close": "closed"}


def head_of(clone_url: str, rules: CloneRules) -> str:
    # The stored URL is checked like the worker's clone does: this runs git on the operator's machine.
    if problem := rules.problem(clone_url):
        raise fail(f"the project's clone_url is refused ({problem}); pass --sha")
    protocols = [("protocol.allow", "never")] + [
        (f"protocol.{p}.allow", "always") for p in rules.protocols(clone_url)
    ]
    done = subprocess.run(
        ["git", "ls-remote", "--", clone_url, "HEAD"],
        capture_output=True, text=True, timeout=60, check=False,
        # Built from nothing like the worker's clone: git needs no credential of the operator's here.
        env=merge_git_config(base_env(Path.home()) | {"GIT_TERMINAL_PROMPT": "0"}, protocols),
    )  # fmt: skip
    if done.returncode != 0 or not done.stdout.strip():
        raise fail(f"cannot read HEAD of {clone_url}; pass --sha")
    return done.stdout.split()[0]


async def _project(url: str, project_id: str) -> Project:
    db = Database(url, pool_size=1)
    try:
        async with db.session() as session:
            project = await session.get(Project, uuid.UUID(project_id))
    finally:
        await db.dispose()
    if project is None:
        raise fail(f"no project {project_id}")
    return project


def run(args: argparse.Namespace, settings: Settings) -> int:
    try:
        uuid.UUID(args.project)
    except ValueError:
        raise fail("--project must be a project id (see `previewd project list`)") from None
    with database(settings) as url:
        project = asyncio.run(_project(url, args.project))
    sha = args.sha
    if sha is None and args.action != "close":
        sha = head_of(
            project.config().clone_url or f"{settings.github_url}/{project.github_repo_full_name}.git",
            settings.clone_rules,
        )
    payload = pull_request_payload(
        action=ACTIONS[args.action],
        number=args.number,
        sha=sha or "0" * 40,
        repo_id=project.github_repo_id,
        repo_full_name=project.github_repo_full_name,
        title=args.title,
        author=args.author,
    )
    say(
        f"sending pull_request.{ACTIONS[args.action]} for #{args.number} ({(sha or '')[:12]}) "
        f"to {settings.previewd_base_url}"
    )
    try:
        with httpx.Client(base_url=settings.previewd_base_url, timeout=10) as client:
            response = send_webhook(
                client, secret=webhook_secret(settings), event="pull_request", payload=payload
            )
    except httpx.HTTPError as error:
        raise fail(
            f"cannot reach {settings.previewd_base_url} ({error}); is `previewd up` running?"
        ) from None
    say(f"{response.status_code} {response.text}")
    return 0 if response.is_success else 1
