"""Real Chromium at 1366 px and 375 px, in English and Chinese: an RM's day from sign-in (home
is My day) to a logged contact without the page scrolling sideways, an admin reassigning
customers whichever control comes first, and axe on My day, the 360 page, the customer list
and the audit log."""

import re
from contextlib import contextmanager
from typing import Any

import pytest
from playwright.sync_api import Browser, Page, expect

from tests import test_browser as shared
from tests.test_browser import ADMIN, BLOCKING_IMPACTS, RM, ConsoleErrors, _describe

# tests/test_browser.py's seeded portal, one per module (Chromium is conftest's, one per session).
live_portal = shared.live_portal
base_url = shared.base_url

pytestmark = [pytest.mark.browser, pytest.mark.slow]

WIDTHS = {"desktop": 1366, "phone": 375}
SLOW = 15_000  # ms: an htmx round trip on a machine busy with other test runs
TEXT = {
    "en": {"my_day": "My day", "logged": "Contact logged.", "moved": "2 customers reassigned."},
    "zh_Hans": {"my_day": "我的今日", "logged": "联系记录已登记。", "moved": "已转移 2 名客户。"},
}


@contextmanager
def _signed_in(browser: Browser, base_url: str, size: str, account: Any, locale: str) -> Any:
    """A page `WIDTHS[size]` px wide, signed in as `account` speaking `locale` (chosen after
    signing in, so kept on the account, as a user would); no console error may occur."""
    context = browser.new_context(
        base_url=base_url, viewport={"width": WIDTHS[size], "height": 800}
    )
    try:
        page = context.new_page()
        console = ConsoleErrors(page)
        page.goto("/login")
        page.locator("#email").fill(account.email)
        page.locator("#password").fill(account.password)
        page.locator("main form button[type=submit]").click()
        expect(page.locator("#sign-out")).to_be_visible()
        page.select_option("#language-select", locale)
        page.locator("form.language-form button[type=submit]").click()
        expect(page.locator("html")).to_have_attribute("lang", locale.replace("_", "-"))
        yield page
        assert console.errors == [], "console errors:\n" + "\n".join(console.errors)
    finally:
        context.close()


def _no_sideways_scroll(page: Page) -> None:
    widths = page.evaluate("() => [document.documentElement.scrollWidth, window.innerWidth]")
    assert widths[0] <= widths[1], f"{page.url} scrolls sideways: {widths}"


def _out_of_reach(page: Page, scope: str = "main") -> list[str]:
    """The visible links, buttons and fields in `scope` that lie beyond the viewport's left
    or right edge (reachable only by scrolling sideways, the page or a table)."""
    return page.evaluate(
        """scope => [...document.querySelectorAll(
                `${scope} a, ${scope} button, ${scope} input:not([type=hidden]), ${scope} select`)]
            .filter(el => el.offsetParent !== null)
            .filter(el => { const box = el.getBoundingClientRect();
                            return box.left < 0 || box.right > window.innerWidth + 0.5; })
            .map(el => el.outerHTML.slice(0, 120))""",
        scope,
    )


def _axe(page: Page, what: str) -> None:
    from axe_playwright_python.sync_playwright import Axe

    results = Axe().run(page)
    blocking = [v for v in results.response["violations"] if v["impact"] in BLOCKING_IMPACTS]
    assert blocking == [], f"accessibility violations on {what}:\n" + "\n".join(
        _describe(violation) for violation in blocking
    )


@pytest.mark.parametrize("locale", ["en", "zh_Hans"])
@pytest.mark.parametrize("size", ["desktop", "phone"])
def test_an_rms_day_fits_the_screen_from_my_day_to_a_logged_contact(
    browser: Browser, base_url: str, size: str, locale: str
) -> None:
    width, text = WIDTHS[size], TEXT[locale]
    with _signed_in(browser, base_url, size, RM, locale) as page:
        page.goto("/")
        expect(page.locator("main h1")).to_contain_text(text["my_day"])
        assert page.locator("#follow-ups tbody tr[id^=follow-up-]").count() > 0
        _no_sideways_scroll(page)
        assert _out_of_reach(page) == []
        assert _out_of_reach(page, "header") == []
        _axe(page, f"My day ({size}, {locale})")

        page.locator("#follow-ups tbody tr[id^=follow-up-] a").first.click()
        expect(page.locator("#log-contact")).to_be_visible()
        _no_sideways_scroll(page)
        accounts = page.locator(".table-scroll:has(table.accounts)")
        if accounts.count():
            fits = accounts.evaluate("el => el.scrollWidth <= el.clientWidth")
            assert fits, f"the accounts table scrolls sideways at {width} px"
            for header in (accounts.locator("th").nth(3), accounts.locator("th").last):
                box = header.bounding_box()  # next due and status: on screen, never folded
                assert box and box["x"] + box["width"] <= width, header.inner_text()
        assert _out_of_reach(page) == []
        summary = f"Browser test {size} {locale}: agreed a new repayment date."
        page.locator("#summary").fill(summary)
        page.locator("#log-contact button[type=submit]").click()
        expect(page.locator(".flash-success")).to_contain_text(text["logged"])
        expect(page.locator("#timeline")).to_contain_text(summary)
        _no_sideways_scroll(page)
        _axe(page, f"the 360 page ({size}, {locale})")

        page.goto("/customers")
        expect(page.locator("#customer-rows tbody tr").first).to_be_visible()
        _no_sideways_scroll(page)
        name_link = page.locator("#customer-rows tbody tr td:nth-child(2) a").first
        expect(name_link).to_have_attribute("href", re.compile(r"^/customers/\d+$"))
        _axe(page, f"the customer list ({size}, {locale})")


def _pick_owners(page: Page) -> tuple[tuple[str, str], tuple[str, str]]:
    """Two relationship managers other than the demo RM: whose customers move, and to whom."""
    options = page.locator("#customer-filters select[name=owner] option").evaluate_all(
        "options => options.map(o => [o.value, o.textContent.trim()])"
    )
    staff = [(value, name) for value, name in options if value and name != RM.name]
    return staff[0], staff[1]


@pytest.mark.parametrize("order", ["tick first", "pick first"])
@pytest.mark.parametrize(("size", "locale"), [("desktop", "en"), ("phone", "zh_Hans")])
def test_an_admin_reassigns_customers_whichever_control_comes_first(
    browser: Browser, base_url: str, order: str, size: str, locale: str
) -> None:
    text = TEXT[locale]
    with _signed_in(browser, base_url, size, ADMIN, locale) as page:
        page.goto("/customers")
        (source, _), (target, target_name) = _pick_owners(page)
        page.locator("#customer-filters select[name=owner]").select_option(source)
        expect(page).to_have_url(re.compile(rf"owner={source}"), timeout=SLOW)
        boxes = page.locator("#customer-rows input[name=customer_ids]")
        expect(boxes.first).to_be_visible()
        assert boxes.count() >= 2
        chosen = [boxes.nth(i).get_attribute("value") for i in (0, 1)]
        reassign = page.locator("#reassign-form")

        def tick() -> None:
            for value in chosen:
                page.locator(f"#customer-rows input[value='{value}']").check()

        def pick() -> None:
            reassign.locator("select[name=owner_id]").select_option(target)
            reassign.locator("input[name=reason]").fill(f"Browser test: {order}, {size}")

        steps = (tick, pick) if order == "tick first" else (pick, tick)
        for step in steps:
            step()
            page.wait_for_timeout(400)  # longer than the search's delay: nothing reloads
        for value in chosen:
            expect(page.locator(f"#customer-rows input[value='{value}']")).to_be_checked()
        _no_sideways_scroll(page)
        assert _out_of_reach(page, "#reassign-form fieldset") == []
        reassign.locator("button[type=submit]").click()
        expect(page.locator(".flash-success")).to_have_text(text["moved"])

        _axe(page, f"the customer list as admin ({size}, {locale})")
        for value in chosen:
            page.goto(f"/customers/{value}")
            expect(page.locator("main hgroup")).to_contain_text(target_name)

        page.goto(
            f"/admin/audit?action=customer.reassigned&subject_type=customer&subject_id={value}"
        )
        expect(page.locator("#audit-rows tbody tr").first).to_contain_text(target_name)
        _no_sideways_scroll(page)
        _axe(page, f"the audit log ({size}, {locale})")
