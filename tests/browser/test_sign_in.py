"""Signing in: a one-time link in local mode, GitHub OAuth (against the fake) in GitHub mode."""

from __future__ import annotations

from typing import Any

from tests.browser.harness import INSTALLATION, Dashboard
from tests.browser.pages import new_page, screenshot, sign_in_with_github


async def test_local_mode_shows_no_dashboard_until_a_one_time_link_is_used(
    browser: Any, dash: Dashboard
) -> None:
    page = await new_page(browser)
    await page.goto(f"{dash.local_url}/")
    assert page.url.startswith(f"{dash.local_url}/login")
    assert await page.locator("text=previewd login-link").count() == 1
    assert await page.locator("text=Overview").count() == 0
    await screenshot(page, "login-local")

    link = dash.login_link()
    await page.goto(link)
    await page.click("#link-sign-in")
    await page.wait_for_selector("h1:has-text('Overview')")
    assert await page.locator(".who").inner_text() == "admin (local)"
    await screenshot(page, "home-local")

    # The link worked once: a second browser gets nothing from it.
    other = await new_page(browser)
    await other.goto(link)
    await other.click("#link-sign-in")
    assert await other.locator("text=used, expired or unknown").count() == 1
    assert other.url.startswith(f"{dash.local_url}/auth/link")

    cookies = await page.context.cookies()
    session = next(c for c in cookies if c["name"] == "previewd_session")
    assert session["httpOnly"] and session["sameSite"] == "Lax"
    assert not session["secure"]  # PREVIEWD_BASE_URL is http here

    await page.click("button:has-text('Sign out')")
    await page.wait_for_url(f"{dash.local_url}/login")
    # The old cookie is worthless too: its server-side session row is gone.
    replay = await new_page(browser)
    await replay.context.add_cookies([session])
    await replay.goto(f"{dash.local_url}/")
    assert replay.url.startswith(f"{dash.local_url}/login")


async def test_github_mode_signs_in_through_oauth_with_state_checked(browser: Any, dash: Dashboard) -> None:
    dash.fake.users.add_user("octocat", installations=[INSTALLATION], name="The Octocat")
    page = await new_page(browser)
    await page.goto(f"{dash.url}/")
    assert page.url.startswith(f"{dash.url}/login")
    await screenshot(page, "login-github")
    await sign_in_with_github(page, dash, "octocat")
    assert page.url == f"{dash.url}/"
    sent = dash.fake.users.authorize_requests[-1]
    assert sent["client_id"] == dash.fake.client_id and sent["state"]
    assert sent["redirect_uri"] == f"{dash.url}/auth/github/callback"

    # A callback whose state this browser never sent (a forged or replayed one) signs nobody in.
    attacker = await new_page(browser)
    await attacker.goto(f"{dash.url}/auth/github/callback?code=stolen&state={sent['state']}")
    assert await attacker.locator("text=did not complete").count() == 1
    await attacker.goto(f"{dash.url}/")
    assert attacker.url.startswith(f"{dash.url}/login")

    # Cancelling on GitHub brings the person back with a plain message.
    dash.fake.users.deny_next = True
    cancelled = await new_page(browser)
    await cancelled.goto(f"{dash.url}/auth/github")
    assert await cancelled.locator("text=GitHub sign-in was cancelled").count() == 1
