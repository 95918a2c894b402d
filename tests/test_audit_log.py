"""The audit log page: filters by actor, subject and dates, subjects that link to what they
name, and changes an admin can read (labels, formatted values, long JSON folded)."""

import re
from datetime import UTC, datetime

import pytest

from portal.core.audit import Actor, record_event
from portal.core.extensions import db
from tests.factories import actor_for, make_customer, make_interaction, make_message, make_user


def rows(page: str) -> list[str]:
    body = page[page.index("<tbody>") : page.index("</tbody>")]
    return [row for row in body.split("<tr>")[1:]]


def actions(page: str) -> list[str]:
    return re.findall(r"<code>([^<]+)</code>", page[page.index("<tbody>") :])


def event(action: str, subject_type: str, subject_id: object, **kwargs: object) -> None:
    actor = kwargs.pop("actor", Actor.system("test"))
    record_event(actor, action, subject_type, subject_id, **kwargs)  # type: ignore[arg-type]
    db.session.commit()


def test_the_log_is_filtered_by_actor_subject_and_dates(client, login_as) -> None:
    login_as("admin")
    alice, bob = make_user(email="alice@bank.example.com"), make_user(email="bob@bank.example.com")
    event(
        "test.alice", "customer", 1, actor=actor_for(alice), at=datetime(2026, 3, 1, 2, tzinfo=UTC)
    )
    event("test.bob", "customer", 2, actor=actor_for(bob), at=datetime(2026, 3, 2, 2, tzinfo=UTC))
    event(
        "test.job", "ticket", 1, actor=Actor.system("job:x"), at=datetime(2026, 3, 3, 2, tzinfo=UTC)
    )

    def shown(query: str) -> set[str]:
        response = client.get(f"/admin/audit?action=test.&{query}")
        assert response.status_code == 200, query
        return set(actions(response.text))

    assert shown("actor=Alice@Bank.example.com") == {"test.alice"}
    assert shown("actor=job:x") == {"test.job"}
    assert shown("actor=nobody@bank.example.com") == set()
    assert shown("subject_type=customer") == {"test.alice", "test.bob"}
    assert shown("subject_type=customer&subject_id=2") == {"test.bob"}
    assert shown("subject_type=ticket&subject_id=1") == {"test.job"}
    # Days are the viewer's (Asia/Shanghai): 2 a.m. UTC is 10 a.m. there, the same day.
    assert shown("date_from=2026-03-02") == {"test.bob", "test.job"}
    assert shown("date_to=2026-03-02") == {"test.alice", "test.bob"}
    assert shown("date_from=2026-03-02&date_to=2026-03-02") == {"test.bob"}
    # The htmx answer is the rows alone, with the same filters.
    partial = client.get(
        "/admin/audit?action=test.&actor=bob@bank.example.com", headers={"HX-Request": "true"}
    )
    assert "<html" not in partial.text and set(actions(partial.text)) == {"test.bob"}


@pytest.mark.parametrize(
    ("query", "message"),
    [
        ("date_from=2026-02-30", "Enter dates as YYYY-MM-DD."),
        ("date_to=yesterday", "Enter dates as YYYY-MM-DD."),
        ("date_from=2026-03-02&date_to=2026-03-01", "The end date is before the start date."),
        ("subject_id=12", "Choose the kind of subject for its id."),
    ],
)
def test_bad_filters_are_explained_not_a_500(client, login_as, query, message) -> None:
    login_as("admin")
    event("test.kept", "customer", 1)
    response = client.get(f"/admin/audit?{query}")
    assert response.status_code == 400
    assert message in response.text and "No events." in response.text
    assert 'name="date_from"' in response.text  # the form is there to correct it


def test_older_events_keep_the_filters(client, login_as) -> None:
    login_as("admin")
    for number in range(55):
        event("test.tick", "customer", 7 if number % 2 else 8)
    first = client.get("/admin/audit?action=test.&subject_type=customer&subject_id=7")
    assert len(rows(first.text)) == 27
    link = re.search(r'rel="next" href="([^"]+)"', first.text)
    assert link is None  # 27 events: one page
    for _ in range(60):
        event("test.tock", "customer", 7)
    first = client.get("/admin/audit?action=test.tock&subject_type=customer&subject_id=7")
    href = re.search(r'rel="next" href="([^"]+)"', first.text).group(1).replace("&amp;", "&")
    assert "subject_type=customer" in href and "subject_id=7" in href and "before=" in href
    assert len(rows(client.get(href).text)) == 10


def test_each_subject_links_to_what_it_names(client, login_as) -> None:
    admin = login_as("admin")
    customer = make_customer(number="C77")
    contact = make_interaction(customer)
    message = make_message(customer)
    from tests.factories import make_ticket

    ticket = make_ticket()
    for subject_type, subject_id in [
        ("customer", customer.id),
        ("interaction", contact.id),
        ("user", admin.id),
        ("message", message.id),
        ("message_template", "birthday/en"),
        ("ticket", ticket.id),
        ("care_rule", "birthday"),
        ("mystery", "42"),
        ("customer", 999999),
    ]:
        event("test.linked", subject_type, subject_id)
    page = client.get("/admin/audit?action=test.linked").text
    assert f'Customer <a href="/customers/{customer.id}">C77</a>' in page
    assert f'Contact <a href="/customers/{customer.id}">#{contact.id}</a>' in page
    assert f'User <a href="/admin/users/{admin.id}">#{admin.id}</a>' in page
    assert f'Message <a href="/admin/outbox/{message.id}">#{message.id}</a>' in page
    assert 'Email template <a href="/admin/templates/birthday/en">#birthday/en</a>' in page
    assert f'Ticket <a href="/tickets/{ticket.id}">#{ticket.id}</a>' in page
    assert 'Care rule <a href="/admin/care">#birthday</a>' in page
    assert "mystery #42" in page  # a kind no room registered: named, not linked
    assert "Customer #999999" in page  # gone, or never was: not linked


def test_changes_read_as_labelled_formatted_values(client, login_as) -> None:
    login_as("admin")
    old, new = make_user(role="rm", name="Old RM"), make_user(role="rm", name="New RM")
    event(
        "test.changed",
        "customer",
        1,
        before={
            "owner_id": old.id,
            "consent_care": True,
            "birthday": "1990-02-01",
            "segment": "mass",
            "notes": None,
        },
        after={
            "owner_id": new.id,
            "consent_care": False,
            "birthday": "1991-03-05",
            "segment": "affluent",
            "notes": "x" * 300,
        },
    )
    event(
        "test.changed",
        "campaign",
        5,
        after={
            "audience": {"segment": "mass", "flags": ["hardship"]},
            "queued_at": "2026-03-05T01:30:00+00:00",
        },
    )
    event("test.changed", "user", 9, before={"role": "rm"}, after={"role": "lead"})
    page = client.get("/admin/audit?action=test.changed").text
    assert f"<dt>Relationship manager</dt><dd>Old RM (#{old.id}) → New RM (#{new.id})</dd>" in page
    assert "<dt>Consent to care messages</dt><dd>yes → no</dd>" in page
    assert "<dt>Birthday</dt><dd>Feb 1, 1990 → Mar 5, 1991</dd>" in page
    assert "<dt>Segment</dt><dd>mass → affluent</dd>" in page
    assert "<dt>Notes</dt><dd>— → <details><summary>" + "x" * 60 + "…</summary>" in page
    assert "<dt>Audience</dt><dd>— → <details>" in page
    assert "&#34;hardship&#34;" in page or "&quot;hardship&quot;" in page
    assert "<dt>Queued</dt><dd>— → Mar 5, 2026 9:30\u202fAM</dd>" in page  # Asia/Shanghai
    assert "<dt>Role</dt><dd>Relationship manager → Quality / improvement lead</dd>" in page


def test_the_log_speaks_chinese(client, login_as) -> None:
    login_as("admin")
    client.submit("/language", {"locale": "zh_Hans", "next": "/"})
    event("test.zh", "customer", 1, before={"consent_care": True}, after={"consent_care": False})
    page = client.get("/admin/audit?action=test.zh").text
    assert "<dt>同意接收关怀消息</dt><dd>是 → 否</dd>" in page
    assert "对象编号" in page
