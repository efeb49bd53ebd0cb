"""`previewd worker-health`: exit 0 while this host's worker is alive and making progress, 1 with the
reason when it must be replaced (the compose worker's health check). Reads the heartbeat file only:
it answers in milliseconds, needs neither Postgres nor Temporal, and works while they are down."""

from __future__ import annotations

import argparse

from cli.output import fail, say
from config import Settings
from runtime.worker_heartbeat import stalled_reason, worker_name


def run(args: argparse.Namespace, settings: Settings) -> int:
    name = args.name or worker_name(settings)
    reason = stalled_reason(settings.data_dir, name)
    if reason is not None:
        raise fail(reason)
    say(f"worker {name} is healthy")
    return 0
