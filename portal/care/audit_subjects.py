"""The room's subjects on the audit log page (accounts): care rules and campaigns, with the
labels of the fields their events record."""

from flask import Flask, url_for
from flask_babel import lazy_gettext as _l

from portal.accounts.audit_log import link_each, register_subject

RULE_FIELDS = {
    "enabled": _l("On"),
    "enabled_on": _l("Switched on"),
    "template_key": _l("Template"),
    "send_hour": _l("Send hour"),
    "days_before": _l("Days before the due date"),
}
CAMPAIGN_FIELDS = {
    "purpose": _l("Purpose"),
    "template_key": _l("Template"),
    "audience": _l("Audience"),
    "queued_at": _l("Queued"),
    "counts": _l("Counts"),
    "reasons": _l("Reasons"),
}


def _rules(_subject_id: str) -> str:
    return url_for("care.rules")


def _campaign_page(subject_id: str) -> str | None:
    if not subject_id.isdigit():
        return None
    return url_for("care.campaign", campaign_id=int(subject_id))


def register(app: Flask) -> None:
    register_subject(app, "care_rule", _l("Care rule"), link_each(_rules), RULE_FIELDS)
    register_subject(app, "campaign", _l("Campaign"), link_each(_campaign_page), CAMPAIGN_FIELDS)
