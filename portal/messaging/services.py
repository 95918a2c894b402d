"""The outbox: every email is decided by the contact policy and written as a row in the
caller's transaction, under a unique deduplication key — so re-running whatever caused it adds
nothing, and a held-back message is still a row saying why.

A row keeps what the message is made from — template key, language, values — not its text:
delivery renders it when it sends it (compose.py), so queueing a day's 600,000 greetings
writes no bodies and signs no links, and a held-back message is never rendered.
"""

import json
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from email.utils import make_msgid
from typing import Any

from flask import current_app
from flask_babel import lazy_gettext as _l
from itsdangerous import BadSignature, SignatureExpired, URLSafeTimedSerializer
from psycopg import sql
from sqlalchemy import insert, select, update

from portal.core.access import Role
from portal.core.audit import Actor, record_event
from portal.core.errors import Conflict, NotFound, PermissionDenied, ValidationFailed
from portal.core.extensions import among, db, dialect_name
from portal.core.models import UTCDateTime
from portal.core.timeutil import utc_now
from portal.core.transaction import use_case
from portal.customers.models import Customer
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

UNSUBSCRIBE_SALT = "unsubscribe"
UNSUBSCRIBE_MAX_AGE = 400 * 86400  # a link keeps working well past CN's 30-day minimum
# A token is about 60 characters; anything much longer is refused before it is parsed.
UNSUBSCRIBE_TOKEN_MAX = 200


# Headers the portal writes itself; a draft cannot set them.
OWN_HEADERS = frozenset(
    name.lower()
    for name in (
        "From",
        "To",
        "Cc",
        "Bcc",
        "Subject",
        "Date",
        "Message-ID",
        "MIME-Version",
        "Content-Type",
        "Content-Transfer-Encoding",
        "List-Unsubscribe",
        "List-Unsubscribe-Post",
    )
)
_HEADER_NAME = re.compile(r"[!-9;-~]+")  # RFC 5322 field name: printable ASCII but ":"
_MESSAGE_ID = re.compile(r"<[^<>@\s]+@[^<>@\s]+>")


@dataclass
class Draft:
    """A message a room wants sent: to whom, why, from which template, with what values.

    To a customer (`customer_id`; `to_address` and `locale`, when given, instead of the
    customer's own address and language), or — transactional only — to someone who is not a
    customer: `customer_id` None with `to_address`, and `recipient_name` as `first_name`.
    `headers` are added to the email (In-Reply-To, References, Auto-Submitted, …);
    `message_id`, when given, is its Message-ID, so the caller can record it before delivery.
    `immediate` marks a transactional answer to something the customer has just sent (the
    acknowledgement of their complaint): it goes at once, whatever the hour.
    """

    dedupe_key: str
    customer_id: int | None
    purpose: str
    kind: str
    template_key: str
    send_at: datetime
    transactional: bool = False
    context: dict[str, Any] = field(default_factory=dict)
    source_id: str | None = None
    to_address: str | None = None
    recipient_name: str | None = None
    locale: str | None = None
    headers: dict[str, str] = field(default_factory=dict)
    message_id: str | None = None
    immediate: bool = False

    def __post_init__(self) -> None:
        if self.to_address is not None:
            self.to_address = self.to_address.strip()
        if self.customer_id is None:
            if not self.to_address:
                raise ValueError("a draft without a customer needs a to_address")
            if not self.transactional:
                raise ValueError("only a transactional message may go to someone not a customer")
        for name, value in self.headers.items():
            if not _HEADER_NAME.fullmatch(name) or name.lower() in OWN_HEADERS:
                raise ValueError(f"a draft cannot set the header {name!r}")
            if "\r" in value or "\n" in value:
                raise ValueError(f"the header {name!r} has a line break")
        if self.message_id is not None and (
            len(self.message_id) > 200 or not _MESSAGE_ID.fullmatch(self.message_id)
        ):
            raise ValueError(f"not a Message-ID: {self.message_id!r}")


@dataclass
class QueueResult:
    counts: dict[str, int] = field(default_factory=dict)
    reasons: dict[str, int] = field(default_factory=dict)

    def add(self, decision: Decision) -> None:
        self.counts[decision.status] = self.counts.get(decision.status, 0) + 1
        if decision.reason:
            self.reasons[decision.reason] = self.reasons.get(decision.reason, 0) + 1


def require_admin(actor: Actor) -> None:
    if not (actor.is_system or actor.role == Role.ADMIN):
        raise PermissionDenied(_l("Only admins manage messages and their templates."))


def policy_settings() -> PolicySettings:
    return PolicySettings.from_config(current_app.config)


# ---------------------------------------------------------------- unsubscribe tokens


def _serializer() -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(current_app.config["SECRET_KEY"], salt=UNSUBSCRIBE_SALT)


def unsubscribe_token(customer_id: int, purpose: str) -> str:
    return _serializer().dumps([customer_id, purpose])


def read_unsubscribe_token(token: str) -> tuple[int, str] | None:
    """(customer id, purpose) from a token, or None when it is tampered with, expired or
    too long to be one."""
    if len(token) > UNSUBSCRIBE_TOKEN_MAX:
        return None
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


# What queueing reads about each customer: the policy's view (Recipient's fields, in order),
# and their language.
_RECIPIENT_COLUMNS = (
    Customer.id,
    Customer.email,
    Customer.timezone,
    Customer.consent_care,
    Customer.consent_survey,
    Customer.consent_service,
    Customer.deceased,
    Customer.do_not_contact,
    Customer.in_arrears,
    Customer.hardship,
    Customer.vulnerable,
    Customer.erased_at,
    Customer.locale,
)


def recipients_for(customer_ids: Iterable[int | None]) -> dict[int, tuple[Recipient, str]]:
    """(what the policy reads, language) per customer id; plain rows, not ORM objects: a
    batch holds thousands."""
    ids = sorted({i for i in customer_ids if i is not None})
    found: dict[int, tuple[Recipient, str]] = {}
    for start in range(0, len(ids), 5000):
        rows = db.session.execute(
            select(*_RECIPIENT_COLUMNS).where(among(Customer.id, ids[start : start + 5000]))
        )
        for row in rows:
            *policy_view, erased_at, locale = row  # by position: a row's names cost more
            found[row[0]] = (Recipient(*policy_view, erased_at is not None), locale)
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


def _fresh(drafts: list[Draft]) -> list[Draft]:
    """The drafts whose key is not in the outbox yet, each key once."""
    existing = set(
        db.session.scalars(
            select(Message.dedupe_key).where(
                among(Message.dedupe_key, [d.dedupe_key for d in drafts])
            )
        )
    )
    seen: set[str] = set()
    return [
        d
        for d in drafts
        if d.dedupe_key not in existing and not (d.dedupe_key in seen or seen.add(d.dedupe_key))
    ]


def _decide(
    drafts: list[Draft], people: dict[int, tuple[Recipient, str]], now: datetime
) -> list[Decision]:
    return decide(
        [
            Candidate(
                d.customer_id,
                d.purpose,
                d.transactional,
                d.send_at,
                d.to_address,
                d.immediate and d.transactional,
            )
            for d in drafts
        ],
        {cid: pair[0] for cid, pair in people.items()},
        policy_settings(),
        now,
    )


def queue(drafts: list[Draft], now: datetime | None = None) -> QueueResult:
    """Decide and write `drafts` in the caller's transaction: a step of the caller's use case
    or batch (`transaction()`), not a use case of its own — the messages are written with
    whatever caused them, or not at all. Nothing is rendered: the row keeps the template key,
    the language and the draft's values, and delivery renders the message when it sends it.

    A draft whose key is already in the outbox is skipped: planning the same day twice, or in
    two processes at once, writes each message once.
    """
    now = now or utc_now()
    result = QueueResult()
    if not drafts:
        return result
    fresh = _fresh(drafts)
    people = recipients_for(d.customer_id for d in fresh)
    decisions = _decide(fresh, people, now)
    config = current_app.config
    domain = config.get("MAIL_DOMAIN") or "portal.invalid"
    default_locale = config.get("BABEL_DEFAULT_LOCALE") or "en"
    rows = []
    for draft, decision in zip(fresh, decisions, strict=True):
        result.add(decision)
        person = people.get(draft.customer_id) if draft.customer_id is not None else None
        context = draft.context
        if draft.customer_id is None:  # someone who is not a customer: the name given
            context = {"first_name": draft.recipient_name or "", **context}
        rows.append(
            {
                "dedupe_key": draft.dedupe_key,
                "purpose": draft.purpose,
                "kind": draft.kind,
                "transactional": draft.transactional,
                "customer_id": draft.customer_id if person else None,
                "to_address": draft.to_address
                if draft.to_address is not None
                else (person[0].email if person else None),
                "locale": draft.locale or (person[1] if person else default_locale),
                "template_key": draft.template_key,
                "context": context,
                "subject": "",
                "body_text": "",
                "body_html": "",
                "headers": draft.headers,
                "message_id": draft.message_id or make_msgid(domain=domain),
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
    fresh = _fresh(drafts)
    for decision in _decide(fresh, recipients_for(d.customer_id for d in fresh), now):
        result.add(decision)
    return result


def _insert_ignoring_duplicates(rows: list[dict[str, Any]]) -> None:
    if not rows:
        return
    if dialect_name() == "postgresql":
        _copy_ignoring_duplicates(rows)
        return
    # The table, not the mapped class: an ORM bulk insert splits a batch wherever the set of
    # NULL columns changes from one row to the next (held_reason, customer_id), a Core insert
    # sends each batch in one go.
    stmt = insert(Message.__table__).prefix_with("OR IGNORE")
    for start in range(0, len(rows), 1000):
        db.session.execute(stmt, rows[start : start + 1000])


_JSON_COLUMNS = frozenset({"context", "headers"})
_DATETIME_COLUMNS = frozenset(
    column.name for column in Message.__table__.columns if isinstance(column.type, UTCDateTime)
)


def _copy_ignoring_duplicates(rows: list[dict[str, Any]]) -> None:
    """PostgreSQL: COPY the rows into a temporary table, then INSERT … SELECT … ON CONFLICT DO
    NOTHING — a key another process wrote meanwhile is still skipped. An executemany INSERT is
    a round of the pipeline per row: this takes less than half as long (a Spring Festival plan
    writes 600,000 rows)."""
    columns = list(rows[0])
    names = sql.SQL(", ").join(map(sql.Identifier, columns))
    connection = db.session.connection()
    as_json = [i for i, column in enumerate(columns) if column in _JSON_COLUMNS]
    as_utc = [i for i, column in enumerate(columns) if column in _DATETIME_COLUMNS]
    stored = UTCDateTime().process_bind_param  # refuses a naive datetime, as an INSERT does
    driver_connection = connection.connection.driver_connection
    with driver_connection.cursor() as cursor:
        cursor.execute(
            sql.SQL(
                "CREATE TEMPORARY TABLE IF NOT EXISTS outbox_incoming AS "
                "SELECT {} FROM messages WITH NO DATA"
            ).format(names)
        )
        with cursor.copy(sql.SQL("COPY outbox_incoming ({}) FROM STDIN").format(names)) as copy:
            for row in rows:
                values = [row[column] for column in columns]
                for index in as_json:
                    values[index] = json.dumps(values[index])
                for index in as_utc:
                    values[index] = stored(values[index], connection.dialect)
                copy.write_row(values)
        cursor.execute(
            sql.SQL(
                "INSERT INTO messages ({0}) SELECT {0} FROM outbox_incoming "
                "ON CONFLICT (dedupe_key) DO NOTHING"
            ).format(names)
        )
        cursor.execute("TRUNCATE outbox_incoming")


# ---------------------------------------------------------------- unsubscribing

UNSUBSCRIBE_LINK = Actor.system("unsubscribe link")  # who acts when a customer clicks
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


@use_case
def unsubscribe(actor: Actor, token: str, how: str) -> Unsubscribed | None:
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
        return Unsubscribed(purpose, customer.locale if customer else None, changed=False)
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
        actor,
        "customer.unsubscribed",
        "customer",
        customer_id,
        before={consent: True},
        after={consent: False},
        reason=f"{how}; queued messages held back: {held_back}",
    )
    return Unsubscribed(purpose, customer.locale, changed=True, held_back=held_back)


# ---------------------------------------------------------------- retrying a failed message


@use_case
def retry(actor: Actor, message_id: int, now: datetime | None = None) -> Message:
    """Queue a failed message again, due now, its attempts counted afresh (the delivery
    back-off starts over).

    It passes the contact policy again as of now, so a customer who has opted out since, an
    address put on the suppression list, or a cap reached refuses the retry with the reason;
    quiet hours defer it. Only a failed message can be retried.
    """
    require_admin(actor)
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
    # Without a customer the message went to someone who is not one: decided as such, to its
    # address (held back unless transactional).
    (decision,) = decide(
        [
            Candidate(
                customer.id if customer else None,
                message.purpose,
                message.transactional,
                now,
                None if customer else message.to_address,
            )
        ],
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
    return message
