"""Real Chromium signs in, switches to Chinese and signs out cleanly; /login passes axe."""

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Browser, ConsoleMessage, Page, expect, sync_playwright

from portal.core.access import Role
from portal.demo.seed import DEMO_ACCOUNTS
from tests.support.databases import fresh_database
from tests.support.live_server import live_server

pytestmark = [pytest.mark.browser, pytest.mark.slow]

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
BLOCKING_IMPACTS = {"serious", "critical"}
ADMIN = next(account for account in DEMO_ACCOUNTS if account.role is Role.ADMIN)


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    if not CHROMIUM.exists():
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(f"Chromium is required under CI=true but {CHROMIUM} is missing")
        pytest.skip("Chromium not installed: apt-get install chromium")
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(
            executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS
        )
        yield chromium
        chromium.close()


@pytest.fixture(scope="module")
def base_url(backend: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """One migrated, seeded portal per backend, shared by the tests of this module."""
    directory = tmp_path_factory.mktemp(f"live-{backend}")
    with (
        fresh_database(backend, directory) as database_url,
        live_server(database_url, directory) as url,
    ):
        yield url


class ConsoleErrors:
    """Console messages of type "error" and uncaught exceptions, with the page they came from.

    CSP violations ("Refused to load/execute/apply ...") arrive as console errors too.
    """

    def __init__(self, page: Page) -> None:
        self.page = page
        self.errors: list[str] = []
        page.on("console", self._console)
        page.on("pageerror", self._page_error)

    def _console(self, message: ConsoleMessage) -> None:
        if message.type != "error":
            return
        self.errors.append(f"{self.page.url}: {message.text} ({message.location.get('url')})")

    def _page_error(self, error: Any) -> None:
        self.errors.append(f"{self.page.url}: uncaught {error}")


def test_sign_in_switch_language_and_sign_out(browser: Browser, base_url: str) -> None:
    context = browser.new_context(base_url=base_url)
    try:
        page = context.new_page()
        console = ConsoleErrors(page)

        page.goto("/login")
        expect(page.locator("h1")).to_have_text("Sign in")
        page.get_by_label("Email").fill(ADMIN.email)
        page.get_by_label("Password").fill(ADMIN.password)
        page.locator("main form button[type=submit]").click()
        expect(page.locator("h1")).to_contain_text("Welcome")
        expect(page.locator("h1")).to_have_text(f"Welcome, {ADMIN.name}")

        page.select_option("#language-select", "zh_Hans")
        page.locator("form.language-form button[type=submit]").click()
        expect(page.locator("h1")).to_have_text(f"欢迎，{ADMIN.name}")
        expect(page.locator("html")).to_have_attribute("lang", "zh-Hans")

        page.locator("#sign-out").click()
        expect(page.locator("h1")).to_have_text("登录")
        expect(page).to_have_url(f"{base_url}/login")
        expect(page.locator("#sign-out")).to_have_count(0)

        assert console.errors == [], "console errors:\n" + "\n".join(console.errors)
    finally:
        context.close()


def _describe(violation: dict[str, Any]) -> str:
    targets = [", ".join(map(str, node.get("target", []))) for node in violation["nodes"]]
    return f"{violation['id']} ({violation['impact']}): {violation['help']}\n" + "\n".join(
        f"    - {target}" for target in targets
    )


def test_login_page_has_no_serious_accessibility_violations(
    browser: Browser, base_url: str
) -> None:
    from axe_playwright_python.sync_playwright import Axe

    context = browser.new_context(base_url=base_url)
    try:
        page = context.new_page()
        page.goto("/login")
        expect(page.locator("h1")).to_be_visible()
        results = Axe().run(page)
        blocking = [
            violation
            for violation in results.response["violations"]
            if violation["impact"] in BLOCKING_IMPACTS
        ]
        assert blocking == [], "accessibility violations on /login:\n" + "\n".join(
            _describe(violation) for violation in blocking
        )
    finally:
        context.close()
