"""Customers as RMs and other roles meet them: search, the 360 page, contacts, follow-ups, PII."""

import html
import re
from datetime import UTC, date, datetime, timedelta

import pytest
from sqlalchemy import func, select, update

from portal.core.audit import Actor, AuditEvent
from portal.core.errors import Conflict, PermissionDenied, ValidationFailed
from portal.core.extensions import db
from portal.core.timeutil import utc_now
from portal.customers import contacts, search, services
from portal.customers.models import Customer, FollowUp, Interaction
from tests.factories import actor_for, make_customer, make_interaction, make_user


def contact_form(**changes: str) -> dict[str, str]:
    """A valid contact as the 360 page's form sends it, with some fields changed."""
    return {
        "channel": "call",
        "direction": "outbound",
        "outcome": "reached",
        "occurred_at": "2026-11-01T10:00",
        "summary": "ok",
        **changes,
    }


def edit_form(customer: Customer, **changes: str) -> dict[str, str]:
    """The customer edit form as sent unchanged, with some fields changed."""
    return {
        "number": customer.number,
        "name": customer.name,
        "timezone": "Asia/Shanghai",
        "locale": "zh_Hans",
        "segment": "mass",
        "version": str(customer.version),
        "owner_id": "",
        **changes,
    }


def events(action: str) -> list[AuditEvent]:
    return list(db.session.scalars(select(AuditEvent).where(AuditEvent.action == action)))


def test_search_finds_partial_chinese_and_english_names_numbers_emails_phones(
    client, login_as
) -> None:
    login_as("admin")
    wang = make_customer(
        name="王小明", number="C10000001", email="wxm@mail.example.com", phone="13812345678"
    )
    smith = make_customer(name="Olivia Smith", number="C10000002", phone="+447700900123")
    for query, expected in [
        ("小明", wang),
        ("王", wang),
        ("c1000000", None),
        ("wxm@", wang),
        ("5678", wang),
        ("138123", wang),
        ("smi", smith),
        ("olivia sm", smith),
        ("OLIVIA", smith),
        ("0123", smith),
        ("ＷＸＭ", wang),
    ]:
        text = client.get("/customers", query_string={"q": query}).text
        if expected is None:
            assert wang.number in text and smith.number in text, query
        else:
            assert expected.number in text, query
            other = smith if expected is wang else wang
            assert other.number not in text, query


def test_search_with_nothing_found_says_so(client, login_as) -> None:
    login_as("admin")
    make_customer(name="李四")
    response = client.get("/customers?q=zzzz")
    assert response.status_code == 200 and "No customers match." in response.text


def test_search_takes_wildcards_literally_and_pages_broad_and_narrow_prefixes(
    client, login_as, monkeypatch
) -> None:
    """% _ * ? [ in a query are characters to find, not patterns; a prefix matching more rows
    than the planner's cut-off (read by walking ids, on SQLite) pages like a narrow one; and the
    filters still apply with a query."""
    admin = login_as("admin")
    actor = actor_for(admin)
    odd = make_customer(name="Percy Under", email="a_b%c*d?[x]@mail.example.com")
    plain = make_customer(name="Plain Abc", email="axbyc@mail.example.com")
    quoted = make_customer(name="Quoted", email="o'b\\r'ien@mail.example.com")
    for query, expected in [
        ("a_b%", odd),
        ("a_b%c*d?[x]", odd),
        ("a_b%c*d?[x]@", odd),
        ("o'b\\r'", quoted),
    ]:
        found = search.search_customers(actor, search.CustomerFilters(query=query)).rows
        assert [c.id for c in found] == [expected.id], query
    assert search.search_customers(actor, search.CustomerFilters(query="a?b")).rows == []
    assert plain.number in client.get("/customers", query_string={"q": "axb"}).text

    batch = [make_customer(name=f"Batch {n}", number=f"Q7{n:06d}") for n in range(7)]
    batch[3].segment = "private"
    batch[4].vulnerable = True
    db.session.commit()
    for cut_off in (1000, 3):  # few matches: read from the index; many: walk ids
        monkeypatch.setattr(search, "BROAD_PREFIX", cut_off)
        seen: list[int] = []
        after = ""
        while True:
            page = search.search_customers(
                actor, search.CustomerFilters(query="q7", after=after), limit=3
            )
            seen += [c.id for c in page.rows]
            if not page.next_key:
                break
            after = page.next_key
        assert seen == [c.id for c in batch], cut_off
        for filters, expected in [
            ({"segment": "private"}, [batch[3]]),
            ({"flag": "vulnerable"}, [batch[4]]),
            ({"owner_id": admin.id}, []),
        ]:
            page = search.search_customers(actor, search.CustomerFilters(query="q70000", **filters))
            assert page.rows == expected, (cut_off, filters)


def test_rm_sees_only_their_own_book(client, login_as) -> None:
    rm = login_as("rm")
    mine = make_customer(name="我的客户", owner_id=rm.id)
    other_rm = make_user(role="rm")
    theirs = make_customer(name="别人的客户", owner_id=other_rm.id)
    listing = client.get("/customers").text
    assert mine.number in listing and theirs.number not in listing
    assert theirs.number not in client.get("/customers?q=客户").text
    assert client.get(f"/customers/{mine.id}").status_code == 200
    assert client.get(f"/customers/{theirs.id}").status_code == 403
    assert client.get(f"/customers/{theirs.id}/timeline").status_code == 403
    assert client.get(f"/customers/{theirs.id}/edit").status_code == 403
    refused = client.submit(
        f"/customers/{theirs.id}/contacts",
        contact_form(outcome="reached", occurred_at="2026-11-01T10:00", summary="sneaky"),
    )
    assert refused.status_code == 403
    assert db.session.scalar(select(func.count()).select_from(Interaction)) == 0
    other_contact = make_interaction(theirs)
    assert client.get(f"/contacts/{other_contact.id}/edit").status_code == 403
    assert client.submit(f"/customers/{theirs.id}/reveal").status_code == 403


def test_handler_and_lead_see_every_customer_but_only_handler_logs_contacts(
    client, login_as
) -> None:
    rm = make_user(role="rm")
    customer = make_customer(owner_id=rm.id)
    login_as("lead")
    assert client.get(f"/customers/{customer.id}").status_code == 200
    assert client.submit(f"/customers/{customer.id}/contacts", {}).status_code == 403
    login_as("handler")
    page = client.get(f"/customers/{customer.id}")
    assert page.status_code == 200 and "Log a contact" in page.text
    assert "Reveal" not in page.text


def test_phone_and_id_are_masked_until_revealed_and_revealing_is_audited(client, login_as):
    rm = login_as("rm")
    customer = make_customer(owner_id=rm.id, phone="13812345678", id_number="110101199001011234")
    page = client.get(f"/customers/{customer.id}").text
    assert "138****5678" in page and "13812345678" not in page
    assert "11**************34" in page and "110101199001011234" not in page
    revealed = client.submit(f"/customers/{customer.id}/reveal", htmx=True)
    assert "13812345678" in revealed.text and "110101199001011234" in revealed.text
    [event] = events("customer.pii_revealed")
    assert event.actor_id == rm.id and event.subject_id == str(customer.id)
    listing = client.get("/customers").text
    assert "13812345678" not in listing


def test_logging_a_contact_with_a_follow_up_shows_on_the_timeline_and_my_day(client, login_as):
    rm = login_as("rm")
    customer = make_customer(owner_id=rm.id)
    response = client.submit(
        f"/customers/{customer.id}/contacts",
        {
            "channel": "visit",
            "direction": "outbound",
            "outcome": "follow_up",
            "occurred_at": "2026-11-20T15:30",
            "summary": "讨论了提前还款。",
            "follow_up_on": utc_now().date().isoformat(),
            "follow_up_note": "发送还款计划",
        },
    )
    assert response.status_code == 303
    page = client.get(f"/customers/{customer.id}").text
    assert "讨论了提前还款。" in page and "Follow-up" in page
    db.session.expire_all()
    stored = db.session.scalar(select(Customer).where(Customer.id == customer.id))
    # 15:30 in Asia/Shanghai (the default zone) is 07:30 UTC
    assert stored.last_contact_at == datetime(2026, 11, 20, 7, 30, tzinfo=UTC)
    day = client.get("/my-day").text
    assert "发送还款计划" in day and customer.name in day


@pytest.mark.parametrize(
    ("form", "message"),
    [
        ({"summary": ""}, "Write what was said."),
        ({"channel": "pigeon"}, "Not a valid choice"),
        ({"occurred_at": "yesterday"}, "Not a valid datetime value."),
        ({"occurred_at": "2099-01-01T10:00"}, "A contact cannot be logged in the future."),
        ({"summary": "x" * 4001}, "At most 4000 characters."),
    ],
)
def test_bad_contact_input_is_explained_and_nothing_is_saved(client, login_as, form, message):
    rm = login_as("rm")
    customer = make_customer(owner_id=rm.id)
    data = contact_form(outcome="reached", occurred_at="2026-11-01T10:00", summary="ok")
    data.update(form)
    response = client.submit(f"/customers/{customer.id}/contacts", data)
    assert response.status_code == 400
    assert message in response.text
    assert db.session.scalar(select(func.count()).select_from(Interaction)) == 0


def test_correcting_a_contact_keeps_the_original_in_the_audit_trail(client, login_as) -> None:
    rm = login_as("rm")
    customer = make_customer(owner_id=rm.id)
    interaction = make_interaction(customer, summary="Original words")
    response = client.submit(
        f"/contacts/{interaction.id}/edit",
        contact_form(outcome="resolved", occurred_at="2026-11-01T17:00", summary="Corrected words"),
    )
    assert response.status_code == 303
    [event] = events("interaction.edited")
    assert event.before["summary"] == "Original words"
    assert event.after["summary"] == "Corrected words"
    assert "edited" in client.get(f"/customers/{customer.id}").text


def test_timeline_pages_through_a_long_history_newest_first(client, login_as) -> None:
    rm = login_as("rm")
    customer = make_customer(owner_id=rm.id)
    start = datetime(2026, 1, 1, tzinfo=UTC)
    db.session.add_all(
        [
            Interaction(
                customer_id=customer.id,
                author_id=rm.id,
                channel="call",
                direction="outbound",
                occurred_at=start + timedelta(hours=n),
                summary=f"entry-{n:03d};",
                outcome="reached",
            )
            for n in range(45)
        ]
    )
    db.session.commit()
    seen: list[str] = []
    page = client.get(f"/customers/{customer.id}").text
    for _ in range(10):
        seen += [part.split(";")[0] for part in page.split("entry-")[1:]]
        if "Older entries" not in page:
            break
        more = re.search(r'hx-get="([^"]+)"', page.split('id="timeline-more"')[1]).group(1)
        page = client.get(html.unescape(more), headers={"HX-Request": "true"}).text
    assert seen == [f"{n:03d}" for n in range(44, -1, -1)]


def test_follow_ups_are_done_and_rescheduled_inline(client, login_as) -> None:
    rm = login_as("rm")
    customer = make_customer(owner_id=rm.id)
    today = utc_now().date()
    overdue = FollowUp(
        customer_id=customer.id, owner_id=rm.id, due_on=today - timedelta(days=3), note="call back"
    )
    later = FollowUp(customer_id=customer.id, owner_id=rm.id, due_on=today, note="send form")
    db.session.add_all([overdue, later])
    db.session.commit()
    day = client.get("/my-day").text
    assert "call back" in day and "overdue" in day
    done = client.submit(f"/follow-ups/{overdue.id}/done", htmx=True)
    assert done.status_code == 200 and "<tr" in done.text and "<html" not in done.text
    moved = client.submit(
        f"/follow-ups/{later.id}/reschedule",
        {"due_on": (today + timedelta(days=7)).isoformat()},
        htmx=True,
    )
    assert moved.status_code == 200
    past = client.submit(
        f"/follow-ups/{later.id}/reschedule",
        {"due_on": (today - timedelta(days=7)).isoformat()},
        htmx=True,
    )
    assert past.status_code == 400 and "Choose today or a later day." in past.text
    db.session.expire_all()
    assert db.session.get(FollowUp, overdue.id).status == "done"
    assert db.session.get(FollowUp, later.id).due_on == today + timedelta(days=7)
    assert "call back" not in client.get("/my-day").text


def test_customers_quiet_for_too_long_are_listed(client, login_as) -> None:
    rm = login_as("rm")
    quiet = make_customer(
        owner_id=rm.id, name="久未联系", last_contact_at=utc_now() - timedelta(days=90)
    )
    recent = make_customer(owner_id=rm.id, name="最近联系", last_contact_at=utc_now())
    page = client.get("/my-day?quiet=30").text
    assert quiet.name in page and recent.name not in page


def test_lead_reassigns_in_bulk_with_audit_events(client, login_as) -> None:
    login_as("lead")
    old, new = make_user(role="rm"), make_user(role="rm")
    customers = [make_customer(owner_id=old.id) for _ in range(3)]
    response = client.submit(
        "/customers/reassign",
        {
            "owner_id": str(new.id),
            "reason": "RM left",
            "customer_ids": [str(c.id) for c in customers],
        },
    )
    assert response.status_code == 303
    db.session.expire_all()
    assert {db.session.get(Customer, c.id).owner_id for c in customers} == {new.id}
    moved = events("customer.reassigned")
    assert len(moved) == 3 and all(e.reason == "RM left" for e in moved)
    to_handler = client.submit(
        "/customers/reassign",
        {"owner_id": str(make_user(role="handler").id), "customer_ids": [str(customers[0].id)]},
        follow_redirects=True,
    )
    assert "Choose an active relationship manager." in to_handler.text


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"email": "not-an-email"}, "Enter a valid email address."),
        ({"birthday": "1990-02-30"}, "a real date"),
        ({"birthday": "2999-01-01"}, "cannot be in the future"),
        ({"timezone": "Mars/Base"}, "Unknown time zone"),
        ({"number": "C-DUP"}, "already in use"),
        ({"phone": "12ab"}, "5 to 15 digits"),
    ],
)
def test_bad_customer_input_is_explained(client, login_as, change, message) -> None:
    login_as("admin")
    make_customer(number="C-DUP")
    data = {
        "number": "C-NEW",
        "name": "新客户",
        "timezone": "Asia/Shanghai",
        "locale": "zh_Hans",
        "segment": "mass",
        "owner_id": "",
    }
    data.update(change)
    response = client.submit("/customers/new", data)
    assert response.status_code == 400
    assert message in response.text
    assert db.session.scalar(select(Customer).where(Customer.number == "C-NEW")) is None


def test_rm_creates_and_edits_a_customer_and_a_stale_edit_is_refused(client, login_as) -> None:
    rm = login_as("rm")
    response = client.submit(
        "/customers/new",
        {
            "number": "c-777",
            "name": "赵六",
            "email": "ZL@mail.example.com",
            "phone": "139 0000 1111",
            "birthday": "1988-02-29",
            "timezone": "Asia/Shanghai",
            "locale": "zh_Hans",
            "segment": "affluent",
            "consent_care": "y",
            "owner_id": "",
        },
    )
    assert response.status_code == 303
    customer = db.session.scalar(select(Customer).where(Customer.number == "C-777"))
    assert customer.owner_id == rm.id and customer.phone == "13900001111"
    assert customer.email == "zl@mail.example.com" and customer.birthday == date(1988, 2, 29)
    assert "赵六" in client.get("/customers?q=赵").text
    edit = {
        "number": "C-777",
        "name": "赵六六",
        "timezone": "Asia/Shanghai",
        "locale": "zh_Hans",
        "segment": "affluent",
        "version": str(customer.version),
        "owner_id": "",
    }
    assert client.submit(f"/customers/{customer.id}/edit", edit).status_code == 303
    stale = client.submit(f"/customers/{customer.id}/edit", {**edit, "name": "旧版本"})
    assert stale.status_code == 409 and "Someone else changed this customer" in stale.text
    [updated] = events("customer.updated")
    assert updated.before["name"] == "赵六" and updated.after["name"] == "赵六六"
    assert updated.after["phone"] == "139****1111"


def test_admin_exports_and_erases_a_customer(client, login_as) -> None:
    admin = login_as("admin")
    customer = make_customer(name="被遗忘者", email="forget@mail.example.com")
    make_interaction(customer, summary="personal story")
    exported = client.get(f"/customers/{customer.id}/export.json")
    assert exported.status_code == 200
    assert exported.json["customer"]["email"] == "forget@mail.example.com"
    assert exported.json["contacts"][0]["summary"] == "personal story"
    wrong = client.submit(
        f"/customers/{customer.id}/erase", {"reason": "GDPR art. 17", "confirm_number": "nope"}
    )
    assert wrong.status_code == 400 and "does not match" in wrong.text
    done = client.submit(
        f"/customers/{customer.id}/erase",
        {"reason": "Customer request", "confirm_number": customer.number},
    )
    assert done.status_code == 303
    db.session.expire_all()
    erased = db.session.get(Customer, customer.id)
    assert erased.email is None and erased.phone is None and erased.name == "—"
    assert erased.erased_at is not None
    assert db.session.scalar(select(Interaction.summary)) == "[erased]"
    assert db.session.scalar(select(func.count()).select_from(Interaction)) == 1
    [event] = events("customer.erased")
    assert event.reason == "Customer request" and event.actor_id == admin.id
    assert "被遗忘者" not in client.get("/customers?q=被遗忘").text


def test_services_refuse_an_rm_acting_on_another_rms_customer(db) -> None:
    rm, other = make_user(role="rm"), make_user(role="rm")
    customer = make_customer(owner_id=other.id)
    actor = actor_for(rm)
    with pytest.raises(PermissionDenied):
        contacts.log_contact(
            actor, customer.id, contacts.ContactInput("call", "outbound", utc_now(), "x", "reached")
        )


def test_admin_filters_by_relationship_manager(client, login_as) -> None:
    login_as("admin")
    first, second = make_user(role="rm", name="<i>Ann</i>"), make_user(role="rm", name="Bob")
    mine = make_customer(owner_id=first.id)
    theirs = make_customer(owner_id=second.id)
    page = client.get(f"/customers?owner={first.id}").text
    assert mine.number in page and theirs.number not in page
    assert f'<option value="{first.id}" selected>&lt;i&gt;Ann&lt;/i&gt;</option>' in page
    assert "<i>Ann</i>" not in page


def test_changing_the_owner_by_edit_moves_open_follow_ups_to_the_new_rm(client, login_as):
    login_as("admin")
    old, new = make_user(role="rm"), make_user(role="rm")
    customer = make_customer(owner_id=old.id)
    follow_up = FollowUp(
        customer_id=customer.id, owner_id=old.id, due_on=utc_now().date(), note="secret note"
    )
    db.session.add(follow_up)
    db.session.commit()
    edit = edit_form(customer, owner_id=str(new.id))
    assert client.submit(f"/customers/{customer.id}/edit", edit).status_code == 303
    db.session.expire_all()
    assert db.session.get(FollowUp, follow_up.id).owner_id == new.id
    login_as(user=old)
    assert "secret note" not in client.get("/my-day").text
    login_as(user=new)
    assert "secret note" in client.get("/my-day").text


def test_an_invalid_owner_on_edit_is_refused_not_unassigned(client, login_as) -> None:
    login_as("admin")
    rm = make_user(role="rm")
    customer = make_customer(owner_id=rm.id)
    edit = edit_form(customer, owner_id="99999999999999999999")
    response = client.submit(f"/customers/{customer.id}/edit", edit)
    assert response.status_code == 400
    assert "Choose an active relationship manager." in response.text
    db.session.expire_all()
    assert db.session.get(Customer, customer.id).owner_id == rm.id


def test_staff_who_see_phones_masked_cannot_uncover_them_by_search(client, login_as) -> None:
    rm = make_user(role="rm")
    customer = make_customer(owner_id=rm.id, phone="13800001234")
    login_as("lead")
    assert customer.number not in client.get("/customers?q=1380000").text
    assert customer.number in client.get("/customers?q=1234").text
    assert customer.number in client.get("/customers?q=13800001234").text
    login_as(user=rm)
    assert customer.number in client.get("/customers?q=1380000").text


def test_erasure_scrubs_the_history_and_nothing_new_can_be_added(client, login_as) -> None:
    admin = login_as("admin")
    rm = make_user(role="rm")
    actor = actor_for(admin)
    customer = services.create_customer(
        actor,
        services.CustomerInput(number="E-1", name="秘密名字", email="s@mail.example.com"),
        "Asia/Shanghai",
    )
    contact = make_interaction(customer, author_id=admin.id, summary="private words")
    contacts.edit_contact(
        actor,
        contact.id,
        contacts.ContactInput(
            "call", "outbound", contact.occurred_at, "more private words", "reached"
        ),
    )
    db.session.add(FollowUp(customer_id=customer.id, owner_id=rm.id, due_on=utc_now().date()))
    db.session.commit()
    client.submit(f"/customers/{customer.id}/erase", {"reason": "request", "confirm_number": "E-1"})
    db.session.expire_all()
    history = db.session.scalars(select(AuditEvent)).all()
    dumped = repr([(e.before, e.after) for e in history])
    for secret in ("秘密名字", "s@mail.example.com", "private words"):
        assert secret not in dumped
    assert {f.status for f in db.session.scalars(select(FollowUp))} == {"cancelled"}
    refused = client.submit(
        f"/customers/{customer.id}/contacts",
        contact_form(
            outcome="reached", occurred_at="2026-11-01T10:00", summary="new personal data"
        ),
    )
    assert refused.status_code == 400 and "was erased" in refused.text
    login_as("lead")
    client.submit(
        "/customers/reassign", {"owner_id": str(rm.id), "customer_ids": [str(customer.id)]}
    )
    db.session.expire_all()
    assert db.session.get(Customer, customer.id).owner_id is None


@pytest.mark.parametrize(
    "before",
    [
        "2020-01-01T00:00|contact|1",
        "2020-01-01T00:00+00:00|contact|99999999999999999999999",
        "0001-01-01T00:00:00+14:00|contact|1",
        "garbage",
        "a|b|c|d",
    ],
)
def test_odd_timeline_cursors_start_from_the_top_not_500(client, login_as, before) -> None:
    rm = login_as("rm")
    customer = make_customer(owner_id=rm.id)
    response = client.get(f"/customers/{customer.id}/timeline", query_string={"before": before})
    assert response.status_code == 200


def test_out_of_range_input_is_refused_not_500(client, login_as) -> None:
    rm = login_as("rm")
    customer = make_customer(owner_id=rm.id)
    ancient = client.submit(
        f"/customers/{customer.id}/contacts",
        contact_form(outcome="reached", occurred_at="0001-01-01T00:00", summary="x"),
    )
    assert ancient.status_code == 400 and "after 1900" in ancient.text
    missing = client.submit("/follow-ups/424242/reschedule", {"due_on": "bad"}, htmx=True)
    assert missing.status_code == 404
    login_as("lead")
    huge = client.submit(
        "/customers/reassign",
        {"owner_id": "99999999999999999999", "customer_ids": [str(customer.id)]},
    )
    assert huge.status_code == 303


def test_last_contact_follows_a_corrected_contact_back_in_time(client, login_as) -> None:
    rm = login_as("rm")
    customer = make_customer(owner_id=rm.id)
    client.submit(
        f"/customers/{customer.id}/contacts",
        contact_form(outcome="reached", occurred_at="2026-11-20T10:00", summary="first"),
    )
    contact = db.session.scalar(select(Interaction))
    client.submit(
        f"/contacts/{contact.id}/edit",
        contact_form(outcome="reached", occurred_at="2020-01-01T10:00", summary="first"),
    )
    db.session.expire_all()
    assert db.session.get(Customer, customer.id).last_contact_at.year == 2020


def test_only_the_author_or_an_admin_corrects_a_contact(client, login_as) -> None:
    rm = make_user(role="rm")
    customer = make_customer(owner_id=rm.id)
    contact = make_interaction(customer, author_id=rm.id)
    login_as("handler")
    assert client.get(f"/contacts/{contact.id}/edit").status_code == 403
    assert "Correct" not in client.get(f"/customers/{customer.id}").text
    login_as(user=rm)
    assert client.get(f"/contacts/{contact.id}/edit").status_code == 200


def test_completing_a_follow_up_is_audited(client, login_as) -> None:
    rm = login_as("rm")
    customer = make_customer(owner_id=rm.id)
    follow_up = FollowUp(customer_id=customer.id, owner_id=rm.id, due_on=utc_now().date())
    db.session.add(follow_up)
    db.session.commit()
    client.submit(f"/follow-ups/{follow_up.id}/done")
    [event] = events("follow_up.done")
    assert event.actor_id == rm.id and event.after == {"status": "done"}


def test_later_rooms_plug_into_export_and_erasure(app, db, monkeypatch) -> None:
    from portal.customers import privacy

    registries = app.extensions["portal.registries"]
    monkeypatch.setitem(registries, privacy.EXPORT_SECTIONS, {})
    monkeypatch.setitem(registries, privacy.ERASURE_STEPS, {})
    erased: list[int] = []
    privacy.register_export_section(app, "tickets", lambda customer_id: [{"customer": customer_id}])
    privacy.register_erasure_step(app, "tickets", erased.append)
    customer = make_customer()
    actor = Actor.system("test")
    assert privacy.export_customer(actor, customer.id)["tickets"] == [{"customer": customer.id}]
    privacy.erase_customer(actor, customer.id, "request", customer.number)
    assert erased == [customer.id]


def test_a_long_chinese_name_is_found_when_typed_whole(client, login_as) -> None:
    login_as("admin")
    company = make_customer(name="北京朝阳区顺达贸易有限公司")
    assert company.number in client.get("/customers?q=北京朝阳区顺达贸易有限公司").text
    assert company.number in client.get("/customers?q=顺达贸易").text


def test_contact_choices_are_stored_normalised(db) -> None:
    rm = make_user(role="rm")
    customer = make_customer(owner_id=rm.id)
    contact = contacts.log_contact(
        actor_for(rm),
        customer.id,
        contacts.ContactInput(" Call ", "OUTBOUND", utc_now(), "ok", "Reached"),
    )
    assert (contact.channel, contact.direction, contact.outcome) == ("call", "outbound", "reached")


def actor_of(user) -> Actor:
    return Actor(user.id, user.email, user.role)


def test_my_day_lists_customers_quiet_for_one_to_3650_days_and_thirty_otherwise(db) -> None:
    rm = make_user(role="rm")
    quiet = make_customer(owner_id=rm.id, last_contact_at=utc_now() - timedelta(days=45))
    today = utc_now().date()
    for asked, used, listed in [(None, 30, True), (0, 30, True), (5000, 30, True), (60, 60, False)]:
        day = contacts.my_day(actor_of(rm), today, asked)
        assert day.quiet_days == used, asked
        assert (quiet in day.quiet) is listed, asked


def test_only_the_owning_rm_or_an_admin_opens_a_customer_to_edit(db) -> None:
    owner, other = make_user(role="rm"), make_user(role="rm")
    customer = make_customer(owner_id=owner.id)
    for role in ("handler", "lead"):
        with pytest.raises(PermissionDenied):
            services.get_editable_customer(actor_of(make_user(role=role)), customer.id)
    with pytest.raises(PermissionDenied):
        services.get_editable_customer(actor_of(other), customer.id)
    for allowed in (owner, make_user(role="admin")):
        assert services.get_editable_customer(actor_of(allowed), customer.id) == customer


def test_only_admins_and_leads_reassign_and_only_to_an_active_rm(db) -> None:
    old, new = make_user(role="rm"), make_user(role="rm")
    customer = make_customer(owner_id=old.id)
    for role in ("rm", "handler"):
        with pytest.raises(PermissionDenied):
            services.reassign(actor_of(make_user(role=role)), [customer.id], new.id)
    lead, handler = make_user(role="lead"), make_user(role="handler")
    with pytest.raises(ValidationFailed, match="active relationship manager"):
        services.reassign(actor_of(lead), [customer.id], handler.id)
    assert services.reassign(actor_of(lead), [customer.id], new.id) == 1
    db.session.expire_all()
    assert db.session.get(Customer, customer.id).owner_id == new.id


def test_only_the_owning_rm_or_an_admin_reveals_pii_and_each_reveal_is_recorded(db) -> None:
    owner = make_user(role="rm")
    customer = make_customer(owner_id=owner.id, phone="13812345678")
    for role in ("handler", "lead"):
        with pytest.raises(PermissionDenied):
            services.reveal_pii(actor_of(make_user(role=role)), customer.id)
    assert services.reveal_pii(actor_of(owner), customer.id)["phone"] == "13812345678"
    assert [e.actor_id for e in events("customer.pii_revealed")] == [owner.id]


def test_an_edit_saved_over_a_concurrent_change_is_a_conflict_and_saves_nothing(db) -> None:
    owner = make_user(role="rm")
    customer = make_customer(owner_id=owner.id, name="Before")
    version = customer.version
    db.session.execute(  # another session saves the customer after this one read it
        update(Customer)
        .where(Customer.id == customer.id)
        .values(version=Customer.version + 1)
        .execution_options(synchronize_session=False)
    )
    data = services.CustomerInput(number=customer.number, name="After")
    with pytest.raises(Conflict, match="Someone else changed this customer"):
        services.update_customer(actor_of(owner), customer.id, data, version, "Asia/Shanghai")
    db.session.expire_all()
    assert db.session.get(Customer, customer.id).name == "Before"
    assert events("customer.updated") == []
