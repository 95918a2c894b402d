"""Real Chromium at 1366 px and 375 px, in English and Chinese: a customer opens the emailed
survey link, taps a score, writes a comment and sends it, reads the thanks, and opening the link
again says it was answered; axe finds nothing serious on the answer page or the thanks."""

from typing import Any

import pytest
from playwright.sync_api import Browser, Page, expect

from tests import test_browser as shared
from tests.conftest import config_for
from tests.test_browser import BLOCKING_IMPACTS, ConsoleErrors, LivePortal, _describe

live_portal = shared.live_portal
base_url = shared.base_url

pytestmark = [pytest.mark.browser, pytest.mark.slow]

LIVE_SECRET = "live-server-test-secret-key"  # tests/support/live_server.py: the links' HMAC key
WIDTHS = {"desktop": 1366, "phone": 375}
TEXT = {
    "en": {
        "name": "Grace Liu",
        "hello": "Hello Grace,",
        "question": "How likely are you to recommend us to a friend?",
        "thanks": "Your answer is recorded.",
        "answered": "Already answered — thank you.",
    },
    "zh_Hans": {
        "name": "刘晓雨",
        "hello": "晓雨，您好：",
        "question": "您有多大可能向朋友推荐我们？",
        "thanks": "您的回答已记录",
        "answered": "您已作答，谢谢。",
    },
}


def _invite(database_url: str, locale: str) -> str:
    """A fresh invitation in the live portal's database; returns its link's token."""
    from portal import create_app
    from portal.core.extensions import db
    from tests.factories import make_customer, make_invitation, make_programme

    app = create_app(config_for(database_url, SECRET_KEY=LIVE_SECRET))
    try:
        with app.app_context():
            programme = make_programme(
                choices=[
                    {
                        "key": "reach",
                        "en": "How did you reach us?",
                        "zh": "您通过什么方式联系我们？",
                        "options": [{"en": "Phone", "zh": "电话"}, {"en": "Email", "zh": "邮件"}],
                    }
                ]
            )
            customer = make_customer(name=TEXT[locale]["name"], locale=locale)
            _invitation, token = make_invitation(
                programme, customer, subject_label="CMP-2026-004242"
            )
            return token
    finally:
        with app.app_context():
            db.engine.dispose()


def _axe(page: Page, what: str) -> None:
    from axe_playwright_python.sync_playwright import Axe

    results = Axe().run(page)
    blocking = [v for v in results.response["violations"] if v["impact"] in BLOCKING_IMPACTS]
    assert blocking == [], f"accessibility violations on {what}:\n" + "\n".join(
        _describe(violation) for violation in blocking
    )


def _fits(page: Page) -> None:
    widths = page.evaluate("() => [document.documentElement.scrollWidth, window.innerWidth]")
    assert widths[0] <= widths[1], f"{page.url} scrolls sideways: {widths}"


@pytest.mark.parametrize("locale", ["en", "zh_Hans"])
@pytest.mark.parametrize("size", ["desktop", "phone"])
def test_a_customer_answers_from_the_emailed_link(
    browser: Browser, live_portal: LivePortal, size: str, locale: str
) -> None:
    token = _invite(live_portal.database_url, locale)
    text = TEXT[locale]
    # The browser asks for the other language: the page speaks the customer's all the same.
    other = "zh-CN" if locale == "en" else "en-US"
    context: Any = browser.new_context(
        base_url=live_portal.url,
        viewport={"width": WIDTHS[size], "height": 800},
        locale=other,
    )
    try:
        page = context.new_page()
        console = ConsoleErrors(page)
        page.goto(f"/s/{token}")
        expect(page.locator("h1")).to_have_text(text["hello"])
        expect(page.locator("legend").first).to_have_text(text["question"])
        expect(page.locator("html")).to_have_attribute("lang", locale.replace("_", "-"))
        _fits(page)
        _axe(page, f"the answer page ({size}, {locale})")
        # Each score is a box a thumb can hit: 40 px at least, also where six share a row.
        boxes = page.locator("label.score-option span").evaluate_all(
            "spans => spans.map(s => [s.offsetWidth, s.offsetHeight])"
        )
        assert len(boxes) == 11 and all(w >= 40 and h >= 40 for w, h in boxes), boxes

        page.locator("label.score-option", has_text="3").first.click()
        expect(page.locator("#score-3")).to_be_checked()
        page.locator("input[name=choice-reach]").first.check()
        page.locator("#comment").fill("The <b>fee</b> was explained too late.")
        page.locator("form.answer-form button[type=submit]").click()
        expect(page.locator("#thanks")).to_contain_text(text["thanks"])
        _fits(page)
        _axe(page, f"the thanks page ({size}, {locale})")

        page.goto(f"/s/{token}")
        expect(page.locator("#answered")).to_have_text(text["answered"])
        expect(page.locator("#comment")).to_have_value("The <b>fee</b> was explained too late.")
        assert console.errors == [], "console errors:\n" + "\n".join(console.errors)
    finally:
        context.close()
