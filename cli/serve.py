"""`previewd web`, `previewd worker`, `previewd migrate`: the pieces, run alone (production)."""

from __future__ import annotations

import argparse
import asyncio
import os

from cli.database import database
from cli.output import say
from config import Settings
from runtime.migrate import migrate as apply_migrations

WORKER_NICENESS = 5


def migrate(args: argparse.Namespace, settings: Settings) -> int:
    with database(settings) as url:
        apply_migrations(url)
    say("migrations applied")
    return 0


def web(args: argparse.Namespace, settings: Settings) -> int:
    # The one place the CLI imports web/: this command is the web app. Lazily, so every other command
    # starts without loading FastAPI and the dashboard.
    from web.server import serve

    with database(settings) as url:
        asyncio.run(serve(settings, url))
    return 0


def worker(args: argparse.Namespace, settings: Settings) -> int:
    from worker import install_stop_handlers, run_worker

    # The webhook path must answer GitHub in milliseconds even while this host builds: where web and
    # worker share a box, the worker (and the builds below it) yield the CPU to it.
    os.nice(WORKER_NICENESS)

    async def main(url: str) -> None:
        stop = asyncio.Event()
        install_stop_handlers(stop)
        await run_worker(settings, url, stop)

    with database(settings) as url:
        asyncio.run(main(url))
    return 0
