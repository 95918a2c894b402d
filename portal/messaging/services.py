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
from itsdangerous import BadSignature, SignatureExpired, URLSafeTimedSerializer
from sqlalchemy import insert, select

from portal.core.extensions import db, dialect_name
from portal.core.timeutil import utc_now
from portal.customers.models import Customer
from portal.customers.pii import first_name
from portal.messaging.models import Message, Purpose
from portal.messaging.policy import Candidate, Decision, PolicySettings, Recipient, decide
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


def _insert_ignoring_duplicates(rows: list[dict[str, Any]]) -> None:
    if not rows:
        return
    if dialect_name() == "postgresql":
        from sqlalchemy.dialects.postgresql import insert as pg_insert

        stmt = pg_insert(Message).on_conflict_do_nothing(index_elements=["dedupe_key"])
    else:
        stmt = insert(Message).prefix_with("OR IGNORE")
    for start in range(0, len(rows), 1000):
        db.session.execute(stmt, rows[start : start + 1000])
