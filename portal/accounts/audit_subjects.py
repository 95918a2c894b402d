"""The room's subjects on the audit log page: staff users."""

from flask import Flask, url_for
from flask_babel import lazy_gettext as _l

from portal.accounts.audit_log import link_each, register_subject


def _user_page(subject_id: str) -> str | None:
    return (
        url_for("accounts.user_detail", user_id=int(subject_id)) if subject_id.isdigit() else None
    )


def register(app: Flask) -> None:
    register_subject(app, "user", _l("User"), link_each(_user_page))
