"""Real Chromium: sign-in, language, sign-out, an RM's htmx workflow, a handler reading a
deadline in both languages, and axe on key pages."""

import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import pytest
from playwright.sync_api import Browser, ConsoleMessage, Page, expect

from portal.core.access import Role
from portal.demo.seed import DEMO_ACCOUNTS
from tests.conftest import PreparedDatabases, config_for
from tests.support.live_server import live_server

pytestmark = [pytest.mark.browser, pytest.mark.slow]

BLOCKING_IMPACTS = {"serious", "critical"}
ADMIN = next(account for account in DEMO_ACCOUNTS if account.role is Role.ADMIN)
RM = next(account for account in DEMO_ACCOUNTS if account.role is Role.RM)
HANDLER = next(account for account in DEMO_ACCOUNTS if account.role is Role.HANDLER)
# Markup that would run if any page rendered it unescaped: it sets a flag and opens a dialog.
PAYLOAD = '<script>window.__pwned=1;alert(1)</script><img src=x onerror="window.__pwned=2">'


@dataclass(frozen=True)
class LivePortal:
    url: str
    database_url: str  # for a test that puts its own rows in front of the browser


@pytest.fixture(scope="module")
def live_portal(
    backend: str, prepared_databases: PreparedDatabases, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[LivePortal]:
    """One migrated, seeded portal per backend, shared by the tests of this module: a copy of
    the run's demo-seeded database, served by `flask run`."""
    directory = tmp_path_factory.mktemp(f"live-{backend}")
    with (
        prepared_databases.demo(backend, directory) as database_url,
        live_server(database_url, directory, prepare=False) as url,
    ):
        yield LivePortal(url, database_url)


@pytest.fixture(scope="module")
def base_url(live_portal: LivePortal) -> str:
    return live_portal.url


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
        expect(page.locator("#sign-out")).to_be_visible()
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


def _sign_in(page: Page, account: Any) -> None:
    page.goto("/login")
    page.get_by_label("Email").fill(account.email)
    page.get_by_label("Password").fill(account.password)
    page.locator("main form button[type=submit]").click()
    expect(page.locator("#sign-out")).to_be_visible()


def test_an_rm_works_follow_ups_reveals_pii_and_logs_a_contact(
    browser: Browser, base_url: str
) -> None:
    from axe_playwright_python.sync_playwright import Axe

    context = browser.new_context(base_url=base_url)
    try:
        page = context.new_page()
        console = ConsoleErrors(page)
        _sign_in(page, RM)

        page.goto("/my-day")
        first_row = page.locator("tbody tr[id^=follow-up-]").first
        row_id = first_row.get_attribute("id")
        customer_link = first_row.locator("a").first.get_attribute("href")
        first_row.get_by_role("button", name="Done").click()
        row = page.locator(f"#{row_id}")
        expect(row.get_by_role("button")).to_have_count(0)  # swapped in place by htmx
        expect(row).to_contain_text("Done")
        expect(page).to_have_url(f"{base_url}/my-day")

        page.goto(customer_link)
        masked = page.locator("#pii").inner_text()
        assert "****" in masked
        page.get_by_role("button", name="Reveal (recorded)").click()
        expect(page.locator("#pii")).not_to_contain_text("****")
        expect(page.get_by_role("button", name="Reveal (recorded)")).to_have_count(0)

        page.get_by_label("Summary").fill("Browser test: agreed a new repayment date.")
        page.get_by_role("button", name="Log contact").click()
        expect(page.locator(".flash-success")).to_contain_text("Contact logged.")
        expect(page.locator("#timeline").first).to_contain_text("agreed a new repayment date")

        results = Axe().run(page)
        blocking = [v for v in results.response["violations"] if v["impact"] in BLOCKING_IMPACTS]
        assert blocking == [], "accessibility violations on the 360 page:\n" + "\n".join(
            _describe(violation) for violation in blocking
        )

        page.goto("/customers")
        name = page.locator("#customer-rows tbody tr td:nth-child(2)").nth(3).inner_text()
        page.get_by_label("Search").fill(name[:2])
        expect(page).to_have_url(re.compile(rf"/customers\?q={re.escape(name[:2])}&"))
        expect(page.locator("#customer-rows")).to_contain_text(name)

        assert console.errors == [], "console errors:\n" + "\n".join(console.errors)
    finally:
        context.close()


def test_a_handler_registers_and_works_a_ticket_with_markup_shown_as_text(
    browser: Browser, base_url: str
) -> None:
    """Script in every free-text field of a ticket is shown as text and never runs."""
    from axe_playwright_python.sync_playwright import Axe

    context = browser.new_context(base_url=base_url)
    try:
        page = context.new_page()
        console = ConsoleErrors(page)
        dialogs: list[str] = []
        page.on("dialog", lambda dialog: (dialogs.append(dialog.message), dialog.dismiss()))
        _sign_in(page, HANDLER)

        page.goto("/tickets/new")
        page.get_by_label("Subject").fill("Subject " + PAYLOAD[:150])
        page.get_by_label("Product").fill(PAYLOAD[:120])
        page.get_by_label("What the customer asks for").fill("Request " + PAYLOAD)
        page.get_by_label("What happened").fill("Description " + PAYLOAD)
        page.get_by_role("button", name="Register").click()
        expect(page.locator(".flash-success")).to_contain_text("registered")
        ticket_url = page.url

        page.get_by_label("Add a note or record a response").fill("Note " + PAYLOAD)
        page.get_by_role("button", name="Add note", exact=True).click()
        expect(page.locator("#notes-heading + ol")).to_contain_text("Note <script>")
        page.get_by_label("Add a note or record a response").fill("Told " + PAYLOAD)
        page.get_by_label("This was said to the customer (a response)").check()
        page.get_by_role("button", name="Add note", exact=True).click()
        expect(page.locator("#responses-heading + ol")).to_contain_text("Told <script>")

        # A clock action through htmx: extend to 30 days with the customer told.
        page.get_by_text("Extend to 30 days").click()
        page.locator("#extend-reason").fill("Reason " + PAYLOAD)
        page.locator("#extend-notice").fill("Notice " + PAYLOAD)
        page.locator("#extend-reason").locator("xpath=ancestor::form").get_by_role(
            "button", name="Extend the deadline"
        ).click()
        expect(page.locator(".flash-success")).to_contain_text("Clock extended.")
        expect(page.locator(".history")).to_contain_text("Reason <script>")

        for url in (ticket_url, "/tickets?assignee=me&status=new", ticket_url + "/print"):
            page.goto(url)
            expect(page.locator("body")).to_contain_text("<script>window.__pwned=1")
            assert page.evaluate("window.__pwned") is None, url
        assert dialogs == []

        page.goto(ticket_url)
        results = Axe().run(page)
        blocking = [v for v in results.response["violations"] if v["impact"] in BLOCKING_IMPACTS]
        assert blocking == [], "accessibility violations on the ticket page:\n" + "\n".join(
            _describe(violation) for violation in blocking
        )
        # Not even a request for the injected <img src=x>: it never became an element.
        assert console.errors == [], "console errors:\n" + "\n".join(console.errors)
    finally:
        context.close()


def test_a_visitor_sends_a_complaint_through_the_public_form(
    browser: Browser, base_url: str
) -> None:
    """No sign-in: from the sign-in page's link to the reference on screen, markup as text."""
    from axe_playwright_python.sync_playwright import Axe

    context = browser.new_context(base_url=base_url)
    try:
        page = context.new_page()
        console = ConsoleErrors(page)
        dialogs: list[str] = []
        page.on("dialog", lambda dialog: (dialogs.append(dialog.message), dialog.dismiss()))

        page.goto("/login")
        page.get_by_role("link", name="Send us feedback or a complaint").click()
        expect(page.locator("h1")).to_have_text("Feedback and complaints")
        results = Axe().run(page)
        blocking = [v for v in results.response["violations"] if v["impact"] in BLOCKING_IMPACTS]
        assert blocking == [], "accessibility violations on /feedback:\n" + "\n".join(
            _describe(violation) for violation in blocking
        )
        expect(page.locator("#website")).not_to_be_in_viewport()

        page.get_by_label("A complaint").check()
        page.get_by_label("What is it about?").select_option("credit_card")
        page.get_by_label("What happened?").fill("Fee charged twice\n" + PAYLOAD)
        page.get_by_label("Name", exact=True).fill("Browser Visitor")
        page.get_by_label("Email", exact=True).fill("browser.visitor@mail.example.com")
        page.wait_for_timeout(3200)  # a person's pace: faster is taken for a bot
        page.get_by_role("button", name="Send", exact=True).click()

        expect(page.locator("h1")).to_have_text("Thank you: we have received your message")
        expect(page.locator("main")).to_contain_text(re.compile(r"CMP-\d{4}-\d{6}"))
        expect(page.locator("main")).to_contain_text("b…@mail.example.com")
        assert page.url == f"{base_url}/feedback/thanks"
        assert page.evaluate("window.__pwned") is None and dialogs == []
        assert console.errors == [], "console errors:\n" + "\n".join(console.errors)
    finally:
        context.close()


def test_a_handler_answers_an_emailed_complaint_with_a_reply_template(
    browser: Browser, base_url: str
) -> None:
    """The demo's emailed complaint: the reply template is filled in through htmx, the reply
    is queued in the thread, and the page stays accessible."""
    from axe_playwright_python.sync_playwright import Axe

    context = browser.new_context(base_url=base_url)
    try:
        page = context.new_page()
        console = ConsoleErrors(page)
        _sign_in(page, HANDLER)
        page.goto("/tickets?channel=A03&cause=C99")  # where emailed complaints land
        page.locator("tr", has_text="Card fee charged twice").get_by_role("link").first.click()
        expect(page.locator("#correspondence")).to_contain_text("chen.jing@mail.example.com")
        reference = page.locator("h1").inner_text().split()[0]
        page.get_by_label("Reply to the complainant by email").fill("Thank you for writing.")
        page.get_by_label("Insert a reply template").select_option(
            label="Ask for documents"  # only templates in the complainant's language
        )
        body = page.locator("#reply-body")
        # The template holds no greeting: the email greets the customer itself.
        expect(body).to_have_value(re.compile(r"^Thank you for writing\.\n\nTo look into "))
        expect(body).to_have_value(re.compile(re.escape(reference)))
        page.get_by_role("button", name="Send reply").click()
        expect(page.locator(".flash-success")).to_contain_text("Reply queued")
        expect(page.locator("#responses-heading + ol")).to_contain_text("Thank you for writing.")
        results = Axe().run(page)
        blocking = [v for v in results.response["violations"] if v["impact"] in BLOCKING_IMPACTS]
        assert blocking == [], "accessibility violations on the ticket page:\n" + "\n".join(
            _describe(violation) for violation in blocking
        )
        assert console.errors == [], "console errors:\n" + "\n".join(console.errors)
    finally:
        context.close()


def _complaint_due_on_new_years_eve(database_url: str) -> int:
    """A CN complaint received Dec 16, 2025 at 10:00 in Shanghai, written into the live
    portal's database: 15 days end at 24:00 on Wed Dec 31, 2025, stored as Jan 1, 2026 00:00."""
    from zoneinfo import ZoneInfo

    from portal import create_app
    from portal.core.extensions import db
    from tests.factories import make_actor, make_customer, make_ticket

    app = create_app(config_for(database_url))
    try:
        with app.app_context():
            received = datetime(2025, 12, 16, 10, 0, tzinfo=ZoneInfo("Asia/Shanghai"))
            ticket = make_ticket(make_actor("handler"), make_customer(), received_at=received)
            return ticket.id
    finally:
        with app.app_context():
            db.engine.dispose()


def test_a_handler_reads_the_last_day_of_the_period_in_both_languages(
    browser: Browser, live_portal: LivePortal
) -> None:
    ticket_id = _complaint_due_on_new_years_eve(live_portal.database_url)
    context = browser.new_context(base_url=live_portal.url)
    try:
        page = context.new_page()
        console = ConsoleErrors(page)
        _sign_in(page, HANDLER)
        page.goto(f"/tickets/{ticket_id}")
        deadline = page.locator("#regulatory-deadline")
        expect(deadline).to_have_text("Dec 31, 2025, end of day")

        page.select_option("#language-select", "zh_Hans")
        page.locator("form.language-form button[type=submit]").click()
        expect(page.locator("html")).to_have_attribute("lang", "zh-Hans")
        page.goto(f"/tickets/{ticket_id}")
        expect(deadline).to_have_text("2025年12月31日24时前")

        page.select_option("#language-select", "en")  # the choice is kept on the account
        page.locator("form.language-form button[type=submit]").click()
        expect(page.locator("html")).to_have_attribute("lang", "en")
        assert console.errors == [], "console errors:\n" + "\n".join(console.errors)
    finally:
        context.close()


def test_a_handler_releases_a_complaint_held_as_suspected_spam(
    browser: Browser, base_url: str
) -> None:
    """The demo's complaint that was sent too fast: from the queue's count to the review page,
    refused without a reason, released with one, and found in the queue as a ticket."""
    from axe_playwright_python.sync_playwright import Axe

    context = browser.new_context(base_url=base_url)
    try:
        page = context.new_page()
        console = ConsoleErrors(page)
        _sign_in(page, HANDLER)
        page.goto("/tickets")
        waiting = page.locator("#held-count")
        expect(waiting.locator(".count")).to_have_text("1")
        waiting.get_by_role("link", name="Suspected spam to review").click()
        expect(page.locator("h1")).to_have_text("Suspected spam")
        item = page.locator("article.held-submission", has_text="Card blocked while abroad")
        expect(item).to_contain_text("Sent too fast: 1.4 s after the form was served")
        expect(item).to_contain_text("zhao.lei@mail.example.com")
        results = Axe().run(page)
        blocking = [v for v in results.response["violations"] if v["impact"] in BLOCKING_IMPACTS]
        assert blocking == [], "accessibility violations on the review page:\n" + "\n".join(
            _describe(violation) for violation in blocking
        )

        item.get_by_role("button", name="Release as a ticket").click()  # no reason yet
        expect(page).to_have_url(f"{base_url}/tickets/suspected-spam")
        expect(page.locator(".flash-success")).to_have_count(0)
        item.get_by_label("Reason (required)").fill("A real complaint, pasted in a hurry")
        item.get_by_role("button", name="Release as a ticket").click()
        flash = page.locator(".flash-success")
        expect(flash).to_contain_text(re.compile(r"Released as CMP-\d{4}-\d{6}"))
        reference = re.search(r"CMP-\d{4}-\d{6}", flash.inner_text()).group(0)
        expect(page.locator("article.held-submission")).to_have_count(0)

        page.get_by_role("link", name=re.compile(r"Released as a ticket \(1\)")).click()
        page.get_by_role("link", name=reference).click()
        expect(page.locator("h1")).to_contain_text(reference)
        history = page.locator(".history")
        expect(history).to_contain_text("Released from suspected spam")
        expect(history).to_contain_text("A real complaint, pasted in a hurry")
        page.goto("/tickets?channel=A0304&cause=C99")
        expect(page.locator("#queue-results")).to_contain_text(reference)
        assert console.errors == [], "console errors:\n" + "\n".join(console.errors)
    finally:
        context.close()


def test_a_late_extension_is_refused_in_the_clock_panel(browser: Browser, base_url: str) -> None:
    """A clock change the rules refuse is answered by htmx beside the clock actions, what the
    handler wrote kept and nothing recorded."""
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
            "button", name="Extend the deadline"
        ).click()

        problem = page.locator("#problem-clock-extend")  # beside the action that was refused
        expect(problem).to_contain_text("The deadline ended with Oct 16, 2026")
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


# ---------------------------------------------------------------- the queue and the ticket page

LEAD = next(account for account in DEMO_ACCOUNTS if account.role is Role.LEAD)
# A refused action answers 400 or 409 on purpose; the browser logs the status of each.
REFUSED = re.compile(r"status of 40[09]|Response Status Error Code 40[09]")


def _signed_in(browser: Browser, base_url: str, account: Any, locale: str, **options: Any) -> Any:
    """A context signed in as `account`, its portal language set to `locale`."""
    context = browser.new_context(base_url=base_url, **options)
    page = context.new_page()
    _sign_in(page, account)
    page.select_option("#language-select", locale)
    page.locator("form.language-form button[type=submit]").click()
    expect(page.locator("html")).to_have_attribute("lang", locale.replace("_", "-"))
    return context, page


def _fits_the_width(page: Page) -> None:
    wide = page.evaluate("[document.documentElement.scrollWidth, window.innerWidth]")
    assert wide[0] <= wide[1], f"{page.url} scrolls sideways at {wide[1]} px: {wide[0]} px wide"


def _no_blocking_violations(page: Page, what: str) -> None:
    from axe_playwright_python.sync_playwright import Axe

    results = Axe().run(page)
    blocking = [v for v in results.response["violations"] if v["impact"] in BLOCKING_IMPACTS]
    assert blocking == [], f"accessibility violations on {what}:\n" + "\n".join(
        _describe(violation) for violation in blocking
    )


@pytest.mark.parametrize(
    ("locale", "status_label"), [("en", "Status"), ("zh_Hans", "状态")], ids=["en", "zh"]
)
def test_the_queue_and_the_ticket_page_fit_1366_and_375_pixels(
    browser: Browser, base_url: str, locale: str, status_label: str
) -> None:
    """No sideways scroll on either page; at 1366 px the queue shows the columns a handler
    scans, at 375 px each ticket is a card; axe finds nothing serious at either width."""
    for width in (1366, 375):
        context, page = _signed_in(
            browser, base_url, LEAD, locale, viewport={"width": width, "height": 900}
        )
        try:
            console = ConsoleErrors(page)
            page.goto("/tickets")
            expect(page.locator("#queue-counts .quick-views")).to_be_visible()
            _fits_the_width(page)
            first = page.locator("table.queue tbody tr").first
            if width == 1366:
                for column in ("customer", "subject", "status", "assignee", "left", "severity"):
                    expect(page.locator(f"table.queue th.col-{column}")).to_be_visible()
                subject = first.locator("td.col-subject .truncate")
                assert subject.get_attribute("title") == subject.inner_text()
                expect(page.locator("#more-filters")).not_to_have_attribute("open", "")
            else:
                expect(page.locator("table.queue thead th.col-status")).not_to_be_in_viewport()
                assert first.evaluate("row => getComputedStyle(row).display") == "block"
                label = first.locator("td.col-status").evaluate(
                    "cell => getComputedStyle(cell, '::before').content"
                )
                assert label == f'"{status_label}"'
                box = first.bounding_box()
                assert box is not None and box["x"] >= 0 and box["x"] + box["width"] <= width
            _no_blocking_violations(page, f"the queue at {width} px ({locale})")
            first.locator("td.col-reference a").click()
            expect(page.locator("#ticket-page h1")).to_be_visible()
            _fits_the_width(page)
            _no_blocking_violations(page, f"the ticket page at {width} px ({locale})")
            assert console.errors == [], "console errors:\n" + "\n".join(console.errors)
        finally:
            page.select_option("#language-select", "en")
            page.locator("form.language-form button[type=submit]").click()
            context.close()


def test_more_filters_work_and_stay_open_with_and_without_javascript(
    browser: Browser, base_url: str
) -> None:
    for scripts in (True, False):
        context, page = _signed_in(
            browser,
            base_url,
            HANDLER,
            "en",
            viewport={"width": 1366, "height": 900},
            java_script_enabled=scripts,
        )
        try:
            page.goto("/tickets")
            more = page.locator("#more-filters")
            expect(more).not_to_have_attribute("open", "")
            more.locator("summary").click()  # a native disclosure: no script needed
            expect(more.get_by_label("Severity")).to_be_visible()
            more.get_by_label("Severity").select_option("high")
            if scripts:  # htmx swaps the results in; the disclosure is left as it was
                expect(page).to_have_url(re.compile(r"[?&]severity=high"))
            else:  # a plain GET: the page comes back with the disclosure open
                more.get_by_role("button", name="Apply filters").click()
                expect(page).to_have_url(re.compile(r"severity=high.*more=1|more=1.*severity=high"))
            expect(page.locator("#more-filters")).to_have_attribute("open", "")
            severities = page.locator("table.queue tbody td.col-severity").all_inner_texts()
            assert severities and set(severities) == {"High"}, severities
            page.reload()
            expect(page.locator("#more-filters")).to_have_attribute("open", "")
            expect(page.locator("#more-filters summary")).to_contain_text("(1 set)")
        finally:
            context.close()


def test_errors_show_beside_their_action_and_a_409_keeps_the_typed_text(
    browser: Browser, base_url: str
) -> None:
    """A refused note is shown beside the note form, focused; a lead's status change does not
    stop the handler's note; a resolution sent on the page as it was before the lead's next
    change comes back with the text kept and the lead named."""
    handler_context, page = _signed_in(browser, base_url, HANDLER, "en")
    lead_context, lead = _signed_in(browser, base_url, LEAD, "en")
    try:
        console = ConsoleErrors(page)
        page.goto("/tickets/new")
        page.get_by_label("Subject").fill("Browser test: fee charged twice")
        page.get_by_role("button", name="Register").click()
        expect(page.locator(".flash-success")).to_contain_text("registered")
        ticket_url = page.url

        page.get_by_role("button", name="Add note").click()  # nothing written
        problem = page.locator("#problem-note")
        expect(problem).to_contain_text("Write something first.")
        expect(problem).to_have_attribute("role", "alert")
        expect(problem).to_be_focused()
        note_form = page.locator("form.note-form")
        expect(note_form.locator("#problem-note")).to_have_count(1)  # inside its form
        expect(page.locator("main")).not_to_contain_text("Bad request")

        lead.goto(ticket_url)
        lead.get_by_role("button", name="Acknowledge").click()
        expect(lead.locator(".flash-success")).to_contain_text("is now Acknowledged")
        # The handler's page is stale, but a note changes nothing the lead changed.
        page.get_by_label("Add a note or record a response").fill("Checked the statement.")
        page.get_by_role("button", name="Add note").click()
        expect(page.locator(".flash-success")).to_contain_text("Note added.")

        lead.goto(ticket_url)
        lead.get_by_role("button", name="Start work").click()
        expect(lead.locator(".flash-success")).to_contain_text("is now In progress")
        typed = "Refunded the second annual fee on 2 December."
        page.locator("summary", has_text="Resolve").click()
        page.get_by_label("Resolution").fill(typed)
        page.locator("#resolution-resolved").locator("xpath=ancestor::form").get_by_role(
            "button", name="Resolve"
        ).click()
        conflict = page.locator("#problem-status-resolved")
        expect(conflict).to_contain_text(f"{LEAD.name} changed")
        expect(conflict).to_contain_text("Status changed: Acknowledged → In progress")
        expect(conflict).to_be_focused()
        expect(page.get_by_label("Resolution")).to_have_value(typed)
        assert LEAD.email not in page.locator("main").inner_text()
        # Sent again on the page as it now stands, it goes through.
        page.locator("#resolution-resolved").locator("xpath=ancestor::form").get_by_role(
            "button", name="Resolve"
        ).click()
        expect(page.locator(".flash-success")).to_contain_text("is now Resolved")
        unexpected = [error for error in console.errors if not REFUSED.search(error)]
        assert unexpected == [], "console errors:\n" + "\n".join(unexpected)
    finally:
        handler_context.close()
        lead_context.close()
