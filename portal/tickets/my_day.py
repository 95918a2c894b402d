"""The tickets room's section of an RM's My day: complaints about the RM's customers."""

from datetime import datetime, timedelta

from portal.core.audit import Actor
from portal.customers.my_day import Section
from portal.tickets.services import recent_complaints_of

RECENT_DAYS = 14  # complaints received this recently are listed, and all still open


def complaints_section(actor: Actor, now: datetime) -> Section | None:
    if actor.user_id is None:
        return None
    since = now - timedelta(days=RECENT_DAYS)
    complaints = recent_complaints_of(actor.user_id, since)
    return Section(
        "tickets/_my_day_complaints.html",
        {"complaints": complaints, "recent_days": RECENT_DAYS},
    )
