"""A PR going live as a person watches it: status without reloading, logs streaming in, then
redeploy and destroy from the project page, each confirmed on screen and recorded with who asked."""

from __future__ import annotations

import asyncio
import re
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from cli.webhook_client import pull_request_payload
from tests.browser.harness import INSTALLATION, Dashboard
from tests.browser.pages import DESKTOP, PHONE, horizontal_overflow, new_page, screenshot, sign_in_with_github
from tests.integration.github_system import fork_repository, iso
from tests.integration.system import AppRepo

# A build that takes a few seconds, so the page can be watched streaming its log.
SLOW_BUILD = """import runpy, time
for i in range(6):
    print("step", i, flush=True)
    time.sleep(0.5)
runpy.run_path("build.py")
"""
ONLY_RUNTIME = (
    "(kinds => kinds.length > 0 && kinds.every(k => k.textContent === 'runtime'))"
    "([...document.querySelectorAll('#log-lines .ll-k')])"
)
HOSTILE_TITLE = "Fix <script>alert(1)</script> & <b>bold</b> claims"


async def _until(check: Any, timeout: float = 90) -> Any:
    deadline = asyncio.get_running_loop().time() + timeout
    while asyncio.get_running_loop().time() < deadline:
        value = await asyncio.to_thread(check)
        if value:
            return value
        await asyncio.sleep(0.25)
    raise AssertionError("timed out")


async def test_a_pr_goes_live_with_logs_streaming_then_redeploy_and_destroy(
    browser: Any, dash: Dashboard, tmp_path: Path
) -> None:
    dash.fake.users.add_user("maria", installations=[INSTALLATION])
    repo = AppRepo.create(tmp_path / f"shop-{uuid.uuid4().hex[:6]}")
    # A slow build, so the page is open while it runs and the log arrives line by line.
    repo.commit("slow build", {"slow_build.py": SLOW_BUILD})
    project = dash.add_project(repo, build_command="python3 slow_build.py")
    page = await new_page(browser)
    await sign_in_with_github(page, dash, "maria")

    sha = repo.commit("first version")
    await asyncio.to_thread(
        dash.system.pull_request, project, "opened", 7, sha, title=HOSTILE_TITLE, author="maria"
    )
    row = await _until(lambda: next(iter(dash.system.deployments(project["id"], 7)), None))

    await page.goto(f"{dash.url}/deployments/{row['id']}")
    # The title is shown as text, never run or rendered as markup.
    assert await page.locator("h1").inner_text() == f"#7 {HOSTILE_TITLE}"
    assert await page.locator("h1 b").count() == 0
    # Lines arrive over SSE while the build runs, without a reload.
    await page.wait_for_selector("#log-lines .ll:has-text('step 2')", timeout=60_000)
    await page.wait_for_selector("#status-card [data-status=active]", timeout=90_000)
    assert await page.locator("#preview-url").count() == 1
    await page.wait_for_selector("#log-lines .ll:has-text('step 5')")
    await screenshot(page, "deployment")

    # Filtering by type reloads the panel with only those lines.
    await page.select_option("select[name=type]", "runtime")
    # Polled with evaluate (the DevTools protocol), not wait_for_function: the page's CSP forbids the
    # string evaluation wait_for_function does inside the page.
    for _ in range(150):
        if await page.evaluate(ONLY_RUNTIME):
            break
        await asyncio.sleep(0.1)
    assert await page.evaluate(ONLY_RUNTIME), "the log did not narrow to runtime lines"
    assert await page.locator("#log-lines .ll:has-text('serving on port')").count() == 1

    await page.goto(f"{dash.url}/projects/{project['id']}")
    card = page.locator("#pr-7")
    await card.locator("[data-status=active]").wait_for()
    await page.wait_for_selector("#github-pulls p:has-text('Every open pull request has a preview')")
    workflow_link = await card.locator("a:has-text('workflow')").get_attribute("href")
    assert workflow_link == f"http://localhost:8233/namespaces/default/workflows/preview-{project['id']}-pr-7"
    await screenshot(page, "project")

    # Home, at both widths, lists the deployments newest first; the phone gets one column.
    for viewport in (DESKTOP, PHONE):
        home = await new_page(browser, viewport)
        await home.context.add_cookies(await page.context.cookies())
        await home.goto(f"{dash.url}/")
        await home.wait_for_selector(f"#recent tr[data-deployment='{row['id']}']")
        await home.wait_for_selector(f"[data-project='{project['id']}'] .live-visit")
        await screenshot(home, "home")
        assert await horizontal_overflow(home) == 0
        for path, loaded in (
            (f"/projects/{project['id']}", "#pr-7"),
            (f"/deployments/{row['id']}", "#log-lines .ll"),
            (f"/projects/{project['id']}/insights", "svg.chart"),
        ):
            await home.goto(f"{dash.url}{path}")
            await home.wait_for_selector(loaded)
            assert await horizontal_overflow(home) == 0, path
        # Insights' SVG charts scale with the page: their labels stay readable on a phone.
        await screenshot(home, "insights")
        tick = "document.querySelector('svg.chart .tick').getBoundingClientRect().height"
        assert await home.evaluate(tick) >= 9, "chart labels too small to read"
        assert await home.locator("tr[data-preview='7']").count() == 1
        if viewport is PHONE:
            await home.goto(f"{dash.url}/projects/{project['id']}")
            await home.wait_for_selector("#pr-7")
            await home.wait_for_selector("#github-pulls p:has-text('Every open pull request has a preview')")
            await screenshot(home, "project")
            await home.goto(f"{dash.url}/deployments/{row['id']}")
            await home.wait_for_selector("#log-lines .ll")
            await screenshot(home, "deployment")

    # An overview left open in another tab picks up the redeploy by itself.
    watcher = await new_page(browser)
    await watcher.context.add_cookies(await page.context.cookies())
    await watcher.goto(f"{dash.url}/")
    await card.locator("[data-action=redeploy]").click()
    await page.wait_for_selector("#flash .notice-ok:has-text('Redeploy of PR #7 requested')")
    await _until(lambda: len(dash.system.deployments(project["id"], 7)) == 2)
    await _until(lambda: dash.system.deployments(project["id"], 7)[-1]["status"] == "active")
    newer = dash.system.deployments(project["id"], 7)[-1]["id"]
    await watcher.wait_for_selector(
        f"#recent tr[data-deployment='{newer}'] [data-status=active]", timeout=20_000
    )
    await watcher.wait_for_selector(f"#recent tr[data-deployment='{row['id']}'] [data-status=replaced]")

    await page.locator("#pr-7 [data-action=destroy]").click()
    await page.wait_for_selector("#flash .notice-ok:has-text('being torn down')")
    await _until(lambda: dash.system.deployments(project["id"], 7)[-1]["status"] == "destroyed")
    # The open-PR list updates by itself: the PR stays open, its preview gone, Redeploy at hand.
    await page.wait_for_selector("#pr-7[data-phase=destroyed]", timeout=20_000)
    await page.reload()
    await page.wait_for_selector("text=maria asked to destroy")
    events = dash.system.rows(
        "SELECT actor, action, outcome FROM audit_events WHERE project_id = :p ORDER BY id", p=project["id"]
    )
    assert [(e["actor"], e["action"], e["outcome"]) for e in events] == [
        ("maria", "redeploy", "ok"),
        ("maria", "destroy", "ok"),
    ]

    # The live log resumes exactly after the last event id a browser saw (a reconnect sends it).
    ids = [
        r["id"]
        for r in dash.system.rows(
            "SELECT id FROM deployment_logs WHERE deployment_id = :d ORDER BY id", d=row["id"]
        )
    ]
    seen = ids[len(ids) // 2]
    resumed = await page.request.get(
        f"{dash.url}/deployments/{row['id']}/logs/stream", headers={"Last-Event-ID": str(seen)}
    )
    body = await resumed.text()
    assert [int(i) for i in re.findall(r'data-id="(\d+)"', body)] == [i for i in ids if i > seen]
    assert body.rstrip().endswith("data: finished")


async def test_an_action_on_a_pr_without_a_workflow_explains_what_to_do(
    browser: Any, dash: Dashboard, tmp_path: Path
) -> None:
    dash.fake.users.add_user("noah", installations=[INSTALLATION])
    project = dash.add_project(AppRepo.create(tmp_path / f"blog-{uuid.uuid4().hex[:6]}"))
    page = await new_page(browser)
    await sign_in_with_github(page, dash, "noah")
    await page.goto(f"{dash.url}/projects/{project['id']}")
    response = await page.request.post(
        f"{dash.url}/projects/{project['id']}/pulls/99/redeploy",
        headers={"X-CSRF-Token": await _csrf(page), "HX-Request": "true"},
    )
    assert response.status == 200
    assert "has no running preview workflow" in await response.text()
    events = dash.system.rows(
        "SELECT actor, outcome FROM audit_events WHERE project_id = :p", p=project["id"]
    )
    assert events[0]["actor"] == "noah" and "no running preview workflow" in events[0]["outcome"]


async def _csrf(page: Any) -> str:
    token: str = await page.evaluate("JSON.parse(document.body.getAttribute('hx-headers'))['X-CSRF-Token']")
    return token


async def test_a_fork_pr_waits_until_approved_on_the_dashboard(
    browser: Any, dash: Dashboard, tmp_path: Path
) -> None:
    dash.fake.users.add_user("olga", installations=[INSTALLATION])
    repo = AppRepo.create(tmp_path / f"forked-{uuid.uuid4().hex[:6]}")
    project = dash.add_project(repo)  # fork policy: approve (the default)
    page = await new_page(browser)
    await sign_in_with_github(page, dash, "olga")
    sha = repo.commit("from a fork")
    payload = pull_request_payload(
        action="opened",
        number=12,
        sha=sha,
        repo_id=project["github_repo_id"],
        repo_full_name=project["github_repo_full_name"],
        title="Improve the docs (from a fork)",
        author="visitor",
        head_repo=fork_repository(),
        updated_at=iso(datetime.now(UTC) - timedelta(seconds=5)),
    )
    assert (await asyncio.to_thread(dash.system.webhook, "pull_request", payload)).status_code == 202

    await page.goto(f"{dash.url}/projects/{project['id']}")
    card = page.locator("#pr-12[data-phase=awaiting_approval]")
    await card.wait_for(timeout=30_000)
    assert dash.system.deployments(project["id"], 12) == []  # nothing built before the approval
    assert sha[:7] in await card.inner_text()
    await screenshot(page, "project-approval")
    await card.locator("[data-action=approve]").click()
    await page.wait_for_selector(f"#flash .notice-ok:has-text('Commit {sha[:7]} of PR #12 approved')")
    await dash.wait_active(project["id"], 12, sha)
    await page.wait_for_selector("#pr-12[data-phase=active]", timeout=20_000)
    [event] = dash.system.rows(
        "SELECT actor, action, detail FROM audit_events WHERE project_id = :p", p=project["id"]
    )
    assert (event["actor"], event["action"], event["detail"]["sha"]) == ("olga", "approve", sha)


async def test_an_open_pr_without_a_preview_deploys_with_one_click(
    browser: Any, dash: Dashboard, tmp_path: Path
) -> None:
    """A PR opened before the repository was connected: GitHub lists it, one click deploys it."""
    dash.fake.users.add_user("lena", installations=[INSTALLATION])
    repo = AppRepo.create(tmp_path / f"older-{uuid.uuid4().hex[:6]}")
    project = dash.add_project(repo)
    sha = repo.commit("opened long ago")
    dash.fake.set_pull(project["github_repo_full_name"], 3, head_sha=sha, title="Older PR")
    page = await new_page(browser)
    await sign_in_with_github(page, dash, "lena")
    await page.goto(f"{dash.url}/projects/{project['id']}")
    await page.locator("#gh-pr-3 [data-action=deploy]").click()
    await page.wait_for_selector(f"#flash .notice-ok:has-text('queued to deploy commit {sha[:7]}')")
    await dash.wait_active(project["id"], 3, sha)
    await page.wait_for_selector("#pr-3[data-phase=active]", timeout=20_000)
    assert dash.system.deployments(project["id"], 3)[0]["pr_title"] == "Older PR"
    events = dash.system.rows("SELECT actor, action FROM audit_events WHERE project_id = :p", p=project["id"])
    assert events == [{"actor": "lena", "action": "deploy"}]
