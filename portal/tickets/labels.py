"""Translated labels for the tickets room's codes, shared by forms, templates and exports."""

from flask_babel import lazy_gettext as _l
from flask_babel import lazy_pgettext

KIND_LABELS = {
    "complaint": _l("Complaint"),
    "feedback": _l("Feedback"),
    "inquiry": _l("Inquiry"),
    "compliment": _l("Compliment"),
}
STATUS_LABELS = {
    "new": _l("New"),
    "acknowledged": _l("Acknowledged"),
    "in_progress": _l("In progress"),
    "waiting_on_customer": _l("Waiting on customer"),
    "resolved": _l("Resolved"),
    "closed": lazy_pgettext("ticket status", "Closed"),
    "withdrawn": _l("Withdrawn"),
}
SEVERITY_LABELS = {
    "low": _l("Low"),
    "medium": _l("Medium"),
    "high": _l("High"),
    "critical": _l("Critical"),
}
REDRESS_LABELS = {
    "none": _l("None"),
    "refund": _l("Refund"),
    "fee_waiver": _l("Fee waiver"),
    "compensation": _l("Compensation"),
    "goodwill": _l("Goodwill payment"),
    "correction": _l("Record corrected"),
    "other": _l("Other"),
}
REMEDY_LABELS = {
    "review": _l("Review (核查)"),
    "mediation": _l("Mediation (调解)"),
    "arbitration": _l("Arbitration (仲裁)"),
    "litigation": _l("Litigation (诉讼)"),
}
PROFILE_LABELS = {
    "CN": _l("China NFRA: 15 days, extendable to 30 and 60"),
    "US": _l("US CFPB: 15 days, 60 when in progress"),
    "UK": _l("UK FCA: 3 business days summary, 8 weeks final"),
}
NOTICE_LABELS = {
    "acknowledgement": _l("acknowledgement"),
    "extension": _l("extension notice"),
    "pause": _l("appraisal pause notice"),
    "resume": _l("appraisal resume notice"),
    "holding": _l("holding response"),
    "decision": _l("decision / final response"),
    "summary_resolution": _l("summary resolution communication"),
    "reply": _l("reply"),
}
NOTICE_LABELS_BY_PROFILE = {
    # The closing notice's name in each regime.
    ("decision", "CN"): _l("decision notice"),
    ("decision", "UK"): _l("final response"),
    ("decision", "US"): _l("response"),
}
SENT_VIA_LABELS = {
    "email": _l("Email"),
    "post": _l("Letter"),
    "phone": _l("Telephone"),
    "in_person": _l("In person"),
    "other": _l("Another way"),
}
INBOUND_STATUS_LABELS = {
    "opened": _l("Opened a ticket"),
    "threaded": _l("Added to a ticket"),
    "automatic": _l("Automatic mail, ignored"),
    "unsubscribe": _l("Unsubscribe request, carried out"),
    "quarantined": _l("Quarantined"),
    "dismissed": _l("Dismissed"),
}
HELD_STATUS_LABELS = {
    "held": _l("Waiting for review"),
    "released": _l("Released as a ticket"),
    "discarded": _l("Discarded as spam"),
}
TRAP_LABELS = {
    "trap_field": _l("The field hidden from people was filled in"),
    "time_stamp": _l("The form's time stamp was missing or altered"),
    "too_fast": _l("Sent too fast"),
}
ACTION_LABELS = {
    "created": _l("Registered"),
    "assigned": _l("Assigned"),
    "status": _l("Status changed"),
    "resolution": _l("Resolution"),
    "edited": _l("Details edited"),
    "note": _l("Internal note"),
    "response": _l("Response to customer"),
    "notice": _l("Notice to the complainant"),
    "reply": _l("Reply by email"),
    "email": _l("Email from the complainant"),
    "linked": _l("Linked to a customer"),
    "released": _l("Released from suspected spam"),
    "clock.extended": _l("Clock extended"),
    "clock.paused": _l("Clock paused"),
    "clock.resumed": _l("Clock resumed"),
    "clock.restarted": _l("Clock restarted on new facts"),
    "clock.warning": _l("80 percent of the time used"),
    "clock.breached": _l("Deadline breached"),
    "clock.stopped": _l("Clock stopped: handling ended during a pause"),
    "merged.into": _l("Merged into another ticket"),
    "merged.from": _l("Repeat merged in"),
}
# The processes that act on tickets, as their history names them (staff by their name).
SYSTEM_ACTOR_LABELS = {
    "public form": _l("Public form"),
    "inbound email": _l("Inbound email"),
    "job:tickets.clock_watch": _l("Clock watch"),
    "cli:import complaints": _l("Complaint import"),
    "cli": _l("Command line"),
    "demo-seed": _l("Demo data"),
    "survey answer page": _l("Survey answer page"),
}


# Where a ticket came from when nobody on the staff registered it (Ticket.source).
SOURCE_LABELS = {
    "staff": _l("Staff"),
    "web": _l("Public form"),
    "email": _l("Inbound email"),
    "portal-import": _l("Complaint import"),
    "cfpb": _l("CFPB import"),
    "survey": _l("Satisfaction survey"),
}


# The status moves as the ticket page's buttons name them: what the handler does.
TRANSITION_VERBS = {
    "acknowledged": _l("Acknowledge"),
    "in_progress": _l("Start work"),
    "waiting_on_customer": _l("Wait for the customer"),
    "resolved": _l("Resolve"),
    "closed": _l("Close ticket"),
    "withdrawn": _l("Withdraw"),
}
REOPEN_VERB = _l("Reopen")
RESUME_VERB = _l("Resume work")


def transition_verb(current: str, target: str) -> str:
    """The button for moving a `current` ticket to `target`: "Reopen" a resolved or closed
    one, "Resume work" on one waiting on the customer."""
    if target == "in_progress" and current in ("resolved", "closed"):
        return str(REOPEN_VERB)
    if target == "in_progress" and current == "waiting_on_customer":
        return str(RESUME_VERB)
    return str(TRANSITION_VERBS.get(target, target))


# The ticket's detail fields, as the history of an edit names them.
FIELD_LABELS = {
    "subject": lazy_pgettext("ticket", "Subject"),
    "channel_code": _l("Channel"),
    "business_code": _l("Business type"),
    "cause_code": _l("Cause"),
    "severity": _l("Severity"),
    "product": _l("Product"),
    "request": _l("Customer's request"),
    "description": _l("What happened"),
    "root_cause": _l("Root cause"),
    "redress_kind": _l("Redress"),
    "redress_amount": _l("Redress amount"),
}
US_RESPONSES = (
    "Closed with explanation",
    "Closed with monetary relief",
    "Closed with non-monetary relief",
    "In progress",
    "Untimely response",
)


def notice_label(kind: str, profile: str) -> str:
    """A notice's name in the ticket's regime (the CN decision notice, the UK final
    response...)."""
    return str(NOTICE_LABELS_BY_PROFILE.get((kind, profile), NOTICE_LABELS.get(kind, kind)))
