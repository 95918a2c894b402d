"""The room's subjects on the audit log page (accounts): tickets, reply templates, taxonomy
codes and complaint imports, with the labels of the fields their events record. (A ticket's
own history is its events, on the ticket page.)"""

from flask import Flask, url_for
from flask_babel import lazy_gettext as _l

from portal.accounts.audit_log import link_each, register_subject

TAXONOMY_FIELDS = {
    "parent": _l("Parent code"),
    "label_zh": _l("Label (Chinese)"),
    "label_en": _l("Label (English)"),
}
REPLY_TEMPLATE_FIELDS = {"cause_code": _l("Cause"), "body": _l("Text")}


def _ticket_page(subject_id: str) -> str | None:
    return url_for("tickets.show", ticket_id=int(subject_id)) if subject_id.isdigit() else None


def _reply_template_page(subject_id: str) -> str | None:
    if not subject_id.isdigit():
        return None
    return url_for("correspondence.reply_templates", template_id=int(subject_id))


def _taxonomy(_subject_id: str) -> str:
    return url_for("tickets.taxonomy_page")


def register(app: Flask) -> None:
    register_subject(app, "ticket", _l("Ticket"), link_each(_ticket_page))
    register_subject(
        app,
        "reply_template",
        _l("Reply template"),
        link_each(_reply_template_page),
        REPLY_TEMPLATE_FIELDS,
    )
    register_subject(app, "taxonomy", _l("Taxonomy code"), link_each(_taxonomy), TAXONOMY_FIELDS)
    register_subject(app, "ticket_import", _l("Complaint import"))
