"""Real Chromium (Debian's /usr/bin/chromium, never a downloaded browser) driven by Playwright.

`BrowserSession` signs in like a person, records every console error, uncaught exception and
CSP violation, and saves a screenshot per page under test-output/screenshots/ so a reviewer
can look at what the tests saw.
"""

from __future__ import annotations

import os
import re
import shutil
from urllib.parse import urlsplit
from pathlib import Path

from playwright.sync_api import Browser, ConsoleMessage, Page, sync_playwright

REPO = Path(__file__).resolve().parent.parent
SCREENSHOTS = REPO / "test-output" / "screenshots"
CHROMIUM = os.environ.get("BILBYCAST_CHROMIUM", shutil.which("chromium") or "/usr/bin/chromium")
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync",
                 "--disable-dev-shm-usage"]


def launch():
    """(playwright, browser) for a test module; the caller stops both."""
    playwright = sync_playwright().start()
    browser = playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
    return playwright, browser


class BrowserSession:
    def __init__(self, browser: Browser, base_url: str, *, viewport=(1440, 900)):
        self.base_url = base_url
        self.context = browser.new_context(ignore_https_errors=True, base_url=base_url,
                                           viewport={"width": viewport[0], "height": viewport[1]})
        self.page: Page = self.context.new_page()
        self.problems: list[str] = []
        self.page.on("console", self._on_console)
        self.page.on("pageerror", lambda exc: self.problems.append(f"pageerror: {exc}"))

    def _on_console(self, message: ConsoleMessage) -> None:
        text = message.text
        if message.type == "error" or "Content Security Policy" in text or "Refused to" in text:
            # A failed fetch that the page handles (e.g. a 401 before redirect) is not a defect.
            if re.search(r"Failed to load resource: the server responded with a status of (401|404|409|422|502|504)", text):
                return
            self.problems.append(f"console {message.type}: {text}")

    def login(self, username: str, password: str, next_path: str = "/dashboard") -> Page:
        page = self.page
        page.goto(next_path)
        page.wait_for_url(re.compile(r"/login"))
        page.fill("input[name=username]", username)
        page.fill("input[name=password]", password)
        page.click("button[type=submit]")
        target = next_path.split("?")[0]
        page.wait_for_url(lambda url: urlsplit(url).path == target)
        return page

    def goto(self, path: str) -> Page:
        self.page.goto(path)
        return self.page

    def screenshot(self, name: str) -> Path:
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        path = SCREENSHOTS / f"{name}.png"
        # The shell scrolls inside <main>, so full_page alone stops at the viewport: grow the
        # viewport to the content for the shot, then put it back.
        size = self.page.viewport_size
        height = self.page.evaluate(
            "() => Math.max(document.documentElement.scrollHeight,"
            " ...Array.from(document.querySelectorAll('main, [data-scroll]'), el => el.scrollHeight + el.getBoundingClientRect().top))")
        if size and height > size["height"]:
            self.page.set_viewport_size({"width": size["width"], "height": min(int(height) + 16, 8000)})
        self.page.screenshot(path=str(path), full_page=True)
        if size:
            self.page.set_viewport_size(size)
        return path

    def assert_clean(self) -> None:
        assert not self.problems, "browser reported problems:\n" + "\n".join(self.problems)

    def close(self) -> None:
        self.context.close()
