"""GET /metrics of the web app and the worker, scraped before and after a PR's life (signed webhooks
through the GitHub fake, the real worker, Temporal and Postgres): the counters and histograms move,
the figures read from Postgres follow the preview, the endpoints want their bearer token, and the
public ports (dashboard/webhooks, previews' proxy) have no /metrics."""

from __future__ import annotations

import re
import time
from functools import partial

import httpx

from tests.integration.github_system import REPO, GitHubSystem
from tests.integration.metric_samples import Samples, parse, value
from tests.integration.system import System, wait_for

NUMBER = 151


def scrape(system: System, process: str) -> Samples:
    answer = system.metrics(process)
    assert answer.status_code == 200, answer.text
    return parse(answer.text)


def test_metrics_move_through_a_pr_life(github: GitHubSystem) -> None:
    system = github.system
    web_before, worker_before = scrape(system, "web"), scrape(system, "worker")
    project = github.add_project(9151)
    pid = project["id"]

    sha = github.push("PR 151 opened", ref=f"refs/heads/pr-{NUMBER}")
    github.fake.set_pull(REPO, NUMBER, head_sha=sha)
    system.pull_request(project, "opened", NUMBER, sha)
    live = system.wait_status(pid, NUMBER, sha, "active")
    wait_for(partial(github.told, NUMBER, sha, "success"), timeout=60, what="the PR told ready")
    assert system.preview(live["app_name"]).status_code == 200

    def running_now() -> bool:
        return value(scrape(system, "web"), "previewd_previews", project=pid, state="running") == 1

    wait_for(running_now, timeout=15, what="the live preview in previewd_previews")
    for process in ("web", "worker"):
        took = []
        for _ in range(5):
            began = time.perf_counter()
            system.metrics(process)
            took.append(time.perf_counter() - began)
        print(f"GET /metrics of the {process}: {sorted(took)[2] * 1000:.1f} ms (median of 5)")

    github.fake.set_pull(REPO, NUMBER, head_sha=sha, state="closed")
    system.pull_request(project, "closed", NUMBER, sha)
    system.wait_status(pid, NUMBER, sha, "destroyed")

    def web_after() -> Samples | None:
        samples = scrape(system, "web")
        return samples if value(samples, "previewd_previews", project=pid) == 0 else None

    web = wait_for(web_after, timeout=15, what="the closed PR's preview gone from previewd_previews")
    worker = scrape(system, "worker")

    def moved(name: str, before: Samples, after: Samples, **labels: str) -> float:
        return value(after, name, **labels) - value(before, name, **labels)

    # The web app: two signed webhooks acknowledged and queued, a proxied request, the preview's time.
    assert moved("previewd_webhook_ack_seconds_count", web_before, web, status="202") >= 2
    assert moved("previewd_webhook_deliveries_total", web_before, web, outcome="queued") >= 2
    assert moved("previewd_proxy_requests_total", web_before, web, kind="http", status="200") >= 1
    assert value(web, "previewd_preview_running_seconds_total", project=pid) > 0
    assert value(web, "previewd_outbox_queued") == 0
    # The worker: the outbox handed both to Temporal, the deployment's steps, its outcome, its API calls.
    assert moved("previewd_outbox_dispatches_total", worker_before, worker, outcome="dispatched") >= 2
    assert moved("previewd_outbox_lag_seconds_count", worker_before, worker) >= 2
    for step in ("clone", "build", "start"):
        assert value(worker, "previewd_step_seconds_count", project=pid, step=step) >= 1, step
    assert value(worker, "previewd_queue_seconds_count", project=pid) >= 1
    assert value(worker, "previewd_build_seconds_count", project=pid) >= 1
    assert value(worker, "previewd_build_seconds_sum", project=pid) > 0
    assert value(worker, "previewd_deployments_total", project=pid, outcome="active") == 1
    assert value(worker, "previewd_deployments_total", project=pid, outcome="destroyed") == 1
    assert moved("previewd_api_calls_total", worker_before, worker, api="github") >= 3
    # Temporal's SDK metrics, merged into the worker's text.
    assert any(name.startswith("temporal_") for name, _ in worker), "no Temporal SDK metrics"

    # Insights: the same PR, as the dashboard shows it (server-side SVG, no style attribute for the CSP).
    client = system.dashboard()
    try:
        page = client.get(f"/projects/{pid}/insights")
        overall = client.get("/insights")
    finally:
        client.close()
    assert page.status_code == 200 and overall.status_code == 200
    assert (
        '<dd data-figure="built">1</dd>' in page.text and '<dd data-figure="success">100%</dd>' in page.text
    )
    assert '<dd data-figure="live">0</dd>' in page.text
    assert page.text.count("<svg") == 3 and "style=" not in page.text
    row = re.search(rf'<tr data-preview="{NUMBER}">(.*?)</tr>', page.text, re.S)
    assert row and "shared-cpu-1x 256 MB" in row.group(1), page.text
    # A few seconds of the default machine: millionths of a dollar, shown with two significant digits.
    assert re.search(r"<td class=\"nowrap\">\$0\.00000[1-9][0-9]</td>", row.group(1)), row.group(1)
    assert f'href="/projects/{pid}/insights"' in overall.text


def test_metrics_want_the_token_and_stay_off_the_public_ports(github: GitHubSystem) -> None:
    system = github.system
    for process in ("web", "worker"):
        assert system.metrics(process, token=None).status_code == 401
        assert system.metrics(process, token="not-the-token").status_code == 401
    assert httpx.get(f"{system.base_url}/metrics", timeout=10).status_code == 404
    preview_port = system.env["PREVIEWD_PREVIEW_PORT"]
    assert httpx.get(f"http://127.0.0.1:{preview_port}/metrics", timeout=10).status_code == 404
