"""Notifications under attack, on the shared system: "send a test" answers a failure after the same
time however the receiver failed (no timing side channel to scan with), sends one test at a time and
waits between a channel's tests; a channel paused while a send waits for its receiver says so instead
of "retrying" for ever; the API keeps the dashboard's limit on channels."""

from __future__ import annotations

import re
import socket
import threading
import time
from collections.abc import Iterator

import httpx
import pytest

from tests.integration.notification_receivers import HttpReceiver
from tests.integration.system import AppRepo, System, free_port, wait_for
from tests.integration.test_notifications import add_channel, channel_id, csrf, post

DEADLINE = 3.0  # PREVIEWD_NOTIFICATIONS_SEND_SECONDS in tests/integration/system.py


@pytest.fixture(scope="module")
def dashboard(system: System) -> Iterator[httpx.Client]:
    client = system.dashboard()
    try:
        yield client
    finally:
        client.close()


class Silent:
    """Accepts connections and never answers: a send to it lasts until the deadline."""

    def __init__(self) -> None:
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(16)
        self.url = f"http://127.0.0.1:{self.sock.getsockname()[1]}/hook"

    def close(self) -> None:
        self.sock.close()


def test_a_failed_test_send_takes_the_same_time_however_it_failed_and_one_runs_at_a_time(
    system: System, repo: AppRepo, dashboard: httpx.Client
) -> None:
    gone = HttpReceiver(free_port(), status=410).start()
    silent = Silent()
    client = dashboard
    try:
        pid = system.add_project(repo)["id"]
        targets = {
            "refused": f"http://127.0.0.1:{free_port()}/hook",  # nothing listens: refused at once
            "gone": gone.url,  # answers 410 at once
            "silent": silent.url,  # never answers
        }
        page = ""
        for name, url in targets.items():
            page = add_channel(client, pid, "webhook", name, url, ["ready"]).text
        ids = {name: channel_id(page, name) for name in targets}
        took = {}
        for name, cid in ids.items():
            started = time.monotonic()
            answer = post(client, pid, f"/{cid}/test")
            took[name] = time.monotonic() - started
            assert f"The test message to {name} was not delivered." in answer.text
        for seconds in took.values():
            assert DEADLINE <= seconds < DEADLINE + 1.5, took
        # A channel's next test waits a deadline after the last answer (no flooding an inbox).
        again = post(client, pid, f"/{ids['silent']}/test")
        assert again.status_code == 429 and "try again in a few seconds" in again.text

        # One test at a time for a person (and for a channel): a second one while the first waits
        # is turned away, so the button probes no faster than once per deadline.
        token = csrf(client, pid)
        first: list[httpx.Response] = []
        refused_test = f"/projects/{pid}/notifications/{ids['refused']}/test"
        waiting = threading.Thread(
            target=lambda: first.append(client.post(refused_test, data={"csrf_token": token}))
        )
        waiting.start()
        time.sleep(1.0)
        second = client.post(f"/projects/{pid}/notifications/{ids['gone']}/test", data={"csrf_token": token})
        waiting.join()
        assert second.status_code == 429 and "being sent already" in second.text
        assert first[0].status_code == 200 and "was not delivered" in first[0].text
    finally:
        gone.stop()
        silent.close()


def test_a_channel_paused_while_its_receiver_is_down_says_so(
    system: System, repo: AppRepo, dashboard: httpx.Client
) -> None:
    down = HttpReceiver(free_port())  # not started yet: nothing listens on its port
    client = dashboard
    try:
        project = system.add_project(repo)
        pid = project["id"]
        page = add_channel(client, pid, "webhook", "paused-later", down.url, ["ready"]).text
        cid = channel_id(page, "paused-later")
        sha = repo.commit("paused while down")
        system.pull_request(project, "opened", 31, sha)
        system.wait_status(pid, 31, sha, "active")

        def sends() -> list[dict[str, object]]:
            return system.rows("SELECT status, detail FROM notification_sends WHERE channel_id = :c", c=cid)

        wait_for(lambda: [s["status"] for s in sends()] == ["retrying"], timeout=30, what="retrying")
        assert post(client, pid, f"/{cid}/pause").status_code == 200
        wait_for(lambda: [s["status"] for s in sends()] == ["gave up"], timeout=30, what="shown as paused")
        assert sends() == [{"status": "gave up", "detail": "not sent: the channel was paused"}]
        page = client.get(f"/projects/{pid}/notifications").text
        assert "not sent: the channel was paused" in page
        down.start()  # back, but the channel is paused: it hears nothing
        time.sleep(3)
        assert down.received == []
    finally:
        down.stop()


def test_the_api_keeps_the_dashboards_limit_on_channels(system: System, repo: AppRepo) -> None:
    project = system.add_project(repo)
    base = f"/api/projects/{project['id']}/notifications"
    url = f"http://127.0.0.1:{free_port()}/hook"
    with system.api() as api:
        blank = api.post(base, json={"kind": "webhook", "name": "   ", "target": url, "events": ["ready"]})
        assert blank.status_code == 422 and blank.json()["detail"][0]["loc"] == ["body", "name"]
        for n in range(20):
            made = api.post(
                base, json={"kind": "webhook", "name": f"c{n}", "target": url, "events": ["ready"]}
            )
            assert made.status_code == 201, made.text
        over = api.post(base, json={"kind": "webhook", "name": "c20", "target": url, "events": ["ready"]})
        assert over.status_code == 422 and re.search("at most 20 channels", over.text)
