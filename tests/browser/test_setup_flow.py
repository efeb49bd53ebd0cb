"""The whole setup flow against the GitHub fake: first sign-in's empty state, install the App, pick a
repository, configure with errors shown beside their fields, Save & activate; then secrets, edit,
disable (destroying previews), enable and delete from the settings page."""

from __future__ import annotations

import asyncio
from typing import Any

from tests.browser.harness import Dashboard
from tests.browser.pages import PHONE, horizontal_overflow, new_page, screenshot, sign_in_with_github

REPO = "sam/webshop"
INSTALL_ID = 41
SECRET = "s3cr3t-value-never-shown"


async def test_connect_configure_and_manage_a_repository(browser: Any, dash: Dashboard) -> None:
    dash.fake.users.add_user("sam")
    page = await new_page(browser)
    await sign_in_with_github(page, dash, "sam")
    await page.wait_for_selector("#empty-state:has-text('No projects yet')")
    await screenshot(page, "home-empty")
    phone = await new_page(browser, PHONE)
    await phone.context.add_cookies(await page.context.cookies())
    await phone.goto(f"{dash.url}/")
    await screenshot(phone, "home-empty")
    assert await horizontal_overflow(phone) == 0

    await page.click("#empty-state a.btn-primary")
    install = await page.get_attribute("#install-app", "href")
    assert install == f"{dash.github_url}/apps/previewd-tests/installations/new"
    dash.fake.users.install_next(INSTALL_ID, [REPO, "sam/notes"])
    await page.click("#install-app")
    await page.wait_for_url(f"{dash.url}/setup/installations/{INSTALL_ID}")
    assert dash.system.rows("SELECT account_login FROM installations WHERE id = :i", i=INSTALL_ID) == [
        {"account_login": "sam"}
    ]
    await page.click(f"[data-repo='{REPO}']")

    # Mistakes come back beside their fields, and nothing is created.
    await page.fill("#f-build_command", "npm run 'build")
    await page.fill("#f-env_vars", "NODE_ENV=production\nbad name=1")
    await page.click("summary:has-text('Advanced: Fly.io')")
    await page.fill("#f-fly_region", "IAD")
    await page.fill("#f-fly_memory_mb", "300")
    await page.fill("#f-secrets", f"API_KEY={SECRET}")
    await page.click("#save-activate")
    for name, text in (
        ("build_command", "is not a complete command line"),
        ("env_vars", "'bad name' is not a valid variable name"),
        ("fly_region", "three lower-case letters"),
        ("fly_memory_mb", "multiple of 256"),
    ):
        assert text in await page.locator(f"#e-{name}").inner_text(), name
    assert SECRET not in await page.content()
    await screenshot(page, "setup-errors")
    assert dash.system.rows("SELECT id FROM projects WHERE github_repo_full_name = :r", r=REPO) == []

    await page.fill("#f-build_command", "npm run build")
    await page.fill("#f-start_command", "npm start")
    await page.fill("#f-env_vars", "NODE_ENV=production")
    await page.fill("#f-fly_region", "iad")
    await page.fill("#f-fly_fallback_regions", "ord, lhr")
    await page.fill("#f-fly_memory_mb", "512")
    await page.fill("#f-secrets", f"API_KEY={SECRET}")
    await page.click("#save-activate")
    await page.wait_for_selector(f"h1:has-text('{REPO}')")
    [project] = dash.system.rows("SELECT * FROM projects WHERE github_repo_full_name = :r", r=REPO)
    assert project["is_active"] and project["github_installation_id"] == INSTALL_ID
    config = project["deployment_config"]
    assert config["build_command"] == "npm run build" and config["env_vars"] == {"NODE_ENV": "production"}
    assert config["fly_config"]["fallback_regions"] == ["ord", "lhr"]
    [secret] = dash.system.rows(
        "SELECT name, encrypted_value FROM project_secrets WHERE project_id = :p", p=project["id"]
    )
    assert secret["name"] == "API_KEY" and SECRET.encode() not in bytes(secret["encrypted_value"])

    # Settings: the secret's name and age, never its value; edit; delete the secret.
    await page.click("text=Settings")
    await page.wait_for_selector("[data-secret=API_KEY]")
    assert SECRET not in await page.content()
    await screenshot(page, "settings")
    for path in ("/setup", f"/setup/installations/{INSTALL_ID}", f"/projects/{project['id']}/settings"):
        await phone.goto(f"{dash.url}{path}")
        assert await horizontal_overflow(phone) == 0, path
    await screenshot(phone, "settings")
    await page.fill("#f-build_command", "npm run build:preview")
    await page.click("#save-settings")
    await page.wait_for_selector("text=Settings saved.")
    assert (
        dash.system.rows("SELECT deployment_config FROM projects WHERE id = :p", p=project["id"])[0][
            "deployment_config"
        ]["build_command"]
        == "npm run build:preview"
    )
    await page.fill("#s-name", "DATABASE_URL")
    await page.fill("#s-value", "postgres://user:hunter2@db/app")
    await page.click("#save-secret")
    await page.wait_for_selector("text=Secret DATABASE_URL saved. Its value is not shown again.")
    assert await page.locator("[data-secret]").all_inner_texts() != []
    assert "hunter2" not in await page.content()
    await page.click("[data-secret=DATABASE_URL] button")
    await page.wait_for_selector("text=Secret DATABASE_URL deleted.")
    await page.click("[data-secret=API_KEY] button")  # the confirmation dialog is accepted
    await page.wait_for_selector("text=Secret API_KEY deleted.")
    assert dash.system.rows("SELECT * FROM project_secrets WHERE project_id = :p", p=project["id"]) == []

    # Disable (choosing to destroy previews), enable, then delete.
    await page.check("input[name=previews][value=destroy]")
    await page.click("#disable")
    await page.wait_for_selector("text=webhooks are ignored")
    assert dash.system.rows("SELECT is_active FROM projects WHERE id = :p", p=project["id"]) == [
        {"is_active": False}
    ]
    await page.click("#enable")
    await page.wait_for_selector("text=Enabled")
    await page.fill("#confirm", "not the name")
    await page.click("#delete")
    await page.wait_for_selector("text=To delete, type the repository name")
    await page.fill("#confirm", REPO)
    await page.click("#delete")
    await page.wait_for_url(f"{dash.url}/")
    await page.wait_for_selector(f"text=Deleting {REPO}: its previews are torn down first")
    for _ in range(100):
        if not dash.system.rows("SELECT id FROM projects WHERE id = :p", p=project["id"]):
            break
        await asyncio.sleep(0.2)
    else:
        raise AssertionError("project not deleted")
    actions = [
        e["action"]
        for e in dash.system.rows("SELECT action FROM audit_events WHERE actor = 'sam' ORDER BY id")
    ]
    assert actions == [
        "configure", "set secret", "delete secret", "delete secret", "disable", "enable", "delete", "deleted"
    ]  # fmt: skip
