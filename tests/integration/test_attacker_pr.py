"""Issue 10, shown: a pull request whose install, build and start commands try every escape, through
the real path (signed webhook → outbox → worker → sandbox), and a legitimate one beside it.

The attacker (attacker_app/attack.py) prints one line per attempt into its own output, which lands in
the deployment's logs; every attempt must be blocked. The host must keep answering webhooks while it
fork-bombs, and nothing of it may survive the PR's close.
"""

from __future__ import annotations

import shutil
import statistics
import time
import uuid
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy.engine import make_url

from activities.sandbox import probe
from activities.sandbox.cgroup import PARENT, detect
from cli.webhook_client import send_webhook
from tests.integration.system import WEBHOOK_SECRET, AppRepo, System, wait_for
from tests.requirements import require, require_reachable

ATTACKER_APP = Path(__file__).resolve().parent / "attacker_app"
# Every stage tries these (the other deployment's file and the ports are added per run).
ATTEMPTS = (
    "worker-environ",
    "data-dir-secret-keys",
    "data-dir-webhook-secret",
    "data-dir-session-key",
    "data-dir-api-token",
    "data-dir-listing",
    "other-deployment-file",
    "other-deployment-write",
    "postgres-socket",
    "route-169.254.169.254",
    "setsid-left-behind",
    "allocate-4GiB",
)
# The webhook path while the fork bomb runs: a starved host answers in seconds. The 50 ms bar of a
# quiet box is bench.webhooks' to measure; here, with the whole suite's load around it, an order of
# magnitude below starvation.
ACK_P99_BOUND_MS = 250.0
REGISTRIES = (("pypi.org", 443), ("registry.npmjs.org", 443))


@pytest.fixture(scope="module", autouse=True)
def sandboxing() -> None:
    found = probe()
    require(found.ok, f"no sandbox on this host: {found}")


def host_pids_with(marker: str) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if marker.encode() in (entry / "cmdline").read_bytes():
                    found.append(int(entry.name))
            except OSError:
                continue
    return found


def sandbox_cgroups(deployment_id: object) -> list[Path]:
    layout = detect()
    assert layout is not None
    roots = {layout.memory / PARENT, layout.pids / PARENT}
    return [path for root in roots if root.exists() for path in root.glob(f"d-{deployment_id}-*")]


def pg_socket(database_url: str) -> str:
    url = make_url(database_url)
    host = url.query.get("host") or url.host or "/tmp"
    return f"{host}/.s.PGSQL.{url.port or 5432}"


def attempts_in(lines: list[str], stage: str) -> dict[str, str]:
    prefix = f"ATTEMPT {stage} "
    found = {}
    for line in lines:
        if line.startswith(prefix):
            name, _, verdict = line[len(prefix) :].partition(": ")
            found[name] = verdict
    return found


def live_victim(system: System, repo: AppRepo) -> tuple[dict[str, Any], int, Path]:
    """Another project's live preview: its host port and its checkout are what the attacker aims at."""
    project = system.add_project(repo)
    sha = repo.commit("victim")
    system.pull_request(project, "opened", 61, sha)
    deployment = system.wait_status(project["id"], 61, sha, "active")
    route = system.route(deployment["app_name"])
    assert route is not None
    port = int(route["upstream"].rsplit(":", 1)[1])
    return deployment, port, system.root / "data" / "work" / str(deployment["id"]) / "src"


def measure_acks(system: System, until: float) -> list[float]:
    """Signed webhook deliveries, one after another, until `until`: each answer's time in ms."""
    times = []
    with httpx.Client(base_url=system.base_url, timeout=10) as client:
        while time.monotonic() < until:
            started = time.perf_counter()
            response = send_webhook(
                client, secret=WEBHOOK_SECRET, event="ping", payload={"zen": "keep answering", "hook_id": 1}
            )
            times.append((time.perf_counter() - started) * 1000)
            assert response.status_code == 202, response.text
            time.sleep(0.01)
    return times


def test_an_attacker_pr_reaches_nothing_and_leaves_nothing(
    system: System, repo: AppRepo, tmp_path: Path
) -> None:
    attack(system, repo, tmp_path, bomb=True)


def stage_done(system: System, deployment_id: object, stage: str) -> list[str] | None:
    lines = system.logs(deployment_id)
    if f"attacker {stage} done" in lines:
        return lines
    row = system.rows("SELECT status, error FROM deployments WHERE id = :d", d=deployment_id)[0]
    assert row["status"] != "failed", f"the attacker's deployment failed: {row['error']}"
    return None


def assert_blocked(lines: list[str], stage: str, ports: list[str]) -> None:
    reached = [line for line in lines if line.startswith(f"ATTEMPT {stage} ") and ": REACHED" in line]
    assert reached == [], reached
    assert f"attacker {stage} as uid 65534" in lines, stage
    tried = attempts_in(lines, stage)
    expected = {*ATTEMPTS, *(f"tcp-127.0.0.1:{port}" for port in ports)}
    assert expected <= set(tried), (stage, expected - set(tried))
    assert all(verdict.startswith("blocked") for verdict in tried.values()), tried


def attack(system: System, repo: AppRepo, tmp_path: Path, *, bomb: bool) -> None:
    """The whole attack. `bomb`: fork-bomb in the build step (off only to watch this fail on a
    host without a sandbox, where a fork bomb would take the machine down)."""
    victim, victim_port, victim_src = live_victim(system, repo)
    attacker = AppRepo.create(tmp_path / f"attacker-{uuid.uuid4().hex[:8]}")
    marker = f"attacker-{uuid.uuid4().hex[:12]}"
    temporal_port = system.env["TEMPORAL_ADDRESS"].rsplit(":", 1)[1]
    metrics_ports = [system.env["PREVIEWD_METRICS_PORT"], system.env["PREVIEWD_WORKER_METRICS_PORT"]]
    ports = ["5432", "7233", temporal_port, str(system.web_port), str(system.preview_port), str(victim_port)]
    ports += metrics_ports  # what previewd counts is not the PR's to read
    bomb_seconds = 6.0
    project = system.add_project(
        attacker,
        install_command="python3 attack.py install",
        build_command="python3 attack.py build",
        start_command="python3 attack.py start",
        build_memory_mb=512,
        preview_memory_mb=512,
        max_processes=256,
        env_vars={
            "WORKER_PID": str(system.children["worker"].process.pid),
            "DATA_DIR": str(system.root / "data"),
            "PG_SOCKET": pg_socket(system.database_url),
            "HOST_PORTS": ",".join(ports),
            "OTHER_WORK": str(victim_src),
            "MARKER": marker,
            "BOMB_STAGES": "build" if bomb else "",
            "BOMB_SECONDS": str(bomb_seconds),
        },
    )
    sha = attacker.commit("attack", {"attack.py": (ATTACKER_APP / "attack.py").read_text()})
    system.pull_request(project, "opened", 62, sha)
    building = system.wait_status(project["id"], 62, sha, "building", timeout=120)
    # Each stage is judged as soon as it is done, before the next one runs.
    lines = wait_for(lambda: stage_done(system, building["id"], "install"), timeout=120, what="install")
    assert_blocked(lines, "install", ports)
    acks: list[float] = []
    if bomb:
        wait_for(
            lambda: "FORKBOMB build start" in system.logs(building["id"]), timeout=120, what="the fork bomb"
        )
        # The host's webhook path while the bomb runs (minus a margin at its end).
        acks = measure_acks(system, time.monotonic() + bomb_seconds - 1.5)
    lines = wait_for(lambda: stage_done(system, building["id"], "build"), timeout=120, what="build")
    assert_blocked(lines, "build", ports)
    deployment = system.wait_status(project["id"], 62, sha, "active", timeout=240)
    lines = wait_for(lambda: stage_done(system, deployment["id"], "start"), timeout=60, what="start")
    assert_blocked(lines, "start", ports)
    assert not (victim_src / "planted-by-attacker").exists()
    assert system.preview(victim["app_name"]).status_code == 200

    if bomb:
        assert "FORKBOMB build end" in system.logs(deployment["id"])
        p99 = statistics.quantiles(acks, n=100)[98]
        median = statistics.median(acks)
        print(f"webhook acks during the fork bomb: n={len(acks)} median={median:.1f} ms p99={p99:.1f} ms")
        assert len(acks) >= 50 and p99 < ACK_P99_BOUND_MS, (len(acks), p99)

    # The install and build sandboxes are gone with their steps; the preview's only at the close.
    system.pull_request(project, "closed", 62, sha)
    system.wait_status(project["id"], 62, sha, "destroyed")
    wait_for(lambda: not host_pids_with(marker), timeout=15, what="the attacker's processes to be gone")
    assert sandbox_cgroups(deployment["id"]) == []
    assert not (system.root / "data" / "work" / str(deployment["id"])).exists()


@pytest.fixture(scope="module")
def registries() -> None:
    for host, port in REGISTRIES:
        require_reachable(host, port)
    require(
        shutil.which("npm", path="/usr/local/bin:/usr/bin:/bin") is not None,
        "no npm in the system's directories",
    )


def test_a_legitimate_build_installs_from_pypi_and_npm_and_reuses_its_cache(
    system: System, repo: AppRepo, registries: None
) -> None:
    project = system.add_project(
        repo,
        install_command="python3 legit_install.py",
        build_command=None,
        start_command="python3 serve.py",
    )
    files = {name: (ATTACKER_APP / name).read_text() for name in ("serve.py", "legit_install.py")}
    first = repo.commit("legit", files)
    system.pull_request(project, "opened", 63, first)
    deployment = system.wait_status(project["id"], 63, first, "active", timeout=300)
    app = deployment["app_name"]
    for path in ("vendor/six.py", "node_modules/is-number/package.json"):
        answer = httpx.get(
            f"http://127.0.0.1:{system.preview_port}/{path}",
            headers={"Host": f"{app}.localhost:{system.preview_port}"},
            timeout=10,
        )
        assert answer.status_code == 200, (path, answer.status_code)
    assert "cache holds: []" in system.logs(deployment["id"])
    cache = system.root / "data" / "cache" / project["id"]
    assert (cache / "npm").is_dir(), sorted(p.name for p in cache.iterdir())

    second = repo.commit("legit again")
    system.pull_request(project, "synchronize", 63, second)
    again = system.wait_status(project["id"], 63, second, "active", timeout=300)
    # What the first build left in $HOME/.cache is there for the second. (npm's cache, not pip's: on
    # this machine pip writes no cache for the index's answers, on the host either.)
    holds = [line for line in system.logs(again["id"]) if line.startswith("cache holds:")]
    assert holds and "'npm'" in holds[0], holds
