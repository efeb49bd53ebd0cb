"""Builds and runs the Temporal worker.

Three pollers share one process: the shared task queue (workflows, bookkeeping, host claims), this
host's queue (clone, start, stop previews) and this host's build queue, whose concurrency is the
build limit. More workers mean more builds.
"""

from __future__ import annotations

import asyncio
import logging
import signal
import socket
from collections.abc import Callable
from typing import Any

from temporalio.client import Client
from temporalio.worker import Worker

from activities.build import BuildActivities
from activities.builders import Builder, LocalBuilder
from activities.context import WorkerContext
from activities.fly.builder import FlyImageBuilder
from activities.fly.platform import FlyPlatformActivities
from activities.fly.reconcile import ReconcileActivities, Reconciler
from activities.fly.schedule import ensure_reconcile_schedule
from activities.github.app_auth import GitHubApp, load_private_key
from activities.github.client import GitHubApi
from activities.github.permission import GitHubPermissionActivities
from activities.github.report import GitHubReportActivities
from activities.host import HostActivities
from activities.local.platform import LocalPlatformActivities
from activities.local.sandboxing import SandboxMode, decide
from activities.local.supervisor import LocalRuntime
from activities.platform import PlatformActivities
from activities.source import SourceActivities
from activities.store import StoreActivities
from activities.workdirs import Workdirs
from config import Settings
from models.crypto import Keyring
from models.db import Database
from models.sandbox_reports import UNSANDBOXED_NOTICE, record_sandbox
from outbox.dispatcher import Dispatcher, run_dispatcher
from runtime.data_dir import secret_keys
from runtime.temporal_client import connect
from workflows.fly_reconcile import FlyReconcileWorkflow
from workflows.preview import PreviewWorkflow

log = logging.getLogger("previewd.worker")


def github_app(settings: Settings) -> GitHubApp | None:
    """The GitHub App, when one is configured (GITHUB_APP_ID and GITHUB_APP_PRIVATE_KEY)."""
    if not (settings.github_app_id and settings.github_app_private_key):
        return None
    key = load_private_key(settings.github_app_private_key.get_secret_value())
    return GitHubApp(
        app_id=settings.github_app_id, private_key_pem=key, api=GitHubApi(settings.github_api_url)
    )


def host_queues(settings: Settings) -> tuple[str, str]:
    name = settings.previewd_worker_name or socket.gethostname()
    host_queue = f"{settings.temporal_task_queue}-host-{name}"
    return host_queue, f"{host_queue}-builds"


async def sandbox_mode(settings: Settings, db: Database, host_queue: str) -> SandboxMode:
    """Whether PR code runs in a sandbox on this host (PREVIEWD_SANDBOX), said in the log and
    recorded for the web app's banner and refusals (models/sandbox_reports.py)."""
    mode = await decide(settings)
    if mode.sandboxed:
        log.info("PR code runs in a sandbox (bubblewrap, uid 65534, a cgroup and a network of its own)")
    else:
        log.warning(
            "%s (%s): fine for one person trying previewd out; GitHub sign-in is limited to its first "
            "user and fork previews are refused",
            UNSANDBOXED_NOTICE,
            mode.why_not,
        )
    async with db.session() as session:
        await record_sandbox(session, host_queue=host_queue, sandboxed=mode.sandboxed, reasons=mode.why_not)
    return mode


async def run_worker(settings: Settings, database_url: str, stop: asyncio.Event) -> None:
    client: Client = await connect(settings)
    db = Database(database_url)
    host_queue, build_queue = host_queues(settings)
    ctx = WorkerContext(
        settings=settings,
        db=db,
        keyring=Keyring(secret_keys(settings)),
        workdirs=Workdirs(settings.data_dir),
        host_queue=host_queue,
        build_queue=build_queue,
    )
    runtime: LocalRuntime | None = None
    platform: PlatformActivities
    builder: Builder
    fleet: list[Callable[..., Any]] = []
    if settings.previewd_platform == "fly":
        fly = FlyPlatformActivities(ctx)
        platform, builder = fly, FlyImageBuilder(settings, fly)
        reconciler = Reconciler(client=fly.client, org=settings.fly_org, db=db, temporal=client)
        fleet = [ReconcileActivities(reconciler).reconcile]
        await ensure_reconcile_schedule(client, settings.temporal_task_queue)
    else:
        ctx.sandbox = await sandbox_mode(settings, db, host_queue)
        runtime = LocalRuntime(ctx)
        await runtime.start()
        builder = LocalBuilder(settings, sandboxed=ctx.sandbox.sandboxed, workdirs=ctx.workdirs)
        platform = LocalPlatformActivities(runtime)
    builds = BuildActivities(ctx, builder)
    github = github_app(settings)
    store, host = StoreActivities(ctx), HostActivities(ctx)
    source = SourceActivities(ctx, github.installation_token if github else None)
    platform_activities: list[Callable[..., Any]] = [platform.deploy, platform.retire, platform.destroy]
    workers = [
        Worker(
            client,
            task_queue=settings.temporal_task_queue,
            workflows=[PreviewWorkflow, FlyReconcileWorkflow],
            activities=[
                store.create_deployment,
                store.set_status,
                store.activate,
                store.fail_deployment,
                store.mark_destroyed,
                store.fork_policy,
                host.claim_queue,
                # A fork's previewd.toml against its base: a scratch clone, on any worker.
                source.config_changed,
                GitHubReportActivities(ctx, github).report,
                GitHubPermissionActivities(ctx, github).permission,
                # Reached here only when no host holds the preview (nothing to stop locally).
                platform.retire,
                platform.destroy,
                *fleet,
            ],
        ),
        Worker(
            client,
            task_queue=host_queue,
            activities=[source.clone, *platform_activities],
            # Clones and preview starts are bounded too: hundreds at once would starve this host.
            max_concurrent_activities=4 * settings.previewd_max_concurrent_builds,
        ),
        Worker(
            client,
            task_queue=build_queue,
            activities=[builds.build],
            max_concurrent_activities=settings.previewd_max_concurrent_builds,
        ),
    ]
    log.info("worker polling %s, %s and %s", settings.temporal_task_queue, host_queue, build_queue)
    runs = [asyncio.create_task(worker.run()) for worker in workers]
    dispatcher = asyncio.create_task(run_dispatcher(Dispatcher(settings, db, client)))
    await stop.wait()
    log.info("worker stopping")
    dispatcher.cancel()
    await asyncio.gather(*(worker.shutdown() for worker in workers), return_exceptions=True)
    await asyncio.gather(*runs, return_exceptions=True)
    if runtime is not None:
        await runtime.stop()
    await db.dispose()


def install_stop_handlers(stop: asyncio.Event) -> None:
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
