"""The room's subjects on the audit log page (accounts): customers, their contacts and
follow-ups (shown on the customer's page), and customer imports; with the labels of the
fields their events record."""

from collections.abc import Mapping

from flask import Flask, url_for
from flask_babel import lazy_gettext as _l
from sqlalchemy import select

from portal.accounts.audit_log import Link, Links, ids_as_ints, link_each, register_subject
from portal.core.extensions import db
from portal.customers.forms import FLAG_LABELS
from portal.customers.models import Customer, FollowUp, Interaction

CUSTOMER_FIELDS = {
    "number": _l("Customer number"),
    "phone": _l("Phone"),
    "id_number": _l("ID number"),
    "birthday": _l("Birthday"),
    "segment": _l("Segment"),
    "consent_care": _l("Consent to care messages"),
    "consent_survey": _l("Consent to surveys"),
    "consent_service": _l("Consent to service messages"),
    **FLAG_LABELS,
}
CONTACT_FIELDS = {
    "customer_id": _l("Customer"),
    "channel": _l("Channel"),
    "direction": _l("Direction"),
    "occurred_at": _l("When"),
    "summary": _l("Summary"),
    "outcome": _l("Outcome"),
    "follow_up_on": _l("Follow up on"),
}
FOLLOW_UP_FIELDS = {"due_on": _l("Due")}


def _customers(ids: list[str]) -> Mapping[str, Link]:
    found = db.session.execute(
        select(Customer.id, Customer.number).where(Customer.id.in_(ids_as_ints(ids)))
    )
    return {
        str(customer_id): Link(url_for("customers.show", customer_id=customer_id), number)
        for customer_id, number in found
    }


def _on_customer_page(model: type[Interaction] | type[FollowUp]) -> Links:
    """Contacts and follow-ups are shown on their customer's page."""

    def links(ids: list[str]) -> Mapping[str, Link]:
        found = db.session.execute(
            select(model.id, model.customer_id).where(model.id.in_(ids_as_ints(ids)))
        )
        return {
            str(row_id): Link(url_for("customers.show", customer_id=customer_id))
            for row_id, customer_id in found
        }

    return links


def _import_page(subject_id: str) -> str | None:
    if not subject_id.isdigit():
        return None
    return url_for("customers.import_result", import_id=int(subject_id))


def register(app: Flask) -> None:
    register_subject(app, "customer", _l("Customer"), _customers, CUSTOMER_FIELDS)
    register_subject(
        app, "interaction", _l("Contact"), _on_customer_page(Interaction), CONTACT_FIELDS
    )
    register_subject(
        app, "follow_up", _l("Follow-up"), _on_customer_page(FollowUp), FOLLOW_UP_FIELDS
    )
    register_subject(app, "customer_import", _l("Customer import"), link_each(_import_page))
