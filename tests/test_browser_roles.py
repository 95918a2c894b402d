"""Real Chromium: the day of a handler, a lead and an admin (the RM's is in
tests/test_browser_workspace.py) at 1366 px and 375 px in English and Chinese — sign in, the
role's home, its main task, a refused action shown beside its form, and a 409 from a stale page
that names who changed the ticket and keeps what was typed — with no sideways page scroll and
axe at 0 serious/critical on every page; then an axe sweep of every page in each role's
navigation at 1366 px."""

from contextlib import contextmanager
from typing import Any

import pytest
from playwright.sync_api import Browser, Page, expect

from tests import test_browser as shared
from tests.test_browser import (
    ADMIN,
    HANDLER,
    LEAD,
    REFUSED,
    RM,
    ConsoleErrors,
    _fits_the_width,
    _no_blocking_violations,
    _signed_in,
)

# tests/test_browser.py's seeded portal: this module gets its own copy of the demo database.
live_portal = shared.live_portal
base_url = shared.base_url

pytestmark = [pytest.mark.browser, pytest.mark.slow]

WIDTHS = (1366, 375)
EMPTY_NOTE = {"en": "Write something first.", "zh_Hans": "请先输入内容。"}
CHANGED = {"en": "{who} changed", "zh_Hans": "{who} 于"}
SLOW = 15_000  # ms: an htmx round trip on a machine busy with other test runs


@contextmanager
def _walker(browser: Browser, base_url: str, account: Any, width: int, locale: str) -> Any:
    """A page `width` px wide signed in as `account` in `locale`; only the 400s and 409s the
    walk provokes on purpose may reach the console."""
    context, page = _signed_in(
        browser, base_url, account, locale, viewport={"width": width, "height": 800}
    )
    try:
        console = ConsoleErrors(page)
        yield page
        unexpected = [error for error in console.errors if not REFUSED.search(error)]
        assert unexpected == [], "console errors:\n" + "\n".join(unexpected)
    finally:
        context.close()


def _checked(page: Page, what: str) -> None:
    """Every page of a walk: no sideways scroll, nothing serious for axe."""
    _fits_the_width(page)
    _no_blocking_violations(page, what)


def _note_refused_and_added(page: Page, locale: str, text: str, what: str) -> None:
    """An empty note is refused beside the note form; a written one is added."""
    page.locator("form.note-form button[type=submit]").click()
    problem = page.locator("form.note-form #problem-note")
    expect(problem).to_have_text(EMPTY_NOTE[locale], timeout=SLOW)
    expect(problem).to_have_attribute("role", "alert")
    expect(problem).to_be_focused()
    _checked(page, f"{what} with a refused note")
    page.locator("#body").fill(text)
    page.locator("form.note-form button[type=submit]").click()
    expect(page.locator("#notes-heading + ol")).to_contain_text(text, timeout=SLOW)
    expect(page.locator("form.note-form #problem-note")).to_have_count(0)


def _conflict(
    browser: Browser, base_url: str, page: Page, other: Any, locale: str, what: str
) -> None:
    """`other`, in a browser of their own, moves the ticket open in `page` on; a status change
    then sent from `page` as it stood comes back as a 409 naming them, the typed text kept."""
    context, theirs = _signed_in(browser, base_url, other, "en")
    try:
        theirs.goto(page.url)
        theirs.locator(".actions form.action-form button[type=submit]").first.click()
        expect(theirs.locator(".flash-success")).to_be_visible(timeout=SLOW)
    finally:
        context.close()

    form = page.locator(".actions details.action-details").first
    target = form.locator("input[name=to]").get_attribute("value")
    form.locator("summary").click()
    typed = f"Browser test: {what}, sent from a stale page."
    if target == "resolved":
        form.locator("textarea[name=resolution]").fill(typed)
    form.locator("input[name=reason]").fill(typed)
    form.locator("button[type=submit]").click()
    conflict = page.locator(f"#problem-status-{target}")
    expect(conflict).to_contain_text(CHANGED[locale].format(who=other.name), timeout=SLOW)
    expect(conflict).to_be_focused()
    expect(page.locator(f"#reason-{target}")).to_have_value(typed)
    if target == "resolved":
        expect(page.locator("#resolution-resolved")).to_have_value(typed)
    assert other.email not in page.locator("main").inner_text()
    _checked(page, f"{what} with a conflict")


# Each role walks at both widths and in both languages: 1366 px in one language and 375 px
# in the other, so that every width meets every language (all four combinations for every role
# took over two minutes on a shared machine).
WALKS = [(1366, "en"), (375, "zh_Hans")]
walk = pytest.mark.parametrize(("width", "locale"), WALKS)
lead_walk = pytest.mark.parametrize(("width", "locale"), [(1366, "zh_Hans"), (375, "en")])
admin_walk = pytest.mark.parametrize(("width", "locale"), [(1366, "en"), (375, "zh_Hans")])


def _home(page: Page, panels: tuple[str, ...], what: str) -> None:
    """The role's home shows its panels, and passes the checks."""
    page.goto("/")
    for panel in panels:
        expect(page.locator(panel).first).to_be_visible()
    _checked(page, f"the home of {what}")


def _open(page: Page, link: Any, heading: str, what: str) -> None:
    """Follow `link` to a page showing `heading`, and check that page."""
    link.click()
    expect(page.locator(heading).first).to_be_visible()
    _checked(page, what)


def _index(width: int) -> int:
    """A different ticket for each walk of a role, so that walks do not meet."""
    return WIDTHS.index(width)


@walk
def test_a_handlers_day(browser: Browser, base_url: str, width: int, locale: str) -> None:
    what = f"the handler's day ({width} px, {locale})"
    with _walker(browser, base_url, HANDLER, width, locale) as page:
        _home(page, ("#home-due-soon li", "#home-notifications"), what)

        page.goto("/tickets?assignee=me")
        rows = page.locator("table.queue tbody tr")
        expect(rows.first).to_be_visible()
        _checked(page, f"the queue of {what}")
        link = rows.nth(_index(width)).locator("td.col-reference a")
        _open(page, link, "#ticket-page h1", f"the ticket page of {what}")

        _note_refused_and_added(page, locale, f"Browser test: called the customer, {what}.", what)
        _conflict(browser, base_url, page, LEAD, locale, what)


@lead_walk
def test_a_leads_day(browser: Browser, base_url: str, width: int, locale: str) -> None:
    what = f"the lead's day ({width} px, {locale})"
    with _walker(browser, base_url, LEAD, width, locale) as page:
        _home(page, ("#home-breached li a", "#home-at-risk", "#home-notifications"), what)
        breached = page.locator("#home-breached li a")

        _open(page, breached.nth(_index(width)), "#ticket-page h1", f"the ticket of {what}")
        assignee = page.locator("#assignee_id")
        choice = assignee.locator("option:not([value=''])").nth(_index(width))
        value, name = choice.get_attribute("value"), choice.inner_text().strip()
        assignee.select_option(value)
        assignee.locator("xpath=ancestor::form").locator("button[type=submit]").click()
        expect(page.locator(".flash-success")).to_be_visible(timeout=SLOW)
        expect(page.locator("#assignee_id")).to_have_value(value)
        expect(page.locator(".history")).to_contain_text(name)

        _note_refused_and_added(page, locale, f"Browser test: escalated, {what}.", what)
        _conflict(browser, base_url, page, ADMIN, locale, what)


@admin_walk
def test_an_admins_day(browser: Browser, base_url: str, width: int, locale: str) -> None:
    what = f"the admin's day ({width} px, {locale})"
    with _walker(browser, base_url, ADMIN, width, locale) as page:
        _home(page, ("#home-users", "#home-outbox", "#home-jobs"), what)

        users = page.locator("#home-users tbody a").first
        _open(page, users, "#user-rows tbody tr", f"the users list of {what}")
        page.goto("/")
        outbox = page.locator("#home-outbox > p:last-child a")
        _open(page, outbox, "#outbox-results tbody td.subject a", f"the outbox of {what}")
        message = page.locator("#outbox-results tbody td.subject a").first
        _open(page, message, "main hgroup h1", f"a message of {what}")

        page.goto("/tickets?assignee=none")
        link = page.locator("table.queue tbody tr").nth(_index(width)).locator("a").first
        _open(page, link, "#ticket-page h1", f"the ticket page of {what}")
        _note_refused_and_added(page, locale, f"Browser test: checked by the admin, {what}.", what)
        _conflict(browser, base_url, page, LEAD, locale, what)


# ---------------------------------------------------------------- every page in the navigation

# Pages left out of the sweep, each with the failure it would report (none at present).
LEFT_OUT: dict[str, str] = {}


def _navigation(page: Page) -> list[str]:
    """The portal's own pages linked from the main navigation, in order, each once."""
    hrefs = page.locator("header nav a[href^='/']").evaluate_all(
        "links => links.map(link => link.getAttribute('href'))"
    )
    return list(dict.fromkeys(href for href in hrefs if href not in LEFT_OUT))


@pytest.mark.parametrize("account", [HANDLER, LEAD, ADMIN, RM], ids=lambda a: a.role.value)
def test_every_page_in_the_navigation_passes_axe(
    browser: Browser, base_url: str, account: Any
) -> None:
    with _walker(browser, base_url, account, 1366, "en") as page:
        pages = _navigation(page)
        assert "/" in pages and "/tickets" in pages, pages
        admin_pages = {"/admin/users", "/admin/outbox", "/admin/audit"}
        assert admin_pages <= set(pages) if account is ADMIN else not admin_pages & set(pages)
        for href in pages:
            response = page.goto(href)
            assert response is not None and response.status == 200, href
            _checked(page, f"{href} as {account.role.value}")
