"""The room's subjects on the audit log page (accounts): outbox messages, email templates and
suppressed addresses, with the labels of the fields their events record."""

from flask import Flask, url_for
from flask_babel import lazy_gettext as _l

from portal.accounts.audit_log import link_each, register_subject

MESSAGE_FIELDS = {
    "attempts": _l("Attempts"),
    "next_attempt_at": _l("Next attempt"),
    "last_error": _l("Last error"),
}
TEMPLATE_FIELDS = {
    "subject": _l("Subject"),
    "body_text": _l("Plain text"),
    "body_html": _l("HTML"),
    "ad_prefix": _l("Marked as advertising"),
}


def _message_page(subject_id: str) -> str | None:
    if not subject_id.isdigit():
        return None
    return url_for("messaging.message", message_id=int(subject_id))


def _template_page(subject_id: str) -> str | None:
    key, _, locale = subject_id.partition("/")  # "birthday/zh_Hans"
    return url_for("messaging.template_edit", key=key, locale=locale) if key and locale else None


def _suppressions(_subject_id: str) -> str:
    return url_for("messaging.suppressions")


def register(app: Flask) -> None:
    register_subject(app, "message", _l("Message"), link_each(_message_page), MESSAGE_FIELDS)
    register_subject(
        app, "message_template", _l("Email template"), link_each(_template_page), TEMPLATE_FIELDS
    )
    register_subject(
        app,
        "mail_suppression",
        _l("Suppressed address"),
        link_each(_suppressions),
        {"address": _l("Address")},
    )
