"""Real Chromium: a clock change the rules refuse is answered by htmx in the clock panel,
beside the action, with what the handler wrote kept and nothing changed."""

import pytest
from playwright.sync_api import Browser, expect

from tests.test_browser import (  # noqa: F401  (the fixtures, shared)
    HANDLER,
    ConsoleErrors,
    _sign_in,
    base_url,
    browser,
)

pytestmark = [pytest.mark.browser, pytest.mark.slow]


def test_a_late_extension_is_refused_in_the_clock_panel(
    browser: Browser,  # noqa: F811  (the shared fixture, by its name)
    base_url: str,  # noqa: F811
) -> None:
    context = browser.new_context(base_url=base_url)
    try:
        page = context.new_page()
        console = ConsoleErrors(page)
        _sign_in(page, HANDLER)

        # A complaint received on 1 October 2026: its 15 days ended with 16 October.
        page.goto("/tickets/new")
        page.get_by_label("Subject").fill("Browser test: a breached complaint")
        page.locator("#received_at").fill("2026-10-01T10:00")
        page.get_by_role("button", name="Register").click()
        expect(page.locator(".flash-success")).to_contain_text("registered")
        history = page.locator(".history").inner_text()

        page.get_by_text("Extend to 30 days").click()
        page.locator("#extend-reason").fill("Needs the call recordings")
        page.locator("#extend-notice").fill("We need 30 days.")
        page.locator("#extend-reason").locator("xpath=ancestor::form").get_by_role(
            "button", name="Confirm"
        ).click()

        panel = page.locator("#clock-actions")
        expect(panel.locator(".flash-error")).to_contain_text("The deadline ended with 2026-10-16")
        expect(page.locator("#extend-reason")).to_have_value("Needs the call recordings")
        expect(page.locator("#extend-notice")).to_have_value("We need 30 days.")
        expect(page.locator("#messages .flash-error")).to_have_count(0)
        page.reload()
        assert page.locator(".history").inner_text() == history  # nothing was recorded
        expect(page.locator(".clock-card").first).to_contain_text("overdue")

        # The refusal is a 400, which the browser and htmx log; nothing else may be.
        others = [e for e in console.errors if "400" not in e or "/clock" not in e]
        assert others == [], "console errors:\n" + "\n".join(others)
    finally:
        context.close()
