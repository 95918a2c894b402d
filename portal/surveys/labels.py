"""Translated labels for the surveys room's codes."""

from flask_babel import lazy_gettext as _l

from portal.customers.forms import SEGMENT_LABELS

METRIC_LABELS = {
    "csat": _l("CSAT (satisfaction, 1–5)"),
    "ces": _l("CES (effort, 1–7)"),
    "nps": _l("NPS (recommend, 0–10)"),
}
TRIGGER_LABELS = {
    "ticket_closed": _l("After a ticket is closed"),
    "rm_contact": _l("After an RM's contact (sampled)"),
    "wave": _l("Relationship waves to a segment"),
    "imported": _l("Imported answers (sends nothing)"),
}
TRIGGER_HELP = {
    "ticket_closed": _l(
        "One invitation per closed ticket with a customer, the send delay after it was closed."
    ),
    "rm_contact": _l(
        "A share (the sample rate) of the contacts RMs log with customers they reached, the "
        "send delay after the contact."
    ),
    "wave": _l(
        "Every customer of the segment once per wave, at the send hour in their own time zone."
    ),
    "imported": _l("Holds answers brought from another survey tool; invites nobody."),
}
ROUTE_LABELS = {
    "rm": _l("The customer's RM (the complaint queue when they have none)"),
    "queue": _l("The complaint queue"),
}
INVITATION_STATUS_LABELS = {
    "invited": _l("Invited"),
    "not_sent": _l("Not sent"),
    "answered": _l("Answered"),
    "expired": _l("Expired"),
}
MESSAGE_STATE_LABELS = {
    "queued": _l("Waiting to be sent"),
    "deferred": _l("Waiting (quiet hours)"),
    "sending": _l("Sending"),
    "sent": _l("Sent"),
    "failed": _l("Failed"),
    "suppressed": _l("Held back"),
}
WAVE_MONTH_LABELS = {
    1: _l("Every month"),
    2: _l("Every two months"),
    3: _l("Every quarter"),
    4: _l("Every four months"),
    6: _l("Every half year"),
    12: _l("Every year"),
}

__all__ = [
    "INVITATION_STATUS_LABELS",
    "MESSAGE_STATE_LABELS",
    "METRIC_LABELS",
    "ROUTE_LABELS",
    "SEGMENT_LABELS",
    "TRIGGER_HELP",
    "TRIGGER_LABELS",
    "WAVE_MONTH_LABELS",
]
