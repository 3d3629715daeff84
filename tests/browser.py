"""A real browser for the staff-page tests: Debian's Chromium, headless,
driven by Playwright (no Playwright browser download).

A missing Chromium fails the tests instead of skipping them: `.ci/test`
installs it, and a browser test that silently does not run proves nothing.
Screenshots land in test-output/screenshots/ for a human to look at.
"""

from __future__ import annotations

import os
import shutil
from contextlib import contextmanager
from pathlib import Path

from django.conf import settings
from playwright import sync_api

CHROMIUM = os.environ.get("CHROMIUM_PATH") or shutil.which("chromium") or "/usr/bin/chromium"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-background-networking", "--disable-gpu"]
SCREENSHOTS = Path(settings.BASE_DIR) / "test-output" / "screenshots"

expect = sync_api.expect


@contextmanager
def chromium():
    """A headless Chromium. Playwright's sync API runs an event loop in this
    thread while open, and Django refuses ORM calls under a running loop, so
    tests read the database before opening it or after closing it (the live
    server answers from its own thread)."""
    if not os.path.exists(CHROMIUM):
        raise RuntimeError(f"no Chromium at {CHROMIUM}: apt-get install chromium (bash .ci/test does)")
    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        try:
            yield browser
        finally:
            browser.close()


def screenshot(page, name: str) -> None:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / f"{name}.png"), full_page=True)


def log_in(page, base_url: str, username: str, password: str = "password") -> None:
    page.goto(f"{base_url}/admin/login/")
    page.fill("#id_username", username)
    page.fill("#id_password", password)
    page.get_by_role("button", name="Log in").click()
