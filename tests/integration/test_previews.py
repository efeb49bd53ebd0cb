"""A PR's life through the real system: signed webhooks in, previews served by the proxy."""

from __future__ import annotations

import socket
import time
import uuid
from pathlib import Path

from tests.integration.system import AppRepo, System, wait_for


def listening(upstream: str) -> bool:
    host, port = upstream.rsplit(":", 1)
    with socket.socket() as probe:
        probe.settimeout(0.5)
        return probe.connect_ex((host, int(port))) == 0


def build_starts(system: System, deployment_id: object) -> int:
    return sum(1 for line in system.logs(deployment_id) if line == "$ python3 build.py")


def test_open_makes_a_live_preview_of_that_sha(system: System, repo: AppRepo) -> None:
    project = system.add_project(repo)
    sha = repo.commit("first version")
    system.pull_request(project, "opened", 1, sha, title="<b>My PR</b>")
    deployment = system.wait_status(project["id"], 1, sha, "active")
    page = system.preview(deployment["app_name"])
    assert page.status_code == 200
    assert sha in page.text and "first version" in page.text
    assert deployment["app_url"] == f"http://{deployment['app_name']}.localhost:{system.preview_port}/"
    assert deployment["pr_title"] == "<b>My PR</b>"
    assert any("built build/index.html" in line for line in system.logs(deployment["id"]))


def test_push_serves_the_new_sha_and_stops_the_old_process(system: System, repo: AppRepo) -> None:
    project = system.add_project(repo)
    first = repo.commit("one")
    system.pull_request(project, "opened", 2, first)
    old = system.wait_status(project["id"], 2, first, "active")
    old_route = system.route(old["app_name"])
    assert old_route is not None
    second = repo.commit("two")
    system.pull_request(project, "synchronize", 2, second)
    new = system.wait_status(project["id"], 2, second, "active")
    assert second in system.preview(new["app_name"]).text
    wait_for(lambda: not listening(old_route["upstream"]), timeout=15, what="old process to stop")
    wait_for(
        lambda: not (system.root / "data" / "work" / str(old["id"])).exists(),
        timeout=15,
        what="old dir removed",
    )
    assert system.wait_status(project["id"], 2, first, "replaced")


def test_ten_quick_pushes_end_with_the_last_sha_and_few_builds(system: System, repo: AppRepo) -> None:
    # A build that takes longer than the burst, so pushes land while it runs.
    project = system.add_project(repo, install_command="python3 -c 'import time; time.sleep(1.5)'")
    shas = [repo.commit(f"burst {i}") for i in range(10)]
    started = time.monotonic()
    system.pull_request(project, "opened", 3, shas[0])
    for sha in shas[1:]:
        system.pull_request(project, "synchronize", 3, sha)
        time.sleep(0.05)
    # The burst lands while the first build still runs (its install alone takes 1.5 s).
    assert time.monotonic() - started < 2.0
    last = system.wait_status(project["id"], 3, shas[-1], "active")
    assert shas[-1] in system.preview(last["app_name"]).text
    time.sleep(1)
    rows = system.deployments(project["id"], 3)
    assert [r["status"] for r in rows if r["status"] == "active"] == ["active"]
    # Earlier shas were cancelled mid-build, or (when the machine is slow to deliver the burst) went
    # live and were replaced; either way only the last one is live.
    assert all(r["status"] in ("superseded", "replaced", "active") for r in rows), [r["status"] for r in rows]
    builds = sum(build_starts(system, r["id"]) for r in rows)
    assert builds <= 3, f"{builds} builds started"


def test_close_destroys_the_preview_and_its_files(system: System, repo: AppRepo) -> None:
    project = system.add_project(repo)
    sha = repo.commit("to be closed")
    system.pull_request(project, "opened", 4, sha)
    deployment = system.wait_status(project["id"], 4, sha, "active")
    route = system.route(deployment["app_name"])
    assert route is not None
    system.pull_request(project, "closed", 4, sha, merged=True)
    system.wait_status(project["id"], 4, sha, "destroyed")
    assert system.route(deployment["app_name"]) is None
    assert not listening(route["upstream"])
    assert not (system.root / "data" / "work" / str(deployment["id"])).exists()
    assert system.preview(deployment["app_name"]).status_code == 404


def test_failing_build_is_failed_with_its_log_tail_and_not_retried(system: System, repo: AppRepo) -> None:
    project = system.add_project(repo, build_command="python3 fail.py")
    sha = repo.commit(
        "broken",
        {
            "fail.py": "import sys\nprint('compiling things')\n"
            "print('error: it broke', file=sys.stderr)\nsys.exit(3)\n"
        },
    )
    system.pull_request(project, "opened", 5, sha)
    failed = system.wait_status(project["id"], 5, sha, "failed")
    assert "exited with code 3" in failed["error"]
    assert "error: it broke" in failed["error"]  # the log tail travels with the error
    time.sleep(3)
    assert sum(1 for line in system.logs(failed["id"]) if line == "$ python3 fail.py") == 1
    assert len(system.deployments(project["id"], 5)) == 1


def test_secrets_reach_the_build_but_never_the_logs_or_api(system: System, repo: AppRepo) -> None:
    project = system.add_project(repo, build_command="python3 show.py")
    with system.api() as client:
        assert (
            client.put(
                f"/api/projects/{project['id']}/secrets/API_KEY", json={"value": "s3cr3t-value-123"}
            ).status_code
            == 204
        )
        assert "s3cr3t" not in client.get(f"/api/projects/{project['id']}").text
    script = (
        "import os, pathlib\nprint('key is', os.environ['API_KEY'])\n"
        "pathlib.Path('build').mkdir()\npathlib.Path('build/index.html').write_text('ok')\n"
    )
    sha = repo.commit("show", {"show.py": script})
    system.pull_request(project, "opened", 6, sha)
    deployment = system.wait_status(project["id"], 6, sha, "active")
    logs = system.logs(deployment["id"])
    assert "key is ********" in logs
    assert not any("s3cr3t-value-123" in line for line in logs)
    stored = system.rows("SELECT encrypted_value FROM project_secrets WHERE project_id = :p", p=project["id"])
    assert b"s3cr3t-value-123" not in bytes(stored[0]["encrypted_value"])


def test_worker_killed_mid_build_completes_once_after_restart(system: System, repo: AppRepo) -> None:
    project = system.add_project(repo, install_command="python3 slow.py")
    sha = repo.commit(
        "slow", {"slow.py": "import time\nprint('installing slowly', flush=True)\ntime.sleep(4)\n"}
    )
    system.pull_request(project, "opened", 7, sha)
    building = system.wait_status(project["id"], 7, sha, "building")
    wait_for(lambda: "installing slowly" in system.logs(building["id"]), timeout=60, what="install to start")
    system.kill_worker()
    system.start_child("worker")
    deployment = system.wait_status(project["id"], 7, sha, "active", timeout=120)
    assert sha in system.preview(deployment["app_name"]).text
    rows = system.deployments(project["id"], 7)
    assert len(rows) == 1 and rows[0]["status"] == "active"
    assert any("Build attempt 2" in line for line in system.logs(deployment["id"]))


def test_preview_process_that_dies_comes_back(system: System, repo: AppRepo) -> None:
    project = system.add_project(repo)
    sha = repo.commit("resilient")
    system.pull_request(project, "opened", 8, sha)
    deployment = system.wait_status(project["id"], 8, sha, "active")
    route = system.route(deployment["app_name"])
    assert route is not None and route["pid"]
    import os
    import signal

    os.killpg(route["pid"], signal.SIGKILL)
    wait_for(
        lambda: (r := system.route(deployment["app_name"])) and r["pid"] != route["pid"],
        timeout=30,
        what="restart",
    )
    wait_for(
        lambda: system.preview(deployment["app_name"]).status_code == 200, timeout=30, what="preview back"
    )
    assert Path(system.root / "data" / "work" / str(deployment["id"])).exists()

    # Each start's output reaches the runtime logs once: the restarted process appends to the same
    # file, and what the first one wrote is not copied again.
    def serving_lines() -> list[str]:
        return [line for line in system.logs(deployment["id"]) if line.startswith("serving on")]

    wait_for(lambda: len(serving_lines()) >= 2, timeout=30, what="the restarted process's output")
    time.sleep(1.5)  # a copy that came round again would have landed by now
    assert len(serving_lines()) == 2, serving_lines()


def test_builds_at_once_on_one_worker_are_bounded(system: System, tmp_path: Path) -> None:
    from datetime import timedelta

    # PREVIEWD_MAX_CONCURRENT_BUILDS defaults to 2: three slow builds, at most two overlap.
    slow = 'python3 -c \'import time; print("building", flush=True); time.sleep(2); print("built")\''
    repos = [AppRepo.create(tmp_path / f"bounded-{i}-{uuid.uuid4().hex[:6]}") for i in range(3)]
    projects = [system.add_project(repo, install_command=slow) for repo in repos]
    shas = [repo.commit("slow") for repo in repos]
    for project, sha in zip(projects, shas, strict=True):
        system.pull_request(project, "opened", 30, sha)
    deployments = [
        system.wait_status(p["id"], 30, sha, "active") for p, sha in zip(projects, shas, strict=True)
    ]
    spans = []
    for deployment in deployments:
        rows = system.rows(
            "SELECT message, timestamp FROM deployment_logs"
            " WHERE deployment_id = :d AND type = 'build' ORDER BY id",
            d=deployment["id"],
        )
        start = next(r["timestamp"] for r in rows if r["message"] == "building")
        end = next(r["timestamp"] for r in rows if r["message"] == "built")
        spans.append((start, end))
    most = max(sum(1 for s, e in spans if s <= t < e) for t, _ in spans)
    assert most <= 2, spans
    # And the third waited for a slot rather than failing: all three went live.
    assert max(s for s, _ in spans) - min(s for s, _ in spans) >= timedelta(seconds=1.5)
