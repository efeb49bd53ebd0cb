"""A read-only collaborator's project page: the project, its open PR and its logs, and not one button
that would change anything (no Redeploy, Destroy, Approve, Deploy, Settings, no Temporal link)."""

from __future__ import annotations

import asyncio
import uuid
from pathlib import Path
from typing import Any

from tests.browser.harness import INSTALLATION, Dashboard
from tests.browser.pages import new_page, screenshot, sign_in_with_github
from tests.integration.system import AppRepo


async def test_a_read_only_user_sees_no_action_buttons(browser: Any, dash: Dashboard, tmp_path: Path) -> None:
    repo = AppRepo.create(tmp_path / f"readonly-{uuid.uuid4().hex[:6]}")
    project = dash.add_project(repo)
    sha = repo.commit("a change to look at")
    await asyncio.to_thread(dash.system.pull_request, project, "opened", 3, sha)
    await dash.wait_active(project["id"], 3, sha)
    dash.fake.users.add_user("rory", installations=[INSTALLATION], role=None)
    dash.fake.users.set_role("rory", project["github_repo_full_name"], "read")

    page = await new_page(browser)
    await sign_in_with_github(page, dash, "rory")
    await page.goto(f"{dash.url}/projects/{project['id']}")
    await page.wait_for_selector("#pr-3")
    for name in ("Redeploy", "Destroy", "Approve", "Deploy", "Settings"):
        assert await page.get_by_role("button", name=name, exact=True).count() == 0, name
        assert await page.get_by_role("link", name=name, exact=True).count() == 0, name
    assert await page.locator("#pr-3 a", has_text="workflow").count() == 0
    assert await page.locator("#pr-3 a", has_text="latest deployment").count() == 1
    await screenshot(page, "project-read-only")
    settings = await page.goto(f"{dash.url}/projects/{project['id']}/settings")
    assert settings is not None and settings.status == 403
