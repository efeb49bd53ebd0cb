"""`previewd fly gc [--apply]`: the reconciler by hand. A dry run unless --apply."""

from __future__ import annotations

import argparse
import asyncio

from activities.fly.client import FlyClient
from activities.fly.reconcile import Reconciler
from cli.database import database
from cli.output import fail, say
from config import Settings
from models.db import Database
from runtime.temporal_client import connect
from workflows.fly_reconcile_io import ReconcileAction


def gc(args: argparse.Namespace, settings: Settings) -> int:
    if not settings.fly_api_token:
        raise fail("FLY_API_TOKEN is not set")
    token = settings.fly_api_token.get_secret_value()

    async def main(url: str) -> int:
        client = FlyClient(base_url=settings.fly_api_url, token=token)
        db = Database(url, pool_size=2)
        try:
            reconciler = Reconciler(
                client=client, org=settings.fly_org, db=db, temporal=await connect(settings)
            )
            say(f"{'destroying' if args.apply else 'dry run: would destroy'} apps of org {settings.fly_org} "
                "with no open PR behind them")  # fmt: skip
            decisions = await reconciler.run(apply=args.apply)
        finally:
            await client.aclose()
            await db.dispose()
        for decision in decisions:
            say(f"{decision.action:10} {decision.app:50} {decision.reason}")
        gone = (ReconcileAction.DESTROY, ReconcileAction.DESTROYED)
        say(f"{sum(d.action in gone for d in decisions)} of {len(decisions)} apps "
            f"{'destroyed' if args.apply else 'would be destroyed (run with --apply)'}")  # fmt: skip
        return 0

    with database(settings) as url:
        return asyncio.run(main(url))
