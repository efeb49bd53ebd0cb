"""`previewd up`: the whole system on the embedded default, from one command.

Order: Postgres → Temporal dev server → migrations → worker → web → demo. A piece that exits
unexpectedly is started again with backoff (runtime/supervisor.py). Ctrl-C or SIGTERM stops them in
reverse, so nothing is left listening; the next `up` finds everything where it was.
"""

from __future__ import annotations

import argparse
import asyncio
import functools
import os
import signal
import subprocess
import time
from collections.abc import Callable
from pathlib import Path
from types import FrameType

import httpx
from sqlmodel import col, select

from cli.database import database_server
from cli.login_link import new_link
from cli.metrics_line import metrics_line
from cli.output import fail, say
from cli.sandbox_line import sandbox_line
from cli.webhook_client import pull_request_payload, send_webhook
from config import Settings
from models import Deployment, DeploymentConfig, Project
from models.api_tokens import create_token, has_live_token, revoke_by_value
from models.db import Database
from models.deployments import DeploymentStatus
from models.queries import create_project, ensure_admin
from runtime import postmaster
from runtime.children import Child, spawn_previewd, wait_until
from runtime.data_dir import secure, webhook_secret
from runtime.demo import DEMO_REPO_NAME, ensure_demo_repo
from runtime.embedded_postgres import PASSWORD_FILE, EmbeddedPostgres
from runtime.embedded_temporal import port_open, start_dev_server
from runtime.migrate import migrate
from runtime.orphans import become_subreaper
from runtime.parent_death import die_with_parent
from runtime.postgres_guard import start_guard
from runtime.postmaster import Postmaster
from runtime.preview_postgres import PreviewCluster
from runtime.supervisor import ChildSpec, CrashLoop, Supervisor
from runtime.worker_heartbeat import stalled_reason

DEMO_TIMEOUT_SECONDS = 180


class Stop(BaseException):
    """Ctrl-C or SIGTERM. Not an Exception: a restart in progress, which counts a failing start
    (any Exception) as one more exit, must let it through."""


def _raise_stop(signum: int, frame: FrameType | None) -> None:
    # Once: a second Ctrl-C must not interrupt the orderly shutdown that the first one started.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    raise Stop()


def run(args: argparse.Namespace, settings: Settings) -> int:
    signal.signal(signal.SIGTERM, _raise_stop)
    signal.signal(signal.SIGINT, _raise_stop)
    secure(settings.data_dir)
    # Everything previewd and its children write from here on is theirs alone (0700/0600): logs,
    # pid files and checkouts included. PR code gets its own directories chowned to it (sandbox).
    os.umask(0o077)
    logs = settings.data_dir / "logs"
    # Before anything starts: what a dead child leaves (and the daemonized postmaster) becomes ours.
    become_subreaper()
    supervisor = Supervisor(events_file=logs / "up.log", say=say, end_orphans=True)
    guard: subprocess.Popen[bytes] | None = None
    preview_cluster, preview_started = PreviewCluster(settings.data_dir), False
    preview_guard: subprocess.Popen[bytes] | None = None
    with database_server(settings) as (url, embedded):
        try:
            # Where the password is, never the URL: it carries the password.
            say(
                "postgres    "
                + (
                    f"embedded, under {settings.data_dir / 'postgres'} "
                    f"(password in {settings.data_dir / PASSWORD_FILE})"
                    if not settings.database_url
                    else "DATABASE_URL"
                )
            )
            if embedded is not None:
                supervisor.start(_postgres(embedded))
                guard = start_guard(embedded.pgdata)
                supervisor.keep.add(guard.pid)
            if settings.previewd_platform == "local" and settings.previewd_preview_database_url is None:
                # The previews' own databases (runtime/preview_postgres.py): started here, before the
                # worker, so its postmaster is one `up` knows (an unknown child is ended as an orphan).
                say(f"postgres    previews' databases: embedded, under {preview_cluster.root}")
                supervisor.start(_preview_postgres(preview_cluster))
                preview_started = True
                # Stopped by its own guard if `up` is killed, as previewd's Postgres is.
                preview_guard = start_guard(preview_cluster.pgdata)
                supervisor.keep.add(preview_guard.pid)
            env = dict(os.environ, DATABASE_URL=url, PREVIEWD_DATA_DIR=str(settings.data_dir))
            if not settings.temporal_address:
                say(f"temporal    starting the dev server (its UI on :{settings.previewd_temporal_ui_port})")
                supervisor.start(_temporal(settings))
                env["TEMPORAL_ADDRESS"] = f"127.0.0.1:{settings.previewd_temporal_port}"
            say("migrations  applying")
            migrate(url)
            token = asyncio.run(_admin_token(url, settings))
            for port, variable in (
                (settings.previewd_web_port, "PREVIEWD_WEB_PORT"),
                (settings.previewd_preview_port, "PREVIEWD_PREVIEW_PORT"),
            ):
                if port_open("127.0.0.1", port):
                    raise fail(f"port {port} is taken; stop what runs there or set {variable}")
            worker_started = time.time()
            # A worker that stopped making progress (its heartbeat says so, or went quiet) is replaced.
            worker_health = functools.partial(_worker_stalled, settings.data_dir)
            supervisor.start(_previewd("worker", env, logs, health=worker_health))
            supervisor.start(_previewd("web", env, logs))
            _wait_for_web(settings, supervisor)
            say("")
            say(f"dashboard   {settings.previewd_base_url}")
            if settings.github_sign_in:
                say("sign in     with GitHub on the dashboard")
            else:
                link = asyncio.run(new_link(url, settings))
                say(f"sign in     {link}  (works once; `previewd login-link` prints another)")
            say(f"API docs    {settings.previewd_base_url}/docs")
            if not settings.temporal_address:
                say(f"temporal UI http://localhost:{settings.previewd_temporal_ui_port}")
            if line := metrics_line(settings):
                say(line)
            if token:
                say(f"API token   {token}  (admin; shown this once: keep it, or `previewd token create`)")
            say(f"logs        {logs}/ (restarts in up.log)")
            if settings.previewd_platform == "local":
                say(asyncio.run(sandbox_line(url, settings, since=worker_started)))
            if not args.no_demo:
                _demo(url, settings, supervisor)
            say("")
            say("previewd is up: a piece that stops is started again. Ctrl-C stops everything.")
            while True:
                supervisor.tick()
                time.sleep(TICK_SECONDS)
        except Stop:
            say("\nstopping…")
            return 0
        except CrashLoop as error:
            raise fail(str(error)) from None
        finally:
            signal.signal(signal.SIGINT, signal.SIG_IGN)
            signal.signal(signal.SIGTERM, signal.SIG_IGN)
            # Reverse order: web and worker (which stops the previews), then Temporal; Postgres last,
            # when database_server() ends.
            supervisor.stop_all()
            if guard is not None:
                # An orderly stop: the server is stopped through the wheel when database_server() ends.
                guard.kill()
                guard.wait()
            if preview_guard is not None:
                preview_guard.kill()
                preview_guard.wait()
            if preview_started:
                preview_cluster.stop()
            say("stopped.")


TICK_SECONDS = 0.5


def _postgres(embedded: EmbeddedPostgres) -> ChildSpec:
    def start() -> Postmaster:
        # The first time it runs already (database_server started it): join it. Later, it died.
        if postmaster.running(embedded.postmaster_pid()):
            return postmaster.watch(embedded)
        return postmaster.restart(embedded)

    return ChildSpec("postgres", start, embedded.log_file)


def _preview_postgres(cluster: PreviewCluster) -> ChildSpec:
    """The previews' own Postgres (runtime/preview_postgres.py), supervised as previewd's is: watched
    through its postmaster's pid and started again when it dies (a worker that finds it gone starts it
    too; whichever comes second joins the running one)."""
    log_file = cluster.pgdata / "log"

    def start() -> Postmaster:
        if not cluster.running():
            postmaster.wait_gone(cluster.postmaster_pid())
        cluster.start()
        pid = cluster.postmaster_pid()
        if pid is None:
            raise RuntimeError(f"the previews' Postgres did not start; see {log_file}")
        return Postmaster(pid, log_file)

    return ChildSpec("preview-postgres", start, log_file)


def _temporal(settings: Settings) -> ChildSpec:
    log_file = settings.data_dir / "logs" / "temporal.log"

    def start() -> Child:
        process = start_dev_server(
            db_file=settings.data_dir / "temporal.db",
            port=settings.previewd_temporal_port,
            ui_port=settings.previewd_temporal_ui_port,
            log_file=log_file,
            with_parent=True,
        )
        return Child("temporal", process, log_file)

    return ChildSpec("temporal", start, log_file)


def _previewd(
    name: str, env: dict[str, str], logs: Path, *, health: Callable[[int], str | None] | None = None
) -> ChildSpec:
    """`previewd <name>` as a supervised child; `health` names what makes it stuck (see ChildSpec)."""

    def start() -> Child:
        # SIGTERM when `up` dies, even by SIGKILL: the worker then stops its previews in order.
        return spawn_previewd(name, [name], env=env, log_dir=logs, preexec=die_with_parent())

    return ChildSpec(name, start, logs / f"{name}.log", health=health)


def _worker_stalled(data_dir: Path, pid: int) -> str | None:
    return stalled_reason(data_dir, pid=pid)


def _wait_for_web(settings: Settings, supervisor: Supervisor) -> None:
    def healthy() -> bool:
        supervisor.tick()
        try:
            return httpx.get(f"http://127.0.0.1:{settings.previewd_web_port}/healthz", timeout=1).is_success
        except httpx.HTTPError:
            return False

    if not wait_until(healthy, timeout=60, interval=TICK_SECONDS):
        raise fail("the web app did not answer within 60s; see the logs under the data dir")


UP_TOKEN = "previewd up"


async def _admin_token(url: str, settings: Settings) -> str | None:
    """The operator's token, printed on the first run only and never written down: a copy on disk is
    one more place to steal it from. A copy an older previewd left in the data dir is revoked (it sat
    on disk) and removed; a new token replaces it, printed once."""
    old = settings.data_dir / "api-token"
    db = Database(url, pool_size=1)
    try:
        async with db.session() as session:
            admin = await ensure_admin(session)
            if old.exists():
                await revoke_by_value(session, token=old.read_text().strip())
                old.unlink()
            if await has_live_token(session, user_id=admin.id, name=UP_TOKEN):
                return None
            token, _ = await create_token(session, user_id=admin.id, name=UP_TOKEN, scope="admin")
            return token
    finally:
        await db.dispose()


def _demo(url: str, settings: Settings, supervisor: Supervisor) -> None:
    repo, sha = ensure_demo_repo(settings.data_dir)
    project = asyncio.run(_demo_project(url, str(repo)))
    say(f"demo        project {project.id} ({DEMO_REPO_NAME}), repository {repo}")
    payload = pull_request_payload(
        action="opened",
        number=1,
        sha=sha,
        repo_id=project.github_repo_id,
        repo_full_name=project.github_repo_full_name,
        title="Say hello from the PR",
        head_ref="preview-demo",
    )
    with httpx.Client(base_url=f"http://127.0.0.1:{settings.previewd_web_port}", timeout=10) as client:
        # A fixed delivery id: a later `up` re-sends it and the server acknowledges it as a duplicate.
        response = send_webhook(
            client,
            secret=webhook_secret(settings),
            event="pull_request",
            payload=payload,
            delivery_id=f"demo-pr-1-{sha}",
        )
    if response.json().get("status") == "duplicate":
        say("demo        PR #1 is already open; its preview comes back")
    else:
        say("demo        PR #1 opened; building its preview…")
    deadline = time.monotonic() + DEMO_TIMEOUT_SECONDS
    last = None
    while time.monotonic() < deadline:
        supervisor.tick()
        deployment = asyncio.run(_latest_demo_deployment(url, project.id))
        if deployment is not None and deployment.status != last:
            last = deployment.status
            say(f"demo        {deployment.status}")
            if deployment.status == DeploymentStatus.ACTIVE:
                say(f"preview     {deployment.app_url}")
                return
            if deployment.status == DeploymentStatus.FAILED:
                say(f"demo        failed: {deployment.error}")
                return
        time.sleep(0.5)
    say("demo        still not live; watch the worker log")


async def _demo_project(url: str, repo_path: str) -> Project:
    db = Database(url, pool_size=1)
    try:
        async with db.session() as session:
            found = (
                await session.exec(select(Project).where(Project.github_repo_full_name == DEMO_REPO_NAME))
            ).first()
            if found is not None:
                return found
            admin = await ensure_admin(session)
            config = DeploymentConfig(
                build_command="python3 build.py", start_command="python3 server.py", clone_url=repo_path
            )
            return await create_project(
                session, user_id=admin.id, repo_full_name=DEMO_REPO_NAME, config=config
            )
    finally:
        await db.dispose()


async def _latest_demo_deployment(url: str, project_id: object) -> Deployment | None:
    db = Database(url, pool_size=1)
    try:
        async with db.session() as session:
            result = await session.exec(
                select(Deployment)
                .where(Deployment.project_id == project_id, Deployment.pr_number == 1)
                .order_by(col(Deployment.created_at).desc())
                .limit(1)
            )
            return result.first()
    finally:
        await db.dispose()
