"""Every registered endpoint has one access decision, and it holds for every role and anonymous;
the navigation links every top-level page each role may use."""

import re

import pytest
from flask import Flask

from portal.core.access import ALL_ROLES, Role

ANYONE = "anyone"
SIGNED_IN = frozenset(ALL_ROLES)
ADMIN = frozenset({Role.ADMIN})
ADMIN_RM = frozenset({Role.ADMIN, Role.RM})
CONTACTS = frozenset({Role.ADMIN, Role.RM, Role.HANDLER})
ADMIN_LEAD = frozenset({Role.ADMIN, Role.LEAD})
HANDLING = frozenset({Role.ADMIN, Role.HANDLER, Role.LEAD})

# The decision for every endpoint. A new route must be added here, or this suite fails.
EXPECTED: dict[str, object] = {
    "static": ANYONE,
    "core.healthz": ANYONE,
    "core.home": SIGNED_IN,
    "accounts.login": ANYONE,
    "accounts.set_language": ANYONE,
    "accounts.logout": SIGNED_IN,
    "accounts.password": SIGNED_IN,
    "accounts.users": ADMIN,
    "accounts.user_new": ADMIN,
    "accounts.user_detail": ADMIN,
    "accounts.user_role": ADMIN,
    "accounts.user_active": ADMIN,
    "accounts.audit": ADMIN,
    "customers.index": SIGNED_IN,
    "customers.new": ADMIN_RM,
    "customers.show": SIGNED_IN,
    "customers.timeline": SIGNED_IN,
    "customers.edit": ADMIN_RM,
    "customers.log_contact": CONTACTS,
    "customers.edit_contact": CONTACTS,
    "customers.reveal": ADMIN_RM,
    "customers.my_day": CONTACTS,
    "customers.follow_up_done": CONTACTS,
    "customers.follow_up_reschedule": CONTACTS,
    "customers.reassign": ADMIN_LEAD,
    "customers.export": ADMIN,
    "customers.erase": ADMIN,
    "customers.import_page": ADMIN,
    "customers.import_result": ADMIN,
    "customers.import_errors": ADMIN,
    "tickets.index": SIGNED_IN,
    "tickets.counts": SIGNED_IN,
    "tickets.save_view": SIGNED_IN,
    "tickets.delete_view": SIGNED_IN,
    "tickets.bulk_assign": HANDLING,
    "tickets.new": SIGNED_IN,
    "tickets.show": SIGNED_IN,
    "tickets.change_status": HANDLING,
    "tickets.clock": HANDLING,
    "tickets.assign": HANDLING,
    "tickets.add_note": SIGNED_IN,
    "tickets.merge": HANDLING,
    "tickets.edit": HANDLING,
    "tickets.history_csv": HANDLING,
    "tickets.print_view": HANDLING,
    "tickets.notifications_page": SIGNED_IN,
    "tickets.bell": SIGNED_IN,
    "tickets.mark_read": SIGNED_IN,
    "tickets.taxonomy_page": ADMIN,
    "tickets.teams_page": ADMIN,
    "public.feedback": ANYONE,
    "public.thanks": ANYONE,
    "surveys.answer": ANYONE,
    "surveys.preview_page": ADMIN_LEAD,
    "correspondence.send_notice": HANDLING,
    "correspondence.record_notice": HANDLING,
    "correspondence.reply": HANDLING,
    "correspondence.reply_text": HANDLING,
    "correspondence.link": HANDLING,
    "correspondence.original_email": HANDLING,
    "correspondence.inbound_list": ADMIN,
    "correspondence.inbound_show": ADMIN,
    "correspondence.inbound_raw": ADMIN,
    "correspondence.inbound_process": ADMIN,
    "correspondence.inbound_dismiss": ADMIN,
    "correspondence.reply_templates": ADMIN_LEAD,
    "suspected_spam.index": HANDLING,
    "suspected_spam.release": HANDLING,
    "suspected_spam.discard": HANDLING,
    "care.rules": ADMIN,
    "care.save_rule": ADMIN,
    "care.campaigns": ADMIN,
    "care.campaign": ADMIN,
    "care.campaign_preview": ADMIN,
    "care.campaign_send": ADMIN,
    "surveys.programmes": ADMIN_LEAD,
    "surveys.programme_new": ADMIN_LEAD,
    "surveys.programme_edit": ADMIN_LEAD,
    "surveys.programme_toggle": ADMIN_LEAD,
    "surveys.preview_email": ADMIN_LEAD,
    "surveys.invitations": ADMIN_LEAD,
    "messaging.outbox": ADMIN,
    "messaging.message": ADMIN,
    "messaging.message_html": ADMIN,
    "messaging.retry": ADMIN,
    "messaging.suppressions": ADMIN,
    "messaging.remove_suppression": ADMIN,
    "messaging.templates": ADMIN,
    "messaging.template_edit": ADMIN,
    "messaging.template_preview": ADMIN,
    "messaging.template_reset": ADMIN,
    "messaging.unsubscribe": ANYONE,
    "surveys.results": HANDLING,
    "surveys.comments": HANDLING,
    "surveys.phrases": HANDLING,
    "surveys.drivers": ADMIN_LEAD,
    "surveys.export": ADMIN_LEAD,
}

PRINCIPALS = [None, *sorted(ALL_ROLES)]


def _sample_url(rule) -> str:
    url = rule.rule
    for converter, name in re.findall(r"<(?:(\w+):)?(\w+)>", url):
        value = "999999" if converter == "int" else "css/portal.css" if name == "filename" else "x"
        url = re.sub(rf"<(?:\w+:)?{name}>", value, url)
    return url


def test_every_endpoint_has_an_expected_decision(app: Flask) -> None:
    endpoints = {rule.endpoint for rule in app.url_map.iter_rules()}
    assert endpoints - set(EXPECTED) == set(), "new endpoints need an entry in EXPECTED"
    assert set(EXPECTED) - endpoints == set(), "EXPECTED names endpoints that no longer exist"


@pytest.mark.parametrize("principal", PRINCIPALS, ids=lambda p: p or "anonymous")
def test_each_endpoint_allows_and_denies_as_expected(app, client, login_as, principal) -> None:
    user = login_as(principal) if principal else None
    for rule in app.url_map.iter_rules():
        expected = EXPECTED[rule.endpoint]
        allowed = expected == ANYONE or (user is not None and Role(user.role) in expected)
        url = _sample_url(rule)
        for method in sorted(rule.methods - {"HEAD", "OPTIONS"}):
            if method == "GET":
                response = client.get(url)
            else:
                response = client.open(url, method=method, data={"csrf_token": client.csrf_token()})
            where = f"{method} {url} as {principal or 'anonymous'} -> {response.status_code}"
            assert response.status_code < 500, where
            if allowed:
                assert response.status_code != 403, where
                if expected != ANYONE:
                    assert response.status_code != 401, where
                    assert "/login?next" not in response.headers.get("Location", ""), where
            elif user is None:
                assert response.status_code in (401, 303), where
                if response.status_code == 303:
                    assert "/login?next" in response.headers["Location"], where
            else:
                assert response.status_code == 403, where
            if principal:  # a sign-out or role change must not leak into the next request
                login_as(user=user)


# Pages a role may open that the navigation does not link, each with the reason. Every other
# page without parameters in its address that a role may open is in that role's navigation.
NOT_IN_NAVIGATION = {
    "static": "files, not a page",
    "core.healthz": "the load balancer's probe (JSON)",
    "tickets.counts": "a fragment the queue loads after the page",
    "tickets.bell": "a fragment the navigation loads (the bell links the notifications page)",
    "customers.new": "a form opened from Customers",
    "tickets.new": "a form opened from Tickets and from a customer's page",
    "accounts.user_new": "a form opened from Users",
    "surveys.programme_new": "a form opened from Surveys",
}


def top_level_pages(app: Flask, role: Role) -> set[str]:
    """The GET endpoints without parameters in their address that `role` may open, the public
    pages (sign-in, the feedback form, unsubscribe) and NOT_IN_NAVIGATION left out."""
    pages = set()
    for rule in app.url_map.iter_rules():
        expected = EXPECTED[rule.endpoint]
        if rule.arguments or "GET" not in rule.methods or expected == ANYONE:
            continue
        if role in expected and rule.endpoint not in NOT_IN_NAVIGATION:  # type: ignore[operator]
            pages.add(rule.endpoint)
    return pages


def navigation_links(app: Flask, html: str) -> set[str]:
    """The endpoints the page's main navigation links to."""
    nav = html[html.index('<nav aria-label="Main">') : html.index("</nav>")]
    adapter = app.url_map.bind("localhost")
    return {
        adapter.match(href.split("?")[0], method="GET")[0]
        for href in re.findall(r'href="([^"#]+)"', nav)
    }


@pytest.mark.parametrize("role", sorted(ALL_ROLES))
def test_the_navigation_links_every_top_level_page_a_role_may_use(
    app, client, login_as, role
) -> None:
    login_as(role)
    for page in ("/", "/customers"):
        response = client.get(page)
        assert response.status_code == 200, page
        linked = navigation_links(app, response.text)
        missing = top_level_pages(app, Role(role)) - linked
        assert missing == set(), f"{role}'s navigation on {page} lacks {sorted(missing)}"
        refused = {e for e in linked if Role(role) not in EXPECTED[e]}  # type: ignore[operator]
        assert refused == set(), f"{role}'s navigation links pages refused to it: {refused}"


def test_a_lead_finds_the_reply_templates_and_an_rm_no_admin_menu(client, login_as) -> None:
    login_as("lead")
    page = client.get("/customers").text
    assert 'href="/admin/reply-templates"' in page and "My day" not in page
    login_as("rm")
    page = client.get("/customers").text
    assert 'href="/my-day"' in page
    assert "/admin/" not in page and ">Admin<" not in page
