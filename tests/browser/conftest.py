"""Browser tests: Playwright's async API driving Debian's Chromium (never a downloaded browser).

Where Chromium or Playwright is missing they are skipped with the reason, except under CI, where
that is a failure: `make test` installs Chromium where it can.
"""

from __future__ import annotations

import importlib.util
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.browser.harness import ARTIFACTS, CHROMIUM, CHROMIUM_ARGS, Dashboard, dashboard_system
from tests.browser.pages import CSP_VIOLATIONS, OPEN_CONTEXTS
from tests.requirements import require


def _missing() -> str | None:
    if importlib.util.find_spec("playwright") is None:
        return "the playwright package is not installed (pip install -e '.[test]')"
    if not Path(CHROMIUM).exists():
        return f"no Chromium at {CHROMIUM} (apt-get install chromium; `make test` does it as root)"
    return None


@pytest.fixture(scope="session")
def requirements() -> None:
    reason = _missing()
    require(reason is None, f"browser tests cannot run: {reason}")


# The browser tests' system and Chromium last as long as this package's tests, not the whole run.
@pytest.fixture(scope="package")
def dash(requirements: None) -> Iterator[Dashboard]:
    with dashboard_system() as running:
        yield running


@pytest.fixture(scope="package")
async def browser(requirements: None) -> AsyncIterator[Any]:
    from playwright.async_api import async_playwright

    async with async_playwright() as playwright:
        launched = await playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            yield launched
        finally:
            await launched.close()


@pytest.fixture(autouse=True)
async def pages_closed_after_each_test() -> AsyncIterator[None]:
    yield
    while OPEN_CONTEXTS:
        await OPEN_CONTEXTS.pop().close()
    CSP_VIOLATIONS.clear()  # kept by id(page): a later page may get a closed one's id


@pytest.fixture(scope="session")
def artifacts() -> Path:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    return ARTIFACTS
