"""Translated labels for the care room's codes."""

from flask_babel import lazy_gettext as _l

from portal.customers.forms import FLAG_LABELS, SEGMENT_LABELS

RULE_LABELS = {
    "birthday": _l("Birthday greetings"),
    "festival": _l("Festival greetings"),
    "reminder": _l("Repayment reminders"),
}
RULE_HELP = {
    "birthday": _l(
        "On the customer's birthday in their own time zone; "
        "those born on 29 February are greeted on 28 February in other years."
    ),
    "festival": _l(
        "Spring Festival, Dragon Boat and Mid-Autumn festivals for customers writing Chinese; "
        "Christmas for customers writing English in the UK, Ireland, the US, Canada, Australia "
        "or New Zealand."
    ),
    "reminder": _l(
        "Before an active account's next due date. A service message: no marketing consent "
        "needed, but frequency caps and quiet hours apply."
    ),
}
CAMPAIGN_PURPOSE_LABELS = {
    "care": _l("Care (e.g. a financial-education note; needs greeting consent)"),
    "service": _l("Service notice (needs no marketing consent)"),
}
CAMPAIGN_STATUS_LABELS = {"draft": _l("Draft"), "queued": _l("Sent to the outbox")}

__all__ = [
    "CAMPAIGN_PURPOSE_LABELS",
    "CAMPAIGN_STATUS_LABELS",
    "FLAG_LABELS",
    "RULE_HELP",
    "RULE_LABELS",
    "SEGMENT_LABELS",
]
