"""A data-subject export includes the customer's tickets and messages; erasure removes their
words and addresses but keeps categories, statuses and dates."""

from datetime import UTC, datetime

from sqlalchemy import select

from portal.core.extensions import db as _db
from portal.customers import privacy
from portal.messaging import services as messaging
from portal.messaging.models import Message
from portal.tickets import services as tickets
from portal.tickets.models import Ticket, TicketEvent
from tests.factories import make_actor, make_customer, make_ticket

NOW = datetime(2026, 12, 1, 4, 0, tzinfo=UTC)


def test_export_and_erasure_reach_tickets_and_messages(db):
    admin = make_actor("admin")
    customer = make_customer(name="王小明", consent_care=True)
    ticket = make_ticket(
        admin, customer, subject="小明's card was charged twice", request="Refund 王小明"
    )
    tickets.add_note(admin, ticket.id, "Called 13800000000", customer_facing=True)
    messaging.queue(
        [
            messaging.Draft(
                dedupe_key=f"reminder:{customer.id}:2026-12-15:7",
                customer_id=customer.id,
                purpose="service",
                kind="reminder",
                template_key="reminder",
                transactional=True,
                context={"due_on": "2026-12-15", "account_last4": "1234"},
                send_at=NOW,
            )
        ],
        now=NOW,
    )
    _db.session.commit()

    exported = privacy.export_customer(admin, customer.id)
    assert exported["tickets"][0]["reference"] == ticket.reference
    assert exported["tickets"][0]["texts"][0]["body"] == "Called 13800000000"
    assert exported["messages"][0]["to_address"] == customer.email
    assert exported["messages"][0]["status"] == "queued"
    # Not sent yet: as its template renders it now.
    assert "1234" in exported["messages"][0]["body_text"]
    assert "2026-12-15" in exported["messages"][0]["subject"]

    privacy.erase_customer(admin, customer.id, "Customer's request", customer.number)
    _db.session.expire_all()
    erased = _db.session.get(Ticket, ticket.id)
    assert erased.subject == erased.request == "[erased]"
    assert (erased.cause_code, erased.kind, erased.received_at) == (
        "C07",
        "complaint",
        ticket.received_at,
    )
    bodies = _db.session.scalars(
        select(TicketEvent.body).where(
            TicketEvent.ticket_id == ticket.id, TicketEvent.body.is_not(None)
        )
    )
    assert set(bodies) == {"[erased]"}
    message = _db.session.scalars(select(Message).where(Message.customer_id == customer.id)).one()
    assert message.to_address is None and "小明" not in message.body_text
    assert (message.status, message.held_reason) == ("suppressed", "customer erased")
    assert (message.template_key, message.context) == (None, None)  # nothing to render from
    (erased_message,) = privacy.export_customer(admin, customer.id)["messages"]
    assert erased_message["subject"] == erased_message["body_text"] == "[erased]"
