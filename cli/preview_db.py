"""`previewd db gc [--apply]`: preview databases and roles with no open PR behind them, by hand (the
schedule does the same every few minutes). A dry run unless --apply."""

from __future__ import annotations

import argparse
import asyncio

from activities.preview_db.gc import collect
from activities.preview_db.urls import PreviewPostgres
from cli.database import database
from cli.output import say
from config import Settings
from models.db import Database
from runtime.temporal_client import connect


def gc(args: argparse.Namespace, settings: Settings) -> int:
    async def main(url: str) -> int:
        db = Database(url, pool_size=2)
        try:
            say(f"{'dropping' if args.apply else 'dry run: would drop'} preview databases and roles "
                "with no open PR behind them")  # fmt: skip
            result = await collect(PreviewPostgres(settings), db, await connect(settings), apply=args.apply)
        finally:
            await db.dispose()
        for name in result.orphans:
            say(f"{'dropped' if name in result.dropped else 'orphan':10} {name}")
        for name in result.unsure:
            say(f"{'kept':10} {name} (Temporal could not say whether its PR is open)")
        done = "dropped" if args.apply else "would be dropped (run with --apply)"
        say(f"{len(result.dropped) if args.apply else len(result.orphans)} {done}")
        return 0

    with database(settings) as url:
        return asyncio.run(main(url))
