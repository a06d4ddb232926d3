"""A real headless Chromium (Debian's, driven by Playwright) against a real server.
Screenshots of the pages go to build/screenshots/ (not committed)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from playwright.async_api import Browser, Page, async_playwright

from ampnexus.app import AmpNexus
from ampnexus.domain.user import Role

CHROMIUM = Path("/usr/bin/chromium")
SCREENSHOTS = Path(__file__).resolve().parents[2] / "build" / "screenshots"
ADMIN = ("admin@example.com", "a long admin password")


@pytest.fixture(params=["sqlite"])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """The browser tests check the pages, not the database: SQLite is enough."""
    return f"sqlite:///{tmp_path / 'portal.sqlite3'}"


@pytest.fixture(scope="session")
def chromium() -> Path:
    assert CHROMIUM.exists(), "the browser tests need Debian's chromium: make browser"
    return CHROMIUM


@pytest.fixture
async def browser(chromium: Path) -> AsyncIterator[Browser]:
    async with async_playwright() as playwright:
        launched = await playwright.chromium.launch(
            executable_path=str(chromium), headless=True, args=["--no-sandbox"]
        )
        try:
            yield launched
        finally:
            await launched.close()


@pytest.fixture
async def page(browser: Browser) -> AsyncIterator[Page]:
    context = await browser.new_context(viewport={"width": 1200, "height": 800})
    opened = await context.new_page()
    try:
        yield opened
    finally:
        await context.close()


@pytest.fixture
async def portal(server: AmpNexus) -> str:
    await server.services.users.create(ADMIN[0], ADMIN[1], Role.ADMIN)
    return f"http://127.0.0.1:{server.http_port}"


async def sign_in(page: Page, portal: str, email: str, password: str) -> None:
    await page.goto(f"{portal}/")
    await page.get_by_label("Email").fill(email)
    await page.get_by_label("Password").fill(password)
    await page.get_by_role("button", name="Sign in").click()


async def screenshot(page: Page, name: str) -> None:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    await page.screenshot(path=str(SCREENSHOTS / f"{name}.png"), full_page=True)
