"""The outbox: every email is decided by the contact policy, rendered, and written as a row in
the caller's transaction, under a unique deduplication key — so re-running whatever caused it
adds nothing, and a held-back message is still a row saying why."""

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from email.utils import make_msgid
from typing import Any
from urllib.parse import quote

from flask import current_app
from flask_babel import lazy_gettext as _l
from itsdangerous import BadSignature, SignatureExpired, URLSafeTimedSerializer
from sqlalchemy import insert, select, update

from portal.core.access import Role
from portal.core.audit import Actor, record_event
from portal.core.errors import Conflict, NotFound, PermissionDenied, ValidationFailed
from portal.core.extensions import db, dialect_name
from portal.core.timeutil import utc_now
from portal.customers.models import Customer
from portal.customers.pii import first_name
from portal.messaging.labels import MESSAGE_STATUS_LABELS
from portal.messaging.models import DELIVERABLE, Message, MessageStatus, Purpose
from portal.messaging.policy import (
    Candidate,
    Decision,
    PolicySettings,
    Recipient,
    decide,
    suppressed_addresses,
)
from portal.messaging.templates import render

UNSUBSCRIBE_SALT = "unsubscribe"
UNSUBSCRIBE_MAX_AGE = 400 * 86400  # a link keeps working well past CN's 30-day minimum


@dataclass
class Draft:
    """A message a room wants sent: to whom, why, from which template, with what values."""

    dedupe_key: str
    customer_id: int
    purpose: str
    kind: str
    template_key: str
    send_at: datetime
    transactional: bool = False
    context: dict[str, Any] = field(default_factory=dict)
    source_id: str | None = None


@dataclass
class QueueResult:
    counts: dict[str, int] = field(default_factory=dict)
    reasons: dict[str, int] = field(default_factory=dict)

    def add(self, decision: Decision) -> None:
        self.counts[decision.status] = self.counts.get(decision.status, 0) + 1
        if decision.reason:
            self.reasons[decision.reason] = self.reasons.get(decision.reason, 0) + 1


def policy_settings() -> PolicySettings:
    return PolicySettings.from_config(current_app.config)


# ---------------------------------------------------------------- unsubscribe tokens


def _serializer() -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(current_app.config["SECRET_KEY"], salt=UNSUBSCRIBE_SALT)


def unsubscribe_token(customer_id: int, purpose: str) -> str:
    return _serializer().dumps([customer_id, purpose])


def read_unsubscribe_token(token: str) -> tuple[int, str] | None:
    """(customer id, purpose) from a token, or None when it is tampered with or expired."""
    try:
        customer_id, purpose = _serializer().loads(token, max_age=UNSUBSCRIBE_MAX_AGE)
    except (BadSignature, SignatureExpired, ValueError, TypeError):
        return None
    if not isinstance(customer_id, int) or purpose not in {p.value for p in Purpose}:
        return None
    return customer_id, purpose


def unsubscribe_url(token: str) -> str:
    return f"{current_app.config['PUBLIC_BASE_URL']}/u/{token}"


# ---------------------------------------------------------------- queueing


def recipients_for(customer_ids: Iterable[int]) -> dict[int, tuple[Recipient, Customer]]:
    ids = sorted(set(customer_ids))
    found: dict[int, tuple[Recipient, Customer]] = {}
    for start in range(0, len(ids), 5000):
        for customer in db.session.scalars(
            select(Customer).where(Customer.id.in_(ids[start : start + 5000]))
        ):
            found[customer.id] = (recipient_of(customer), customer)
    return found


def recipient_of(customer: Customer) -> Recipient:
    return Recipient(
        id=customer.id,
        email=customer.email,
        timezone=customer.timezone,
        consent_care=customer.consent_care,
        consent_survey=customer.consent_survey,
        consent_service=customer.consent_service,
        deceased=customer.deceased,
        do_not_contact=customer.do_not_contact,
        in_arrears=customer.in_arrears,
        hardship=customer.hardship,
        vulnerable=customer.vulnerable,
        erased=customer.erased_at is not None,
    )


def queue(drafts: list[Draft], now: datetime | None = None) -> QueueResult:
    """Decide, render and write `drafts` in the caller's transaction (the caller commits).

    A draft whose key is already in the outbox is skipped: planning the same day twice, or in
    two processes at once, writes each message once.
    """
    now = now or utc_now()
    result = QueueResult()
    if not drafts:
        return result
    keys = [d.dedupe_key for d in drafts]
    existing = set(
        db.session.scalars(select(Message.dedupe_key).where(Message.dedupe_key.in_(keys)))
    )
    fresh = [d for d in drafts if d.dedupe_key not in existing]
    seen: set[str] = set()
    fresh = [d for d in fresh if not (d.dedupe_key in seen or seen.add(d.dedupe_key))]
    people = recipients_for(d.customer_id for d in fresh)
    decisions = decide(
        [Candidate(d.customer_id, d.purpose, d.transactional, d.send_at) for d in fresh],
        {cid: pair[0] for cid, pair in people.items()},
        policy_settings(),
        now,
    )
    loaded: dict[tuple[str, str], tuple[str, str, str, bool]] = {}
    rows = []
    config = current_app.config
    domain = config.get("MAIL_DOMAIN") or "portal.invalid"
    for draft, decision in zip(fresh, decisions, strict=True):
        result.add(decision)
        pair = people.get(draft.customer_id)
        customer = pair[1] if pair else None
        locale = customer.locale if customer else "en"
        token = unsubscribe_token(draft.customer_id, draft.purpose)
        context = {
            "first_name": first_name(customer.name) if customer else "",
            "firm": config.get("FIRM_NAME", "Credit Care"),
            "unsubscribe_url": unsubscribe_url(token),
            **draft.context,
        }
        content = render(draft.template_key, locale, context, loaded)
        headers: dict[str, str] = {}
        if not draft.transactional:
            mailto = config.get("UNSUBSCRIBE_MAILTO") or f"unsubscribe@{domain}"
            headers["List-Unsubscribe"] = (
                f"<{unsubscribe_url(token)}>, <mailto:{mailto}?subject={quote(token)}>"
            )
            headers["List-Unsubscribe-Post"] = "List-Unsubscribe=One-Click"
        rows.append(
            {
                "dedupe_key": draft.dedupe_key,
                "purpose": draft.purpose,
                "kind": draft.kind,
                "transactional": draft.transactional,
                "customer_id": draft.customer_id if customer else None,
                "to_address": customer.email if customer else None,
                "locale": locale,
                "subject": content.subject,
                "body_text": content.body_text,
                "body_html": content.body_html,
                "headers": headers,
                "message_id": make_msgid(domain=domain),
                "status": decision.status,
                "held_reason": decision.reason,
                "attempts": 0,
                "next_attempt_at": decision.send_at,
                "created_at": now,
                "source_id": draft.source_id,
            }
        )
    _insert_ignoring_duplicates(rows)
    return result


def plan(drafts: list[Draft], now: datetime | None = None) -> QueueResult:
    """What `queue` would decide for `drafts` now, writing nothing: the counts a preview shows
    before anything is sent. Drafts already in the outbox are left out, as `queue` skips them."""
    now = now or utc_now()
    result = QueueResult()
    if not drafts:
        return result
    existing = set(
        db.session.scalars(
            select(Message.dedupe_key).where(Message.dedupe_key.in_([d.dedupe_key for d in drafts]))
        )
    )
    fresh = [d for d in drafts if d.dedupe_key not in existing]
    seen: set[str] = set()
    fresh = [d for d in fresh if not (d.dedupe_key in seen or seen.add(d.dedupe_key))]
    people = recipients_for(d.customer_id for d in fresh)
    for decision in decide(
        [Candidate(d.customer_id, d.purpose, d.transactional, d.send_at) for d in fresh],
        {cid: pair[0] for cid, pair in people.items()},
        policy_settings(),
        now,
    ):
        result.add(decision)
    return result


def _insert_ignoring_duplicates(rows: list[dict[str, Any]]) -> None:
    if not rows:
        return
    # The table, not the mapped class: an ORM bulk insert splits a batch wherever the set of
    # NULL columns changes from one row to the next (held_reason, customer_id), a Core insert
    # sends each batch in one go.
    table = Message.__table__
    if dialect_name() == "postgresql":
        from sqlalchemy.dialects.postgresql import insert as pg_insert

        stmt = pg_insert(table).on_conflict_do_nothing(index_elements=["dedupe_key"])
    else:
        stmt = insert(table).prefix_with("OR IGNORE")
    for start in range(0, len(rows), 1000):
        db.session.execute(stmt, rows[start : start + 1000])


# ---------------------------------------------------------------- unsubscribing

UNSUBSCRIBE_ACTOR = "unsubscribe link"
UNSUBSCRIBED_REASON = "customer unsubscribed"


def unsubscribe_link(token: str) -> tuple[str, str | None] | None:
    """The purpose a link unsubscribes from and the customer's language, for the confirm page;
    None for a tampered or expired token. Changes nothing."""
    found = read_unsubscribe_token(token)
    if found is None:
        return None
    customer_id, purpose = found
    return purpose, db.session.scalar(select(Customer.locale).where(Customer.id == customer_id))


@dataclass(frozen=True)
class Unsubscribed:
    """What one unsubscribe link did; `changed` is False on a re-click."""

    purpose: str
    locale: str | None  # the customer's language, for the answer page
    changed: bool
    held_back: int = 0


def unsubscribe(token: str, how: str) -> Unsubscribed | None:
    """Record at once the opt-out a signed link asks for — that purpose only — with an audit
    event; None for a tampered or expired token, which changes nothing.

    The customer's queued and deferred messages of that purpose are held back in the same
    transaction, transactional ones too: the contact policy would hold them all if they were
    queued now. A message already claimed by a delivery worker may still go. A re-click finds
    the consent already off and changes and records nothing.
    """
    found = read_unsubscribe_token(token)
    if found is None:
        return None
    customer_id, purpose = found
    consent = f"consent_{purpose}"
    # Locked, so that a mail client's one-click POST and the customer's own click, arriving
    # together, record one opt-out between them.
    customer = db.session.get(Customer, customer_id, with_for_update=True)
    if customer is None or not getattr(customer, consent):
        locale = customer.locale if customer else None
        db.session.rollback()
        return Unsubscribed(purpose, locale, changed=False)
    setattr(customer, consent, False)
    held_back = db.session.execute(
        update(Message)
        .where(
            Message.customer_id == customer_id,
            Message.purpose == purpose,
            Message.status.in_([s.value for s in DELIVERABLE]),
        )
        .values(status=MessageStatus.SUPPRESSED.value, held_reason=UNSUBSCRIBED_REASON)
        .execution_options(synchronize_session=False)
    ).rowcount
    record_event(
        Actor.system(UNSUBSCRIBE_ACTOR),
        "customer.unsubscribed",
        "customer",
        customer_id,
        before={consent: True},
        after={consent: False},
        reason=f"{how}; queued messages held back: {held_back}",
    )
    locale = customer.locale
    db.session.commit()
    return Unsubscribed(purpose, locale, changed=True, held_back=held_back)


# ---------------------------------------------------------------- retrying a failed message


def retry(actor: Actor, message_id: int, now: datetime | None = None) -> Message:
    """Queue a failed message again, due now, its attempts counted afresh (the delivery
    back-off starts over).

    It passes the contact policy again as of now, so a customer who has opted out since, an
    address put on the suppression list, or a cap reached refuses the retry with the reason;
    quiet hours defer it. Only a failed message can be retried.
    """
    if not (actor.is_system or actor.role == Role.ADMIN):
        raise PermissionDenied(_l("Only admins retry messages."))
    now = now or utc_now()
    message = db.session.get(Message, message_id, with_for_update=True)
    if message is None:
        raise NotFound(_l("No such message."))
    if message.status != MessageStatus.FAILED.value:
        raise Conflict(
            _l(
                "Only a failed message can be retried; this one is %(status)s.",
                status=MESSAGE_STATUS_LABELS.get(message.status, message.status),
            )
        )
    customer = db.session.get(Customer, message.customer_id) if message.customer_id else None
    (decision,) = decide(
        [Candidate(message.customer_id or 0, message.purpose, message.transactional, now)],
        {customer.id: recipient_of(customer)} if customer else {},
        policy_settings(),
        now,
    )
    bounced = suppressed_addresses([message.to_address or ""])
    if decision.status == MessageStatus.SUPPRESSED.value or bounced:
        reason = decision.reason or f"address suppressed: {next(iter(bounced.values()))}"
        raise ValidationFailed(_l("Not retried: %(reason)s.", reason=reason))

    def state() -> dict[str, Any]:
        return {
            "status": message.status,
            "attempts": message.attempts,
            "next_attempt_at": message.next_attempt_at.isoformat()
            if message.next_attempt_at
            else None,
            "last_error": message.last_error,
        }

    before = state()
    message.status = decision.status
    message.held_reason = decision.reason  # "quiet hours" when deferred
    message.next_attempt_at = decision.send_at
    message.attempts = 0
    message.claimed_by = None
    message.claimed_until = None
    record_event(actor, "message.retried", "message", message.id, before=before, after=state())
    db.session.commit()
    return message
