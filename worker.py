"""Builds and runs the Temporal worker.

Three pollers share one process: the shared task queue (workflows, bookkeeping, host claims), this
host's queue (clone, start, stop previews) and this host's build queue, whose concurrency is the
build limit. More workers mean more builds.
"""

from __future__ import annotations

import asyncio
import logging
import signal
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from temporalio.client import Client
from temporalio.service import RPCError
from temporalio.worker import Worker

from activities.build import BuildActivities
from activities.build_slots import BuildSlotActivities
from activities.builders import Builder, LocalBuilder
from activities.context import WorkerContext
from activities.fly.builder import FlyImageBuilder
from activities.fly.platform import FlyPlatformActivities
from activities.fly.reconcile import ReconcileActivities, Reconciler
from activities.fly.schedule import ensure_reconcile_schedule
from activities.github.app_auth import GitHubApp, load_private_key
from activities.github.client import GitHubApi
from activities.github.drift import DriftActivities
from activities.github.permission import GitHubPermissionActivities
from activities.github.redelivery import RedeliveryActivities
from activities.github.report import GitHubReportActivities
from activities.github.schedules import ensure_github_schedules
from activities.host import HostActivities
from activities.local.platform import LocalPlatformActivities
from activities.local.sandboxing import SandboxMode, decide
from activities.local.sleep import SleepActivities
from activities.local.supervisor import LocalRuntime
from activities.log_retention import LogRetentionActivities
from activities.log_retention_schedule import ensure_retention_schedule
from activities.notifications import NotificationActivities
from activities.platform import PlatformActivities
from activities.preview_db.activities import PreviewDatabaseActivities
from activities.preview_db.schedule import ensure_database_schedule
from activities.source import SourceActivities
from activities.store import StoreActivities
from activities.workdirs import Workdirs
from config import Settings
from models.crypto import Keyring
from models.db import Database
from models.sandbox_reports import UNSANDBOXED_NOTICE, record_sandbox
from outbox.dispatcher import Dispatcher, run_dispatcher
from runtime.data_dir import secret_keys
from runtime.metrics.processes import temporal_runtime, worker_metrics
from runtime.temporal_client import connect
from runtime.worker_heartbeat import worker_name
from runtime.worker_liveness import WORKFLOW_THREADS, Liveness
from workflows.database_reconcile import DatabaseReconcileWorkflow
from workflows.fly_reconcile import FlyReconcileWorkflow
from workflows.github_reconcile import DriftWorkflow, RedeliveryWorkflow
from workflows.log_retention import LogRetentionWorkflow
from workflows.notification import NotificationWorkflow
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


# asyncio's default pool has min(32, cores + 4) threads: 6 on a 2-core box. Previews stopping (up to 5 s
# each), sandboxes starting, checkouts handed over or removed all wait in it, and so do DNS lookups
# (loop.getaddrinfo: every new connection to GitHub, Fly or a Postgres named by host). Six PRs pushed at
# once can fill it, and the worker's own calls then queue behind them. These threads mostly sleep or wait.
BLOCKING_THREADS = 32
# Postgres connections the worker keeps open (more are opened for a burst and closed after it): each
# is a backend process whose RSS grows with the shared buffers it has touched.
WORKER_DB_CONNECTIONS = 5
# The worker left because Temporal will not serve it: one of its Temporal workers (or the dispatcher)
# stopped by itself, or Temporal refused what the worker sets up as it starts (its schedules).
POLLER_LOST_EXIT_CODE = 87
# How long a stopping worker waits for its Temporal workers before it stops the previews anyway.
SHUTDOWN_SECONDS = 5.0


def host_queues(settings: Settings) -> tuple[str, str]:
    host_queue = f"{settings.temporal_task_queue}-host-{worker_name(settings)}"
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
    asyncio.get_running_loop().set_default_executor(
        ThreadPoolExecutor(max_workers=BLOCKING_THREADS, thread_name_prefix="previewd-blocking")
    )
    db = Database(database_url, pool_size=WORKER_DB_CONNECTIONS)
    host_queue, build_queue = host_queues(settings)
    # First: a worker that hangs while it starts (Temporal, the sandbox probe, previews coming back) is
    # noticed too.
    liveness = Liveness(settings, db, name=worker_name(settings), host_queue=host_queue)
    liveness.start()
    # GET /metrics of the worker (PREVIEWD_WORKER_METRICS_PORT): previewd's counters and Temporal's.
    temporal_telemetry, temporal_metrics_url = temporal_runtime(settings)
    metrics = worker_metrics(settings, temporal_metrics_url)
    if metrics is not None:
        metrics.start()
    client: Client = await connect(settings, runtime=temporal_telemetry)
    github = github_app(settings)
    # Before any preview is started here: a worker Temporal refuses leaves nothing running behind it.
    await ensure_schedules(client, settings, github is not None)
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
    # Sleep and wake (local platform): the idle check, sleep and wake on this host's queue, the
    # max_live_previews check (a query and signals) on the shared one.
    host_sleeping: list[Callable[..., Any]] = []
    if settings.previewd_platform == "fly":
        fly = FlyPlatformActivities(ctx)
        platform, builder = fly, FlyImageBuilder(settings, fly)
        reconciler = Reconciler(client=fly.client, org=settings.fly_org, db=db, temporal=client)
        fleet = [ReconcileActivities(reconciler).reconcile]
    else:
        ctx.sandbox = await sandbox_mode(settings, db, host_queue)
        runtime = LocalRuntime(ctx)
        await runtime.start()
        builder = LocalBuilder(settings, sandboxed=ctx.sandbox.sandboxed, workdirs=ctx.workdirs)
        platform = LocalPlatformActivities(runtime)
        sleeping = SleepActivities(runtime, client)
        host_sleeping = [sleeping.sleep_if_idle, sleeping.sleep_now, sleeping.wake]
        fleet = [sleeping.live_limit]
    builds = BuildActivities(ctx, builder)
    store, host = StoreActivities(ctx), HostActivities(ctx)
    slots = BuildSlotActivities(ctx, client)
    source = SourceActivities(ctx, github.installation_token if github else None)
    platform_activities: list[Callable[..., Any]] = [platform.deploy, platform.retire, platform.destroy]
    drift = DriftActivities(ctx, github, client)
    databases = PreviewDatabaseActivities(ctx, client)
    notify = NotificationActivities(ctx)
    workers = [
        Worker(
            client,
            task_queue=settings.temporal_task_queue,
            workflows=[
                PreviewWorkflow,
                FlyReconcileWorkflow,
                RedeliveryWorkflow,
                DriftWorkflow,
                LogRetentionWorkflow,
                DatabaseReconcileWorkflow,
                NotificationWorkflow,
            ],
            workflow_task_executor=liveness.workflow_executor,
            max_concurrent_workflow_tasks=WORKFLOW_THREADS,
            # Bounded (PREVIEWD_MAX_CACHED_WORKFLOWS): a sleeping PR's workflow has work only when a
            # timer or a signal fires, and holding each of a thousand of them costs the worker ~80 MB.
            max_cached_workflows=settings.previewd_max_cached_workflows,
            interceptors=[liveness.interceptor],
            activities=[
                store.create_deployment,
                store.set_status,
                store.activate,
                store.fail_deployment,
                store.mark_destroyed,
                store.fork_policy,
                store.expiry_facts,
                host.claim_queue,
                # Each project's build queue: short asks, so a waiting deployment holds no slot.
                slots.take,
                slots.leave,
                # A fork's previewd.toml against its base: a scratch clone, on any worker.
                source.config_changed,
                GitHubReportActivities(ctx, github).report,
                GitHubPermissionActivities(ctx, github).permission,
                # Reached here only when no host holds the preview (nothing to stop locally).
                platform.retire,
                platform.destroy,
                RedeliveryActivities(ctx, github).redeliver_failed,
                drift.drift_projects,
                drift.drift,
                LogRetentionActivities(ctx).delete_expired_logs,
                # Each PR's own database (activities/preview_db): dropped with its preview; orphans and
                # sizes looked at by DatabaseReconcileWorkflow.
                databases.drop,
                databases.gc,
                databases.sizes,
                # Preview events to the projects' channels (workflows/notification.py).
                notify.targets,
                notify.send,
                notify.gave_up,
                *fleet,
            ],
        ),
        Worker(
            client,
            task_queue=host_queue,
            # `ensure` reads a `.sql` seed from the deployment's checkout, on this host.
            activities=[source.clone, databases.ensure, *platform_activities, *host_sleeping],
            interceptors=[liveness.interceptor],
            # Clones and preview starts are bounded too: hundreds at once would starve this host.
            max_concurrent_activities=4 * settings.previewd_max_concurrent_builds,
        ),
        Worker(
            client,
            task_queue=build_queue,
            activities=[builds.build],
            interceptors=[liveness.interceptor],
            max_concurrent_activities=settings.previewd_max_concurrent_builds,
        ),
    ]
    log.info("worker polling %s, %s and %s", settings.temporal_task_queue, host_queue, build_queue)
    runs = [asyncio.create_task(worker.run()) for worker in workers]
    dispatcher = asyncio.create_task(run_dispatcher(Dispatcher(settings, db, client)))
    pieces = {f"the Temporal worker of {w.task_queue}": run for w, run in zip(workers, runs, strict=True)}
    lost = await until_stopped_or_lost(stop, pieces | {"the outbox dispatcher": dispatcher})
    log.info("worker stopping")
    dispatcher.cancel()
    # With Temporal gone too (`previewd up` killed: every child gets its parent-death signal at
    # once), the Temporal workers' shutdown waits on a server that no longer answers. The previews
    # must not wait with it: past a few seconds they are stopped anyway.
    _, pending = await asyncio.wait(
        [asyncio.ensure_future(worker.shutdown()) for worker in workers] + runs, timeout=SHUTDOWN_SECONDS
    )
    if pending:
        log.warning(
            "the Temporal workers did not shut down within %ss; stopping the previews", SHUTDOWN_SECONDS
        )
    if runtime is not None:
        await runtime.stop()
    await liveness.stop()
    if metrics is not None:
        await metrics.stop()
    await db.dispose()
    if lost:
        raise SystemExit(POLLER_LOST_EXIT_CODE)


async def ensure_schedules(client: Client, settings: Settings, with_github: bool) -> None:
    """previewd's periodic work, made or brought in line as the worker starts. Temporal refusing it (a
    namespace that does not exist, a server that says no) is said in one line, and the worker leaves
    for its supervisor to try again rather than print a traceback and fail in a way nobody reads."""
    try:
        if settings.previewd_platform == "fly":
            await ensure_reconcile_schedule(client, settings.temporal_task_queue)
        # Logs of deployments finished longer ago than their project keeps them: deleted daily.
        await ensure_retention_schedule(client, settings.temporal_task_queue)
        # Preview databases with no open PR dropped, and sizes over their cap stopped.
        await ensure_database_schedule(client, settings.temporal_task_queue)
        if with_github:
            # No pull request missed: failed deliveries redelivered, open PRs compared with what we got.
            await ensure_github_schedules(client, settings)
    except RPCError as error:
        log.critical(
            "Temporal refused the worker's schedules (namespace %s: %s): leaving with status %d so "
            "that the worker is replaced",
            settings.temporal_namespace,
            error.message,
            POLLER_LOST_EXIT_CODE,
        )
        raise SystemExit(POLLER_LOST_EXIT_CODE) from None


async def until_stopped_or_lost(stop: asyncio.Event, pieces: dict[str, asyncio.Task[None]]) -> bool:
    """Wait for a stop; True when one of the pieces ended by itself first.

    A Temporal Worker whose run() ends (a fatal poll error, a failed validation) leaves a process that
    looks alive and polls nothing: its activities time out and are never picked up again, and, its
    task being held here, the error would be logged nowhere. Such a worker says why and leaves, so its
    supervisor starts a fresh one."""
    stopping = asyncio.create_task(stop.wait())
    done, _ = await asyncio.wait([stopping, *pieces.values()], return_when=asyncio.FIRST_COMPLETED)
    stopping.cancel()
    lost = [name for name, task in pieces.items() if task in done]
    for name in lost:
        task = pieces[name]
        error = task.exception() if not task.cancelled() else None
        log.critical(
            "%s stopped by itself (%s): leaving with status %d so that the worker is replaced",
            name,
            f"{type(error).__name__}: {error}" if error is not None else "no error",
            POLLER_LOST_EXIT_CODE,
        )
    return bool(lost)


def install_stop_handlers(stop: asyncio.Event) -> None:
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
