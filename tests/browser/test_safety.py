"""Another user's project is 404 on every route; a state-changing request without the CSRF token is 403."""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Any

from tests.browser.harness import INSTALLATION, OTHER_INSTALLATION, Dashboard
from tests.browser.pages import new_page, screenshot, sign_in_with_github
from tests.integration.system import AppRepo


async def test_a_project_of_an_installation_the_user_cannot_reach_is_404(
    browser: Any, dash: Dashboard, tmp_path: Path
) -> None:
    dash.fake.users.add_user("eve", installations=[INSTALLATION])
    theirs = dash.add_project(
        AppRepo.create(tmp_path / f"secret-{uuid.uuid4().hex[:6]}"), installation=OTHER_INSTALLATION
    )
    page = await new_page(browser)
    await sign_in_with_github(page, dash, "eve")
    assert await page.locator(f"text={theirs['github_repo_full_name']}").count() == 0
    for path in (
        f"/projects/{theirs['id']}",
        f"/projects/{theirs['id']}/pulls",
        f"/projects/{theirs['id']}/settings",
    ):
        response = await page.goto(f"{dash.url}{path}")
        assert response is not None and response.status == 404, path
    await screenshot(page, "not-found")
    token = await page.evaluate("JSON.parse(document.body.getAttribute('hx-headers'))['X-CSRF-Token']")
    acted = await page.request.post(
        f"{dash.url}/projects/{theirs['id']}/pulls/1/destroy", headers={"X-CSRF-Token": token}
    )
    assert acted.status == 404
    assert dash.system.rows("SELECT * FROM audit_events WHERE project_id = :p", p=theirs["id"]) == []


async def test_a_state_changing_request_without_the_csrf_token_is_refused(
    browser: Any, dash: Dashboard, tmp_path: Path
) -> None:
    dash.fake.users.add_user("mallory", installations=[INSTALLATION])
    project = dash.add_project(AppRepo.create(tmp_path / f"csrf-{uuid.uuid4().hex[:6]}"))
    page = await new_page(browser)
    await sign_in_with_github(page, dash, "mallory")
    target = f"{dash.url}/projects/{project['id']}/pulls/1/destroy"
    missing = await page.request.post(target)
    wrong = await page.request.post(target, headers={"X-CSRF-Token": "not-the-token"})
    form = await page.request.post(f"{dash.url}/logout", form={"csrf_token": "forged"})
    assert (missing.status, wrong.status, form.status) == (403, 403, 403)
    assert dash.system.rows("SELECT * FROM audit_events WHERE project_id = :p", p=project["id"]) == []
    # Still signed in: the refused sign-out did nothing.
    await page.goto(f"{dash.url}/")
    assert page.url == f"{dash.url}/"
