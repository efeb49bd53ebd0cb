"""A 100,000-line log stays responsive: the page opens at its tail, earlier lines come 500 at a
time, filters narrow it server-side, and new lines keep streaming in at the bottom."""

from __future__ import annotations

import time
import uuid
from pathlib import Path
from typing import Any

from tests.browser.harness import Dashboard
from tests.browser.pages import new_page, sign_in_with_github
from tests.integration.system import AppRepo

LINES = 100_000
GAP_BELOW = "(b => b.scrollHeight - b.scrollTop - b.clientHeight)(document.getElementById('log-box'))"
GAP_BELOW = "(b => b.scrollHeight - b.scrollTop - b.clientHeight)(document.getElementById('log-box'))"


def _seed(dash: Dashboard, project_id: str) -> str:
    deployment = str(uuid.uuid4())
    with dash.system.engine.begin() as connection:
        connection.exec_driver_sql(
            "INSERT INTO deployments (id, project_id, pr_number, pr_title, pr_author, commit_sha, app_name,"
            " workflow_id, status, created_at, updated_at, started_at)"
            " VALUES (%(d)s, %(p)s, 41, 'Huge log', 'bot', repeat('a', 40), 'pr-41-big', 'wf', 'building',"
            " now(), now(), now())",
            {"d": deployment, "p": project_id},
        )
        connection.exec_driver_sql(
            "INSERT INTO deployment_logs (deployment_id, type, level, message, timestamp)"
            " SELECT %(d)s, 'build', CASE WHEN n %% 1000 = 0 THEN 'error' ELSE 'info' END,"
            " 'line ' || n || ' <b>not bold</b>', now() FROM generate_series(1, %(n)s) AS n",
            {"d": deployment, "n": LINES},
        )
    return deployment


async def test_a_100000_line_log_opens_at_its_tail_and_pages_backwards(
    browser: Any, dash: Dashboard, tmp_path: Path
) -> None:
    dash.fake.users.add_user("ines", installations=[31])
    project = dash.add_project(AppRepo.create(tmp_path / f"big-{uuid.uuid4().hex[:6]}"))
    deployment = _seed(dash, project["id"])
    page = await new_page(browser)
    await sign_in_with_github(page, dash, "ines")

    started = time.monotonic()
    await page.goto(f"{dash.url}/deployments/{deployment}")
    await page.wait_for_selector(f"#log-lines .ll:has-text('line {LINES} ')")
    assert time.monotonic() - started < 5
    assert await page.locator(".ll").count() == 500
    assert await page.locator(".ll b").count() == 0  # escaped, shown as text
    # Following the tail: the newest line is in view.
    assert await page.evaluate(GAP_BELOW) < 40

    await page.click(".log-earlier")
    await page.wait_for_selector(f".ll:has-text('line {LINES - 999} ')")
    assert await page.locator(".ll").count() == 1000

    # New lines stream in at the bottom while the deployment runs.
    with dash.system.engine.begin() as connection:
        connection.exec_driver_sql(
            "INSERT INTO deployment_logs (deployment_id, type, level, message, timestamp)"
            " VALUES (%(d)s, 'deploy', 'info', 'fresh line', now())",
            {"d": deployment},
        )
    await page.wait_for_selector("#log-lines .ll:last-child:has-text('fresh line')")

    await page.select_option("select[name=level]", "error")
    await page.wait_for_selector(f"#log-lines .ll:last-child:has-text('line {LINES} ')")
    assert await page.locator(".ll").count() == 100  # every 1000th line is an error
