"""Small helpers the browser tests share: contexts at a given width, sign-in, screenshots."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from tests.browser.harness import ARTIFACTS, Dashboard

PHONE = {"width": 375, "height": 812}
DESKTOP = {"width": 1280, "height": 860}


# Every context a test opened, closed when it ends (conftest.py): a page left open keeps polling the
# dashboard and streaming logs, and Chromium and the web app with it, for the rest of the suite.
OPEN_CONTEXTS: list[Any] = []


async def new_page(browser: Any, viewport: dict[str, int] = DESKTOP) -> Any:
    context = await browser.new_context(viewport=viewport)
    OPEN_CONTEXTS.append(context)
    context.set_default_timeout(15_000)
    page = await context.new_page()
    # Confirmation dialogs (destroy, approve) are accepted, as a person who meant it would.
    page.on("dialog", lambda dialog: dialog.accept())
    # Anything the pages' Content-Security-Policy blocks is a page that does not work as written.
    violations = CSP_VIOLATIONS.setdefault(id(page), [])
    page.on("console", lambda message: violations.append(message.text) if _csp(message.text) else None)
    return page


CSP_VIOLATIONS: dict[int, list[str]] = {}


def _csp(text: str) -> bool:
    return "Content Security Policy" in text or "Content-Security-Policy" in text


async def sign_in_with_github(page: Any, dash: Dashboard, login: str) -> None:
    dash.fake.users.login_as(login)
    await page.goto(f"{dash.url}/")
    await page.click("#github-sign-in")
    await page.wait_for_selector(f'.who:has-text("{login}")', timeout=8000)


async def screenshot(page: Any, name: str) -> Path:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    width = page.viewport_size["width"]
    path = ARTIFACTS / f"{name}-{width}.png"
    # caret="initial": hiding the caret means an injected <style>, which the page's CSP (rightly) blocks.
    await page.screenshot(path=str(path), full_page=True, caret="initial")
    blocked = CSP_VIOLATIONS.get(id(page), [])
    assert blocked == [], f"{name}: blocked by the page's CSP: {blocked}"
    return path


async def horizontal_overflow(page: Any) -> int:
    """How many CSS pixels the page is wider than the window (0: no horizontal scrolling)."""
    overflow: int = await page.evaluate("document.documentElement.scrollWidth - window.innerWidth")
    return overflow
