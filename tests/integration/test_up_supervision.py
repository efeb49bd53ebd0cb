"""`previewd up` supervises its children: whatever is killed -9 comes back on its own, and the system
with it (the demo preview, new webhooks, /healthz, /readyz); a crash loop stops everything with a
message; a SIGKILL of `up` itself leaves nothing running."""

from __future__ import annotations

import contextlib
import os
import re
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from cli.webhook_client import pull_request_payload, send_webhook
from config import Settings
from models.queries import local_repo_id
from runtime.data_dir import webhook_secret
from runtime.demo import DEMO_REPO_NAME
from tests.integration.up_process import Up, alive, descendants, processes_under, start_up

STARTUP_SECONDS = 300
RECOVERY_SECONDS = 30


@pytest.fixture(scope="module")
def up() -> Iterator[Up]:
    # A short path: Postgres's socket path must stay under ~100 characters.
    running = start_up(Path(tempfile.mkdtemp(prefix="pvd-sup-")), demo=True)
    try:
        assert running.wait_for_output("previewd is up", STARTUP_SECONDS), running.output()
        yield running
    finally:
        running.discard()


def _preview_url(up: Up) -> str:
    found = re.search(r"^preview\s+(\S+)", up.output(), re.MULTILINE)
    assert found, f"the demo did not go live:\n{up.output()}"
    return found.group(1)


def _answers(up: Up, url: str) -> bool:
    host = httpx.URL(url).host
    try:
        response = httpx.get(f"http://127.0.0.1:{up.preview_port}/", headers={"Host": host}, timeout=2)
    except httpx.HTTPError:
        return False
    return response.status_code == 200


def _wait(check: object, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():  # type: ignore[operator]
            return True
        time.sleep(0.01)
    return False


def _bound(sock: socket.socket, port: int) -> bool:
    try:
        sock.bind(("127.0.0.1", port))
    except OSError:
        return False
    return True


def _kill(up: Up, role: str) -> tuple[int, int]:
    """SIGKILL the child; returns its pid and where the output stood."""
    pid, offset = up.child(role), len(up.output())
    os.kill(pid, signal.SIGKILL)
    return pid, offset


def _open_pr_and_wait_until_live(up: Up, number: int) -> None:
    """A new PR on the demo repository, through a signed webhook, must end up served by the proxy."""
    repo = up.data_dir / "demo-repo"
    sha = subprocess.run(
        ["git", "-C", str(repo), "rev-parse", "preview-demo"], check=True, capture_output=True, text=True
    ).stdout.strip()
    payload = pull_request_payload(
        action="opened",
        number=number,
        sha=sha,
        repo_id=local_repo_id(DEMO_REPO_NAME),
        repo_full_name=DEMO_REPO_NAME,
        title=f"PR {number}",
        head_ref="preview-demo",
    )
    secret = webhook_secret(Settings(previewd_data_dir=up.data_dir))
    with httpx.Client(base_url=f"http://127.0.0.1:{up.web_port}", timeout=10) as client:
        response = send_webhook(client, secret=secret, event="pull_request", payload=payload)
    assert response.status_code == 202, response.text
    url = _preview_url(up).replace("pr-1-", f"pr-{number}-", 1)
    assert _wait(lambda: _answers(up, url), 120), f"PR {number} never went live at {url}"


def test_a_killed_worker_is_restarted_and_its_preview_comes_back(up: Up) -> None:
    url = _preview_url(up)
    assert _answers(up, url)
    old_processes = descendants(up.child("worker"))
    assert old_processes, "the demo preview runs under the worker"
    _, offset = _kill(up, "worker")
    assert up.wait_for_output("worker exited (killed by SIGKILL); restarting it in", 10, after=offset)
    assert up.wait_for_output("worker restarted", 10, after=offset), up.output()[offset:]
    started = time.monotonic()
    assert _wait(lambda: _answers(up, url), RECOVERY_SECONDS), up.output()[offset:]
    back = time.monotonic() - started
    left = [pid for pid in old_processes if alive(pid)]
    assert left == [], f"processes of the killed worker still run: {left}"
    # Nothing of the old preview runs outside the new worker.
    new_tree = set(descendants(up.child("worker")))
    strays = set(processes_under(up.data_dir / "work")) - new_tree
    assert strays == set(), f"preview processes outside previewd's supervision: {strays}"
    print(f"preview back {back:.1f}s after the worker restarted")


def test_a_killed_temporal_is_restarted_and_new_webhooks_still_deploy(up: Up) -> None:
    _, offset = _kill(up, "temporal")
    assert up.wait_for_output("temporal exited (killed by SIGKILL); restarting it in", 10, after=offset)
    assert up.wait_for_output("temporal restarted", 90, after=offset), up.output()[offset:]
    _open_pr_and_wait_until_live(up, 2)


def test_a_killed_web_app_is_restarted(up: Up) -> None:
    _, offset = _kill(up, "web")
    assert up.wait_for_output("web exited (killed by SIGKILL); restarting it in", 10, after=offset)

    def healthy() -> bool:
        try:
            return httpx.get(f"http://127.0.0.1:{up.web_port}/healthz", timeout=1).is_success
        except httpx.HTTPError:
            return False

    assert _wait(healthy, RECOVERY_SECONDS), up.output()[offset:]
    # Its /metrics, on the port `up` printed, comes back with it (the killed one's socket let go).
    found = re.search(r"^metrics\s+(http://\S+/metrics) \(web\)", up.output(), re.MULTILINE)
    assert found, up.output()

    def metrics_served() -> bool:
        try:
            return "previewd_previews" in httpx.get(found.group(1), timeout=2).text
        except httpx.HTTPError:
            return False

    assert _wait(metrics_served, RECOVERY_SECONDS), up.output()[offset:]


def test_a_killed_postmaster_is_restarted_and_readyz_recovers(up: Up) -> None:
    pid = int((up.data_dir / "postgres" / "postmaster.pid").read_text().split()[0])
    offset = len(up.output())
    os.kill(pid, signal.SIGKILL)
    assert up.wait_for_output(f"postgres exited (postmaster pid {pid} is gone", 10, after=offset)
    assert up.wait_for_output("postgres restarted", 60, after=offset), up.output()[offset:]
    assert f"postgres restarted (pid {pid})" not in up.output()[offset:]

    def ready() -> bool:
        try:
            return httpx.get(f"http://127.0.0.1:{up.web_port}/readyz", timeout=5).status_code == 200
        except httpx.HTTPError:
            return False

    assert _wait(ready, RECOVERY_SECONDS), up.output()[offset:]
    # The worker found its way back too: the preview is still served (its route lives in Postgres).
    assert _wait(lambda: _answers(up, _preview_url(up)), RECOVERY_SECONDS)
    # And the whole path on the new server: webhook, outbox, dispatcher, workflow, deployment rows.
    _open_pr_and_wait_until_live(up, 3)
    events = (up.data_dir / "logs" / "up.log").read_text()
    assert "postgres restarted" in events and "worker exited (killed by SIGKILL)" in events


def test_a_killed_previews_postmaster_is_restarted_and_kept(up: Up) -> None:
    """The previews' own Postgres (issue 16) is supervised like previewd's: started again when it
    dies, and the new postmaster is `up`'s child, never ended as an orphan."""
    pid_file = up.data_dir / "preview-postgres" / "data" / "postmaster.pid"
    pid = int(pid_file.read_text().split()[0])
    offset = len(up.output())
    os.kill(pid, signal.SIGKILL)
    assert up.wait_for_output(f"preview-postgres exited (postmaster pid {pid} is gone", 10, after=offset)
    assert up.wait_for_output("preview-postgres restarted", 60, after=offset), up.output()[offset:]
    new = int(pid_file.read_text().split()[0])
    assert new != pid
    time.sleep(5)  # a few of `up`'s rounds: an orphan would have been ended by now
    assert alive(new), up.output()[offset:]
    assert "preview-postgres exited" not in up.output()[offset:].split("preview-postgres restarted", 1)[1]


def test_a_frozen_worker_is_noticed_by_its_heartbeat_and_replaced(up: Up) -> None:
    """SIGSTOP: the process lives but does nothing. Its heartbeat goes stale, `up` kills and restarts
    it, and the preview is served again."""
    pid, offset = up.child("worker"), len(up.output())
    os.kill(pid, signal.SIGSTOP)
    try:
        # Stale after 30 s, looked at every 5 s.
        assert up.wait_for_output("worker is stuck (", 60, after=offset), up.output()[offset:]
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGCONT)
    assert "killed it (SIGKILL)" in up.output()[offset:]
    assert up.wait_for_output("worker restarted", 30, after=offset), up.output()[offset:]
    assert not alive(pid)
    assert _wait(lambda: _answers(up, _preview_url(up)), RECOVERY_SECONDS), up.output()[offset:]


def test_a_sigkill_of_up_leaves_nothing_running(up: Up) -> None:
    """Last in this module: it ends the `up` the others share."""
    tree = descendants(up.process.pid)
    postmaster = int((up.data_dir / "postgres" / "postmaster.pid").read_text().split()[0])
    assert tree
    up.process.kill()
    up.process.wait()
    left: list[int] = []

    def all_gone() -> bool:
        nonlocal left
        left = [pid for pid in [*tree, postmaster] if alive(pid)]
        left += processes_under(up.data_dir)
        return not left

    assert _wait(all_gone, 15), f"still running after `up` was killed: {left}"


@pytest.fixture(scope="module")
def plain_up() -> Iterator[Up]:
    """An `up` whose PR code runs without a sandbox: no bwrap --die-with-parent to end its previews."""
    running = start_up(
        Path(tempfile.mkdtemp(prefix="pvd-plain-")), demo=True, extra_env={"PREVIEWD_SANDBOX": "off"}
    )
    try:
        assert running.wait_for_output("previewd is up", STARTUP_SECONDS), running.output()
        yield running
    finally:
        running.discard()


def test_an_unsandboxed_preview_of_a_killed_worker_is_ended_and_brought_back(plain_up: Up) -> None:
    up = plain_up
    url = _preview_url(up)
    assert _answers(up, url)
    # The preview leads a process group of its own, a child of the worker.
    old_processes = descendants(up.child("worker"))
    assert old_processes
    _, offset = _kill(up, "worker")
    assert up.wait_for_output("ended what a dead child left running", 10, after=offset), up.output()[offset:]
    assert up.wait_for_output("worker restarted", 10, after=offset), up.output()[offset:]
    assert _wait(lambda: _answers(up, url), RECOVERY_SECONDS), up.output()[offset:]
    left = [pid for pid in old_processes if alive(pid)]
    assert left == [], f"processes of the killed worker still run: {left}"
    strays = set(processes_under(up.data_dir / "work")) - set(descendants(up.child("worker")))
    assert strays == set(), f"preview processes outside previewd's supervision: {strays}"


def test_a_crash_looping_child_stops_up_with_a_message(plain_up: Up) -> None:
    """Last with this `up`: it ends it."""
    up = plain_up
    tree = [
        *descendants(up.process.pid),
        int((up.data_dir / "postgres" / "postmaster.pid").read_text().split()[0]),
    ]
    blocker = socket.socket()
    try:
        # The web app's port taken by someone else: every start of it fails at once.
        _, offset = _kill(up, "web")
        blocker.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        # Until the killed web app is gone, its socket still holds the port.
        assert _wait(lambda: _bound(blocker, up.web_port), 1), "the killed web app kept its port"
        blocker.listen()
        assert up.process.wait(120) == 1
        said = up.output()[offset:]
        assert "web exited 5 times within 120s; stopping everything" in said, said
        assert str(up.data_dir / "logs" / "web.log") in said
        assert "stopped." in said
        # An orderly stop: nothing of it runs any more.
        assert [pid for pid in tree if alive(pid)] == []
    finally:
        blocker.close()


def test_sigterm_stops_everything_and_leaves_nothing_running() -> None:
    up = start_up(Path(tempfile.mkdtemp(prefix="pvd-term-")), demo=False)
    try:
        assert up.wait_for_output("previewd is up", STARTUP_SECONDS), up.output()
        tree = [
            *descendants(up.process.pid),
            int((up.data_dir / "postgres" / "postmaster.pid").read_text().split()[0]),
        ]
        up.process.send_signal(signal.SIGTERM)
        assert up.process.wait(60) == 0
        assert up.output().rstrip().endswith("stopped."), up.output()
        assert [pid for pid in tree if alive(pid)] == []
        events = up.data_dir / "logs" / "up.log"
        assert not events.exists() or "exited" not in events.read_text(), "a stop is no crash"
    finally:
        up.discard()
