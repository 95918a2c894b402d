"""Notifications to staff inside the portal: the bell with its unread count. (What customers
are told are notices, a channel: `channels.notices`.)

A notification's key is unique, so whatever writes one (a job run twice, two processes at
once) writes it once.
"""

from zoneinfo import ZoneInfo

from flask_babel import force_locale
from flask_babel import gettext as _
from sqlalchemy import func, insert, select, update

from portal.accounts.models import User
from portal.core.errors import NotFound
from portal.core.extensions import db, dialect_name
from portal.core.i18n import firm_zone
from portal.core.timeutil import is_valid_timezone, utc_now
from portal.core.transaction import use_case
from portal.tickets.deadlines import due_text
from portal.tickets.models import Notification, Ticket

UNREAD_CAP = 99


def message_for(kind: str, ticket: Ticket, locale: str | None, zone: ZoneInfo | None = None) -> str:
    """What a notification of `kind` about `ticket` says, in the user's language; a clock
    notification names the deadline as staff read it (`zone`: the user's, for a time of day)."""
    language = locale or "en"
    reference = ticket.reference
    with force_locale(language):
        due = due_text(ticket, language=language, zone=zone) if "clock" in kind else ""
        if kind == "clock.warning":
            message = _(
                "%(reference)s has used 80 %% of its time: due %(due)s.",
                reference=reference,
                due=due,
            )
        elif kind == "assigned":
            message = _("%(reference)s was assigned to you.", reference=reference)
        elif kind == "email":
            message = _("%(reference)s: the complainant wrote again.", reference=reference)
        else:
            message = _(
                "%(reference)s is past its deadline, %(due)s.", reference=reference, due=due
            )
    return message[:300]


def notify(user_id: int, key: str, kind: str, ticket: Ticket) -> None:
    user = db.session.get(User, user_id)
    if user is None or not user.active:
        return
    values = {
        "user_id": user_id,
        "key": key,
        "kind": kind,
        "ticket_id": ticket.id,
        "message": message_for(kind, ticket, user.locale, _zone_of(user)),
        "created_at": utc_now(),
    }
    if dialect_name() == "postgresql":
        from sqlalchemy.dialects.postgresql import insert as pg_insert

        db.session.execute(pg_insert(Notification).values(values).on_conflict_do_nothing())
    else:
        db.session.execute(insert(Notification).values(values).prefix_with("OR IGNORE"))


def _zone_of(user: User) -> ZoneInfo:
    """The user's own zone for a time of day (a regulatory deadline is named in the firm's
    zone whoever reads it), else the firm's."""
    return ZoneInfo(user.timezone) if is_valid_timezone(user.timezone or "") else firm_zone()


def notify_assigned(ticket: Ticket, assignee_id: int) -> None:
    """Tell a handler a ticket was given to them (written in the caller's transaction)."""
    key = f"assigned:{ticket.id}:{assignee_id}:{utc_now().isoformat()}"
    notify(assignee_id, key, "assigned", ticket)


def unread_count(user_id: int) -> int:
    capped = (
        select(Notification.id)
        .where(Notification.user_id == user_id, Notification.read_at.is_(None))
        .limit(UNREAD_CAP + 1)
    )
    return db.session.scalar(select(func.count()).select_from(capped.subquery())) or 0


def recent(user_id: int, limit: int = 30) -> list[Notification]:
    return list(
        db.session.scalars(
            select(Notification)
            .where(Notification.user_id == user_id)
            .order_by(Notification.id.desc())
            .limit(limit)
        )
    )


@use_case
def mark_read(user_id: int, notification_id: int | None = None) -> int:
    """Mark one notification (or all) read; returns how many changed."""
    stmt = update(Notification).where(
        Notification.user_id == user_id, Notification.read_at.is_(None)
    )
    if notification_id is not None:
        found = db.session.get(Notification, notification_id)
        if found is None or found.user_id != user_id:
            raise NotFound(_("No such notification."))
        stmt = stmt.where(Notification.id == notification_id)
    result = db.session.execute(stmt.values(read_at=utc_now()))
    return result.rowcount or 0
