"""A database per preview (issue 16), through signed webhooks, with a real Django app (psycopg,
dj-database-url, `manage.py migrate` as its release command) in the sandbox and the real embedded
preview cluster: two PRs each get a database of their own, seeded; a write through one never shows in
the other; PR 1's role is refused PR 2's database (from the sandbox and from this host), previewd's
own Postgres is out of the sandbox's reach; a push keeps the data; a reset empties it back to the seed;
a close drops database and role; a database orphaned with no workflow is listed by `previewd db gc`,
then dropped by `--apply`."""

from __future__ import annotations

import asyncio
import re
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest
from temporalio.client import Client

from activities.logsink import MASK
from activities.sandbox import probe
from config import Settings
from models.crypto import Keyring
from runtime.data_dir import secret_keys
from runtime.preview_postgres import PASSWORD_FILE, PreviewCluster
from tests.integration.github_system import REPO as GITHUB_REPO
from tests.integration.github_system import GitHubSystem
from tests.integration.system import AppRepo, System, git, wait_for
from tests.requirements import require, require_reachable
from workflows.database_reconcile import DatabaseReconcileWorkflow
from workflows.preview_db_io import DatabaseGcInput

DJANGO_APP = Path(__file__).parent / "apps" / "django_app"
BUILD_TIMEOUT = 420
COMMANDS = {
    "install_command": "pip install -r requirements.txt",
    # PR code printing what it was given: the log shows it masked.
    "build_command": 'echo "url=$DATABASE_URL pw=$PREVIEWD_DATABASE_PASSWORD" && '
    "python manage.py collectstatic --noinput",
    "start_command": None,  # the Procfile's web: and release: lines
    "database_engine": "postgres",
    "database_seed": "seed.sql",
    # Not "/": a visit there writes a row, and the counts below are exact.
    "health_check_path": "/healthz",
}
# What this fixture adds to the Django app: psycopg, a seed, a page that counts the seed's rows too,
# and /probe, PR code trying the doors it must find shut.
FILES = {
    "requirements.txt": (DJANGO_APP / "requirements.txt").read_text() + "psycopg[binary]==3.2.3\n",
    "seed.sql": (
        "CREATE TABLE seeded_note (body text NOT NULL);\n"
        "INSERT INTO seeded_note (body) VALUES ('from the seed'), ('another seeded row');\n"
    ),
    "hello/probe.py": """import os

import psycopg
from django.conf import settings
from django.db import connection
from django.http import HttpResponse


def _try(**params):
    try:
        psycopg.connect(connect_timeout=3, **params).close()
        return "CONNECTED"
    except Exception as error:
        return "refused: " + " | ".join(str(error).strip().splitlines())[:400]


def probe(request):
    db = settings.DATABASES["default"]
    mine = dict(host=db["HOST"], user=db["USER"], password=db["PASSWORD"], port=db["PORT"] or None)
    lines = [
        "engine: " + connection.vendor,
        # previewd's own Postgres, by the socket path it has on the host.
        "own-socket: " + _try(host=os.environ["OWN_PG_SOCKET"], user="postgres", dbname="postgres"),
        # The other PR's database, and the cluster's own, with this PR's role.
        "other-db: " + _try(dbname=request.GET["other"], **mine),
        "postgres-db: " + _try(dbname="postgres", **mine),
    ]
    return HttpResponse("\\n".join(lines), content_type="text/plain")
""",
    "gettingstarted/urls.py": (
        "from django.urls import path\n\nfrom hello import probe, views\n"
        "from django.http import HttpResponse\n\n"
        'urlpatterns = [path("", views.index), path("probe", probe.probe),'
        ' path("healthz", lambda request: HttpResponse("ok"))]\n'
    ),
    "hello/templates/hello/index.html": (DJANGO_APP / "hello/templates/hello/index.html")
    .read_text()
    .replace("</body>", '<p>seeded: <span id="seeded">{{ seeded }}</span></p>\n</body>'),
}
VIEW_SEEDED = """
    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM seeded_note")
        seeded = cursor.fetchone()[0]
"""


@pytest.fixture(scope="module", autouse=True)
def sandboxed_with_pypi() -> None:
    found = probe()
    require(found.ok, f"no sandbox on this host: {found}")
    require_reachable("pypi.org", 443)


@pytest.fixture(scope="module")
def cluster(system: System) -> Iterator[PreviewCluster]:
    """The preview cluster the worker starts; stopped after this module (the system's other tests
    have no use for it, and a worker starts it again on its next need)."""
    found = PreviewCluster(system.root / "data")
    yield found
    found.stop()


def admin(cluster: PreviewCluster) -> str:
    """The preview cluster's superuser URL, for the test's own looks at pg_database / pg_roles."""
    return cluster.admin_url((cluster.data_dir / PASSWORD_FILE).read_text().strip())


def django_db_repo(path: Path) -> AppRepo:
    repo = AppRepo.create(path, DJANGO_APP)
    views = (repo.path / "hello/views.py").read_text()
    views = views.replace(
        "from django.shortcuts import render",
        "from django.db import connection\nfrom django.shortcuts import render",
    )
    views = views.replace("    message = ", VIEW_SEEDED + "    message = ", 1)
    views = views.replace('"message": message,', '"message": message,\n            "seeded": seeded,')
    repo.commit("a database of its own", {**FILES, "hello/views.py": views})
    return repo


def page(system: System, app_name: str, path: str = "/") -> str:
    import httpx

    answer = httpx.get(
        f"http://127.0.0.1:{system.preview_port}{path}",
        headers={"Host": f"{app_name}.localhost:{system.preview_port}"},
        timeout=20,
    )
    assert answer.status_code == 200, answer.text[-2000:]
    return answer.text


def counts(html: str) -> tuple[int, int]:
    greetings = re.search(r'id="greetings">(\d+)<', html)
    seeded = re.search(r'id="seeded">(\d+)<', html)
    assert greetings and seeded, html[-2000:]
    return int(greetings[1]), int(seeded[1])


def pr_password(system: System, name: str) -> str:
    [row] = system.rows("SELECT * FROM preview_databases WHERE name = :n", n=name)
    keyring = Keyring(secret_keys(Settings(previewd_data_dir=system.root / "data")))
    return keyring.decrypt(row["encrypted_password"], row["key_id"], associated=f"preview-database:{name}")


def exists(cluster: PreviewCluster, name: str) -> tuple[bool, bool]:
    """(database, role) named `name` in pg_database / pg_roles."""
    with psycopg.connect(admin(cluster)) as conn:
        database = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name]).fetchone()
        role = conn.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", [name]).fetchone()
    return database is not None, role is not None


def db_gc(system: System, *args: str) -> str:
    done = subprocess.run(
        [sys.executable, "-m", "cli", "db", "gc", *args],
        env=system.env, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    return done.stdout


async def run_database_reconcile(system: System) -> None:
    """What the schedule starts every few minutes, started now."""
    client = await Client.connect(system.env["TEMPORAL_ADDRESS"])
    await client.execute_workflow(
        DatabaseReconcileWorkflow.run,
        DatabaseGcInput(apply=True),
        id=f"database-reconcile-{uuid.uuid4().hex[:8]}",
        task_queue=system.env["TEMPORAL_TASK_QUEUE"],
    )


def test_each_pr_gets_its_own_database_isolated_seeded_kept_reset_and_dropped(
    system: System, cluster: PreviewCluster, tmp_path: Path
) -> None:
    repo = django_db_repo(tmp_path / f"djdb-{uuid.uuid4().hex[:8]}")
    own_socket = str(system.root / "postgres")
    project = system.add_project(repo, env_vars={"OWN_PG_SOCKET": own_socket}, **COMMANDS)
    first = git(repo.path, "rev-parse", "HEAD")
    system.pull_request(project, "opened", 161, first)
    system.pull_request(project, "opened", 162, first)
    one = system.wait_status(project["id"], 161, first, "active", timeout=BUILD_TIMEOUT)
    two = system.wait_status(project["id"], 162, first, "active", timeout=BUILD_TIMEOUT)
    name_one = f"previewd_pr_{uuid.UUID(project['id']).hex}_161"
    name_two = f"previewd_pr_{uuid.UUID(project['id']).hex}_162"
    logs = system.logs(one["id"])
    assert any(f"Preview database {name_one} created" in line for line in logs), logs
    assert "Seeded from seed.sql, as the PR's own role" in logs
    assert "$ python manage.py migrate --noinput" in logs

    # Each page visit writes a row, in its own PR's database only; both are seeded.
    for _ in range(3):
        assert counts(page(system, one["app_name"]))[1] == 2
    assert counts(page(system, one["app_name"])) == (4, 2)
    assert counts(page(system, two["app_name"])) == (1, 2)

    # The password is nowhere in the logs, though the URL holding it reached every step.
    password_one = pr_password(system, name_one)
    everything = "\n".join(system.logs(one["id"]))
    assert password_one not in everything
    [printed] = [line for line in system.logs(one["id"]) if line.startswith("url=")]
    assert printed == f"url={MASK} pw={MASK}", printed

    # From the sandbox: previewd's own Postgres is not there; the other PR's database and the
    # cluster's `postgres` refuse this PR's role.
    probed = page(system, one["app_name"], f"/probe?other={name_two}")
    assert "engine: postgresql" in probed
    assert re.search(r"own-socket: refused: .*No such file or directory", probed), probed
    assert re.search(r"other-db: refused: .*permission denied for database", probed), probed
    assert re.search(r"postgres-db: refused: .*permission denied for database", probed), probed
    # From this host, the same real connections: PR 1's role into PR 2's database is refused.
    with pytest.raises(psycopg.OperationalError, match="permission denied for database"):
        psycopg.connect(host=str(cluster.socket_dir), user=name_one, password=password_one, dbname=name_two)
    with psycopg.connect(
        host=str(cluster.socket_dir), user=name_one, password=password_one, dbname=name_one
    ) as conn:
        assert conn.execute("SELECT count(*) FROM hello_greeting").fetchone() == (4,)
        role = conn.execute(
            "SELECT rolsuper, rolcreatedb, rolcreaterole FROM pg_roles WHERE rolname = current_user"
        ).fetchone()
        assert role == (False, False, False)

    # A push keeps the data (the database outlives the deployment).
    second = repo.commit("second")
    system.pull_request(project, "synchronize", 161, second)
    pushed = system.wait_status(project["id"], 161, second, "active", timeout=BUILD_TIMEOUT)
    assert any(f"Preview database {name_one} kept" in line for line in system.logs(pushed["id"]))
    assert counts(page(system, pushed["app_name"])) == (5, 2)

    # Reset, by the dashboard's button (`/preview reset-db`'s twin): back to the seed.
    dashboard = system.dashboard()
    try:
        pulls = dashboard.get(f"/projects/{project['id']}/pulls")
        button = f'hx-post="/projects/{project["id"]}/pulls/161/reset-db"'
        assert button in pulls.text, pulls.text
        # The button's list is a fragment; the page around it holds the CSRF token htmx sends.
        whole = dashboard.get(f"/projects/{project['id']}").text
        csrf = re.search(r'"X-CSRF-Token": "([^"]+)"', whole)
        assert csrf, whole
        asked = dashboard.post(
            f"/projects/{project['id']}/pulls/161/reset-db", headers={"X-CSRF-Token": csrf[1]}
        )
        assert asked.status_code == 200 and "made afresh" in asked.text, asked.text
    finally:
        dashboard.close()
    # The API's: a PR with no workflow is a 404, said so.
    with system.api() as api:
        missing = api.post(f"/api/projects/{project['id']}/pulls/404/reset-db")
    assert missing.status_code == 404, missing.text

    def reset_live() -> dict[str, Any] | None:
        rows = [r for r in system.deployments(project["id"], 161) if r["status"] == "active"]
        return rows[-1] if rows and rows[-1]["id"] != pushed["id"] else None

    after_reset = wait_for(reset_live, timeout=BUILD_TIMEOUT, what="the redeploy after reset-db")
    assert any("dropped, to be made afresh" in line for line in system.logs(after_reset["id"]))
    assert counts(page(system, after_reset["app_name"])) == (1, 2)
    audits = system.rows(
        "SELECT * FROM audit_events WHERE project_id = :p AND action = 'reset-db' ORDER BY created_at",
        p=project["id"],
    )
    assert [(a["pr_number"], a["outcome"] == "ok") for a in audits] == [(161, True), (404, False)]

    # A close drops database and role (connections ended first: PR 2's preview held some).
    system.pull_request(project, "closed", 162, first)
    wait_for(lambda: exists(cluster, name_two) == (False, False) or None, timeout=60, what="PR 2 dropped")
    assert not system.rows("SELECT 1 FROM preview_databases WHERE name = :n", n=name_two)
    assert exists(cluster, name_one) == (True, True)

    # An orphan: a database and role named for a PR that has no workflow. Listed by a dry run and
    # left; dropped by --apply. PR 1's, whose workflow runs, is never listed.
    orphan = f"previewd_pr_{uuid.UUID(project['id']).hex}_999"
    with psycopg.connect(admin(cluster), autocommit=True) as conn:
        conn.execute(f'CREATE ROLE "{orphan}" LOGIN')
        conn.execute(f'CREATE DATABASE "{orphan}" OWNER "{orphan}"')
    listed = db_gc(system)
    assert f"orphan     {orphan}" in listed and name_one not in listed, listed
    assert exists(cluster, orphan) == (True, True)
    applied = db_gc(system, "--apply")
    assert f"dropped    {orphan}" in applied, applied
    assert exists(cluster, orphan) == (False, False)
    assert exists(cluster, name_one) == (True, True)

    # The size cap: at 1 MB (a migrated Django database holds several), the schedule's workflow,
    # run now, stops PR 1's preview and says why; its database goes with it, its PR stays open.
    with system.api() as api:
        config = api.get(f"/api/projects/{project['id']}").json()["deployment_config"]
        capped = api.patch(
            f"/api/projects/{project['id']}", json={"deployment_config": {**config, "database_max_mb": 1}}
        )
    assert capped.status_code == 200, capped.text
    asyncio.run(run_database_reconcile(system))
    wait_for(
        lambda: (
            system.rows(
                "SELECT 1 FROM deployments WHERE id = :d AND status = 'destroyed'", d=after_reset["id"]
            )
            or None
        ),
        timeout=60,
        what="PR 1's preview stopped",
    )
    assert any(
        re.search(r"its database holds \d+ MB, over the project's 1 MB cap", line)
        for line in system.logs(after_reset["id"])
    ), system.logs(after_reset["id"])[-5:]
    wait_for(lambda: exists(cluster, name_one) == (False, False) or None, timeout=60, what="PR 1 dropped")
    assert system.workflow_status(project["id"], 161) == "RUNNING"
    system.pull_request(project, "closed", 161, second)


# A seed command (Heroku's postdeploy): after the release (the migrations), as the PR's role.
SEED_COMMAND = (
    "python -c \"import os, psycopg; c = psycopg.connect(os.environ['DATABASE_URL']); "
    "c.execute('CREATE TABLE seeded_note (body text)'); "
    "c.execute('INSERT INTO seeded_note VALUES (1), (2), (3)'); c.commit()\""
)


def test_a_seed_command_runs_once_after_the_release_into_a_new_database(
    system: System, cluster: PreviewCluster, tmp_path: Path
) -> None:
    repo = django_db_repo(tmp_path / f"djdb-{uuid.uuid4().hex[:8]}")
    project = system.add_project(
        repo, env_vars={"OWN_PG_SOCKET": "/nowhere"}, **{**COMMANDS, "database_seed": SEED_COMMAND}
    )
    first = git(repo.path, "rev-parse", "HEAD")
    system.pull_request(project, "opened", 171, first)
    live = system.wait_status(project["id"], 171, first, "active", timeout=BUILD_TIMEOUT)
    assert counts(page(system, live["app_name"])) == (1, 3)
    # The next push keeps the database and does not seed it again (a second CREATE TABLE would fail).
    second = repo.commit("second")
    system.pull_request(project, "synchronize", 171, second)
    pushed = system.wait_status(project["id"], 171, second, "active", timeout=BUILD_TIMEOUT)
    assert counts(page(system, pushed["app_name"])) == (2, 3)
    assert not any("CREATE TABLE" in line for line in system.logs(pushed["id"]) if line.startswith("$"))
    system.pull_request(project, "closed", 171, second)
    name = f"previewd_pr_{uuid.UUID(project['id']).hex}_171"
    wait_for(lambda: exists(cluster, name) == (False, False) or None, timeout=60, what="PR 171 dropped")


def test_preview_reset_db_comment_needs_push_access_and_makes_the_database_afresh(
    github: GitHubSystem,
) -> None:
    """`/preview reset-db` on the PR, through the App's webhook: refused for a reader (said on the PR),
    carried out for a maintainer (dropped, made afresh, redeployed). The example app needs no build."""
    system = github.system
    preview_cluster = PreviewCluster(system.root / "data")
    try:
        project = github.add_project(9160, database_engine="postgres")
        number = 16
        sha = github.push(f"PR {number}", ref=f"refs/heads/pr-{number}")
        github.fake.set_pull(GITHUB_REPO, number, head_sha=sha)
        system.pull_request(project, "opened", number, sha)
        first = system.wait_status(project["id"], number, sha, "active")
        name = f"previewd_pr_{uuid.UUID(project['id']).hex}_{number}"
        assert any(f"Preview database {name} created" in line for line in system.logs(first["id"]))

        github.comment(project, number, "/preview reset-db", login="member-reader", association="MEMBER")
        refusal = "@member-reader: `/preview reset-db` was not carried out: it needs push access"
        wait_for(lambda: refusal in github.sticky(number) or None, timeout=60, what="the reader refused")
        github.comment(project, number, "/preview reset-db", login="maintainer", association="MEMBER")

        def redeployed() -> dict[str, Any] | None:
            rows = [r for r in system.deployments(project["id"], number) if r["status"] == "active"]
            return rows[-1] if rows and rows[-1]["id"] != first["id"] else None

        again = wait_for(redeployed, timeout=120, what="the redeploy after /preview reset-db")
        assert any("dropped, to be made afresh" in line for line in system.logs(again["id"]))
        assert len(system.deployments(project["id"], number)) == 2  # the reader's comment did nothing

        system.pull_request(project, "closed", number, sha)
        wait_for(lambda: exists(preview_cluster, name) == (False, False) or None, timeout=60, what="dropped")
    finally:
        preview_cluster.stop()
