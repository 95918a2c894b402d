"""Public-form submissions held as suspected spam: kept, reviewed, then released or discarded.

The public form takes a submission for a bot's when its hidden field was filled in, its signed
time stamp was missing or altered, or it came back sooner than a person could type it
(`public_views`). Such a submission is not dropped, since a complaint must never be lost: it is
checked like any other and kept here (`hold`) with what the trap saw. It is not a ticket yet —
no reference, no prospect, no acknowledgement — so it stays out of the queue, its counts, the
clock watch, the contact policy and every figure.

A handler, lead or admin reviews the waiting ones (`review_page`) and either releases one
(`release`): the form's own use case (`webform.register`) registers the ticket, received when
the visitor sent it, so its regulatory clock counts from that day, and acknowledges it; or
discards it as spam (`discard`): it stays, with the reason, for the record. Both need a reason
and write an audit event. A second decision on the same submission (a double click, two
handlers at once) is refused with who decided first, and when.
"""

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from flask_babel import lazy_gettext as _l
from sqlalchemy import func, literal_column, select

from portal.core.audit import Actor, record_event
from portal.core.errors import Conflict, NotFound
from portal.core.extensions import db
from portal.core.pagination import newest_first
from portal.core.timeutil import as_utc, utc_now
from portal.core.transaction import use_case
from portal.tickets.access import can_handle, require_handler
from portal.tickets.channels import intake, webform
from portal.tickets.events import add_event
from portal.tickets.models import HeldStatus, HeldSubmission, Ticket, Trap
from portal.tickets.validation import clean_reason

SUBJECT = "held_submission"  # the audit events' subject type
PAGE = 20
COUNT_CAP = 10_000  # as the queue's counts: "10,000+" past it


@dataclass(frozen=True)
class Caught:
    """What the form's trap saw: which trap, and for one sent too fast, after how long."""

    trap: Trap
    seconds: float | None = None


@use_case
def hold(data: webform.WebSubmission, caught: Caught, *, now: datetime | None = None) -> int:
    """Keep a submission the bot traps caught, checked as the form checks every submission
    (`ValidationFailed`) and under the same daily cap per sender (`intake.TooMany`); returns
    its id."""
    now = now or utc_now()
    checked = webform.check(data)
    intake.check_rate(checked.email, now)
    seconds = None if caught.seconds is None else round(max(caught.seconds, 0.0), 1)
    row = HeldSubmission(
        received_at=now,
        status=HeldStatus.HELD.value,
        trap=caught.trap.value,
        seconds=seconds,
        kind=checked.kind,
        about=checked.about,
        description=checked.description,
        request=checked.request,
        account_hint=checked.account_hint,
        name=checked.name,
        email=checked.email,
        phone=checked.phone,
        customer_number=checked.customer_number,
        locale=checked.locale,
    )
    db.session.add(row)
    db.session.flush()
    record_event(
        webform.ACTOR,
        "web_form.held",
        SUBJECT,
        row.id,
        after={"status": row.status, "trap": row.trap, "seconds": seconds, "kind": row.kind},
        at=now,
    )
    return row.id


def _checked(row: HeldSubmission) -> webform.Checked:
    assert row.email is not None  # only an erased submission has none, and it is discarded
    return webform.Checked(
        kind=row.kind,
        about=row.about,
        description=row.description,
        request=row.request,
        account_hint=row.account_hint,
        name=row.name,
        email=row.email,
        phone=row.phone,
        customer_number=row.customer_number,
        locale=row.locale,
    )


def _when(moment: datetime | None) -> str:
    return as_utc(moment).strftime("%Y-%m-%d %H:%M UTC") if moment else "?"


def already_decided(row: HeldSubmission) -> Conflict:
    """The refusal of a second decision, naming the first: who, when, and the ticket."""
    if row.status == HeldStatus.RELEASED:
        ticket = db.session.get(Ticket, row.ticket_id) if row.ticket_id else None
        return Conflict(
            _l(
                "This submission was already released as %(reference)s by %(who)s at %(when)s.",
                reference=ticket.reference if ticket else "?",
                who=row.decided_by or "?",
                when=_when(row.decided_at),
            )
        )
    return Conflict(
        _l(
            "This submission was already discarded as spam by %(who)s at %(when)s.",
            who=row.decided_by or "?",
            when=_when(row.decided_at),
        )
    )


def decided_meanwhile(actor: Actor, held_id: int, *_arguments: Any, **_options: Any) -> Conflict:
    """The stale handler of `release` and `discard`: someone decided first, at the commit."""
    row = db.session.get(HeldSubmission, held_id)
    if row is None or row.status == HeldStatus.HELD:
        return Conflict(_l("Someone else changed this in the meantime. Reload and try again."))
    return already_decided(row)


def _waiting(actor: Actor, held_id: int, version: int | None) -> HeldSubmission:
    """The held submission to decide on, locked until the use case ends: a second decision
    waits for the first and then finds it decided."""
    require_handler(actor)
    row = db.session.get(HeldSubmission, held_id, with_for_update=True, populate_existing=True)
    if row is None:
        raise NotFound(_l("No such held submission."))
    if row.status != HeldStatus.HELD:
        raise already_decided(row)
    if version is not None and row.version != version:
        raise Conflict(_l("Someone else changed this in the meantime. Reload and try again."))
    return row


def _decide(actor: Actor, row: HeldSubmission, status: HeldStatus, reason: str) -> datetime:
    now = utc_now()
    row.status = status.value
    row.decided_at = now
    row.decided_by_id = actor.user_id
    row.decided_by = actor.label[:120]
    row.reason = reason
    return now


@use_case(stale=decided_meanwhile)
def release(actor: Actor, held_id: int, version: int | None, reason: str) -> Ticket:
    """Register the held submission as the ticket the form would have made, received when the
    visitor sent it, and acknowledge it; the ticket's history and the audit trail say who
    released it and why."""
    row = _waiting(actor, held_id, version)
    why = clean_reason(reason)
    ticket = webform.register(_checked(row), received_at=row.received_at)
    now = _decide(actor, row, HeldStatus.RELEASED, why)
    row.ticket_id = ticket.id
    add_event(
        actor,
        ticket,
        "released",
        reason=why,
        data={"held": row.id, "trap": row.trap, "seconds": row.seconds},
        at=now,
    )
    record_event(
        actor,
        "web_form.released",
        SUBJECT,
        row.id,
        before={"status": HeldStatus.HELD.value},
        after={"status": row.status, "ticket": ticket.reference},
        reason=why,
        at=now,
    )
    return ticket


@use_case(stale=decided_meanwhile)
def discard(actor: Actor, held_id: int, version: int | None, reason: str) -> HeldSubmission:
    """Set the held submission aside as spam: no ticket; it is kept with the reason."""
    row = _waiting(actor, held_id, version)
    why = clean_reason(reason)
    now = _decide(actor, row, HeldStatus.DISCARDED, why)
    record_event(
        actor,
        "web_form.discarded",
        SUBJECT,
        row.id,
        before={"status": HeldStatus.HELD.value},
        after={"status": row.status},
        reason=why,
        at=now,
    )
    return row


# ---------------------------------------------------------------- reads


@dataclass
class ReviewPage:
    rows: list[HeldSubmission]
    more: int | None  # the `before` of the next page
    state: str
    counts: dict[str, int]  # submissions by state
    tickets: dict[int, str]  # the references of released rows' tickets


def review_page(actor: Actor, state: str, before: int | None) -> ReviewPage:
    """One page of the held submissions in `state` (the waiting ones unless another is
    known), newest first, below id `before`."""
    require_handler(actor)
    if state not in {s.value for s in HeldStatus}:
        state = HeldStatus.HELD.value
    rows, more = newest_first(
        select(HeldSubmission).where(HeldSubmission.status == state),
        HeldSubmission.id,
        before,
        PAGE,
    )
    released = select(Ticket).where(Ticket.id.in_({r.ticket_id for r in rows}))
    return ReviewPage(
        rows=rows,
        more=more,
        state=state,
        counts={s.value: _count(s) for s in HeldStatus},
        tickets={t.id: t.reference for t in db.session.scalars(released)},
    )


def _count(status: HeldStatus) -> int:
    """Submissions in `status`, counted up to COUNT_CAP + 1 on the (status, id) index."""
    capped = (
        select(literal_column("1"))
        .select_from(HeldSubmission)
        .where(HeldSubmission.status == status.value)
        .limit(COUNT_CAP + 1)
    )
    return db.session.scalar(select(func.count()).select_from(capped.subquery())) or 0


def waiting_count(actor: Actor) -> int | None:
    """How many held submissions wait for a decision, for those who decide (None for others):
    the queue's sidebar shows it so that none waits unseen."""
    return _count(HeldStatus.HELD) if can_handle(actor) else None
