"""The messaging room's use cases hold their rules without a view, and own their transaction."""

import pytest
from sqlalchemy import select, update

from portal.accounts.services import actor_for
from portal.core.audit import Actor, AuditEvent
from portal.core.errors import Conflict, PermissionDenied
from portal.core.extensions import db as _db
from portal.core.timeutil import utc_now
from portal.customers.models import Customer
from portal.messaging import outbox, services, template_editing
from portal.messaging.models import MessageTemplate, Suppression
from tests.factories import make_customer, make_user

ADMIN = Actor.system("test")


def actions() -> list[str]:
    _db.session.expire_all()
    return list(_db.session.scalars(select(AuditEvent.action).order_by(AuditEvent.id)))


def shipped(key: str = "birthday", locale: str = "en") -> template_editing.TemplateSource:
    return template_editing.template_state(ADMIN, key, locale).source


def edited(subject: str) -> template_editing.TemplateSource:
    source = shipped()
    return template_editing.TemplateSource(
        subject, source.body_text, source.body_html, source.ad_prefix
    )


def test_only_admins_edit_templates_and_lift_suppressions(db) -> None:
    handler = actor_for(make_user(role="handler"))
    _db.session.add(
        Suppression(address="gone@mail.example.com", reason="550", created_at=utc_now())
    )
    _db.session.commit()
    with pytest.raises(PermissionDenied):
        template_editing.save_template(handler, "birthday", "en", edited("Hi {{ first_name }}"), 0)
    with pytest.raises(PermissionDenied):
        template_editing.reset_template(handler, "birthday", "en", 0)
    with pytest.raises(PermissionDenied):
        outbox.remove_suppression(handler, "gone@mail.example.com")
    assert _db.session.get(MessageTemplate, ("birthday", "en")) is None
    assert _db.session.get(Suppression, "gone@mail.example.com") is not None
    assert actions() == []


def test_a_template_edit_without_the_version_it_was_made_from_is_refused(db) -> None:
    with pytest.raises(Conflict):
        template_editing.save_template(ADMIN, "birthday", "en", edited("Hi {{ first_name }}"), None)
    assert _db.session.get(MessageTemplate, ("birthday", "en")) is None
    saved = template_editing.save_template(
        ADMIN, "birthday", "en", edited("Hi {{ first_name }}"), 0
    )
    assert (saved.edited, saved.version) == (True, 1)
    with pytest.raises(Conflict):
        template_editing.reset_template(ADMIN, "birthday", "en", None)
    assert template_editing.reset_template(ADMIN, "birthday", "en", 1) is True
    assert actions() == ["message_template.saved", "message_template.reset"]


def test_a_template_changed_behind_the_editors_back_is_a_conflict_and_nothing_is_kept(db) -> None:
    template_editing.save_template(ADMIN, "birthday", "en", edited("First {{ first_name }}"), 0)
    _db.session.get(MessageTemplate, ("birthday", "en"))  # the editor has read version 1 ...
    _db.session.execute(  # ... when another admin saves version 2
        update(MessageTemplate)
        .where(MessageTemplate.key == "birthday", MessageTemplate.locale == "en")
        .values(version=2)
        .execution_options(synchronize_session=False)
    )
    with pytest.raises(Conflict, match="Someone else changed this template"):
        template_editing.save_template(
            ADMIN, "birthday", "en", edited("Second {{ first_name }}"), 1
        )
    _db.session.expire_all()
    stored = _db.session.get(MessageTemplate, ("birthday", "en"))
    assert stored.subject == "First {{ first_name }}"
    assert actions() == ["message_template.saved"]


def test_an_overlong_unsubscribe_token_is_refused_before_it_is_read(db, monkeypatch) -> None:
    customer = make_customer(consent_care=True)
    token = services.unsubscribe_token(customer.id, "care")
    monkeypatch.setattr(services, "UNSUBSCRIBE_TOKEN_MAX", len(token) - 1)
    assert services.read_unsubscribe_token(token) is None
    assert services.unsubscribe_link(token) is None
    assert services.unsubscribe(services.UNSUBSCRIBE_LINK, token, "test") is None
    assert _db.session.get(Customer, customer.id).consent_care is True
    assert actions() == []


def test_unsubscribing_commits_its_opt_out_and_a_second_click_records_nothing(db) -> None:
    customer = make_customer(consent_care=True)
    token = services.unsubscribe_token(customer.id, "care")
    first = services.unsubscribe(services.UNSUBSCRIBE_LINK, token, "test")
    _db.session.rollback()  # whatever a caller does next, the opt-out is kept
    second = services.unsubscribe(services.UNSUBSCRIBE_LINK, token, "test")
    assert (first.changed, second.changed) == (True, False)
    assert _db.session.get(Customer, customer.id).consent_care is False
    assert actions() == ["customer.unsubscribed"]
