"""Reply templates (canned responses): text a handler inserts into a reply, for one cause or
any and one language, with placeholders filled from the ticket.

The reply's email greets the customer by name in their language (templates/mail/ticket_reply),
so a reply template holds the message alone, without a greeting, and a ticket is offered only
the templates in its complainant's language.

Placeholders are Jinja values in the sandbox the mail templates use — `{{ customer_name }}`,
`{{ first_name }}`, `{{ reference }}`, `{{ deadline }}`, `{{ received_on }}`, `{{ firm }}` —
checked when an admin saves, so inserting one never fails on the ticket page. Dates are
written in the template's language; `{{ deadline }}` is the last day of a complaint's
regulatory period ("6 Jan 2027, end of day"), empty for a ticket without one.
"""

from dataclasses import dataclass
from typing import Any

from flask import current_app
from flask_babel import lazy_gettext as _l
from jinja2 import StrictUndefined, TemplateSyntaxError
from jinja2.sandbox import SandboxedEnvironment
from sqlalchemy import or_, select
from sqlalchemy.exc import IntegrityError

from portal.core.access import Role
from portal.core.audit import Actor, record_event
from portal.core.errors import NotFound, PermissionDenied, ValidationFailed
from portal.core.extensions import db
from portal.core.transaction import use_case
from portal.customers.pii import first_name
from portal.tickets.access import get_ticket, require_handler
from portal.tickets.channels.notices import NOTICE_TEXT_MAX, notice_context, opens_with_greeting
from portal.tickets.models import Axis, ReplyTemplate, Ticket
from portal.tickets.notice_rules import complainant
from portal.tickets.taxonomy import check_code

NAME_MAX = 80
BODY_MAX = 5_000
LOCALES = ("en", "zh_Hans")
PLACEHOLDERS: dict[str, str] = {
    "customer_name": "Wang Mei",
    "first_name": "Mei",
    "reference": "CMP-2026-000123",
    "deadline": "15 Dec 2026, end of day",
    "received_on": "30 Nov 2026",
    "firm": "Example Consumer Finance",
}
_env = SandboxedEnvironment(autoescape=False, undefined=StrictUndefined)


@dataclass
class ReplyTemplateInput:
    name: str
    locale: str
    cause_code: str | None
    body: str
    active: bool = True


def _check(data: ReplyTemplateInput) -> dict[str, Any]:
    name = (data.name or "").strip()
    if not name or len(name) > NAME_MAX:
        raise ValidationFailed(_l("Give the template a name of at most 80 characters."), "name")
    if data.locale not in LOCALES:
        raise ValidationFailed(_l("Choose a language."), field="locale")
    body = (data.body or "").replace("\x00", "").strip()
    if not body or len(body) > BODY_MAX:
        raise ValidationFailed(_l("Write a text of at most 5,000 characters."), field="body")
    try:
        _env.from_string(body).render(**PLACEHOLDERS)
    except TemplateSyntaxError as error:
        raise ValidationFailed(
            _l("Line %(line)d: %(problem)s", line=error.lineno, problem=error.message or ""),
            field="body",
        ) from error
    except Exception as error:  # an admin's template may fail in any way: say so, on save
        raise ValidationFailed(
            _l(
                "The template cannot be filled: %(problem)s. Placeholders: %(names)s.",
                problem=str(error),
                names=", ".join(f"{{{{ {name} }}}}" for name in PLACEHOLDERS),
            ),
            field="body",
        ) from error
    if opens_with_greeting(body):
        raise ValidationFailed(
            _l("Leave out the greeting: the email greets the customer by name, in their language."),
            field="body",
        )
    cause = check_code(data.cause_code, Axis.CAUSE, "cause_code") if data.cause_code else None
    return {
        "name": name,
        "locale": data.locale,
        "cause_code": cause,
        "body": body,
        "active": bool(data.active),
    }


@use_case
def save(actor: Actor, template_id: int | None, data: ReplyTemplateInput) -> ReplyTemplate:
    if actor.role not in (Role.ADMIN, Role.LEAD) and not actor.is_system:
        raise PermissionDenied(_l("Only admins and leads edit reply templates."))
    values = _check(data)
    if template_id is None:
        template = ReplyTemplate(**values)
        db.session.add(template)
        before = None
    else:
        template = db.session.get(ReplyTemplate, template_id)
        if template is None:
            raise NotFound(_l("No such reply template."))
        before = {k: getattr(template, k) for k in values}
        for key, value in values.items():
            setattr(template, key, value)
    try:
        with db.session.begin_nested():
            db.session.flush()
    except IntegrityError as error:
        raise ValidationFailed(
            _l("A template of that name already exists in this language."), field="name"
        ) from error
    record_event(
        actor, "reply_template.saved", "reply_template", template.id, before=before, after=values
    )
    return template


def get_template(template_id: int) -> ReplyTemplate:
    template = db.session.get(ReplyTemplate, template_id)
    if template is None:
        raise NotFound(_l("No such reply template."))
    return template


def all_templates() -> list[ReplyTemplate]:
    return list(
        db.session.scalars(select(ReplyTemplate).order_by(ReplyTemplate.locale, ReplyTemplate.name))
    )


def for_ticket(ticket: Ticket) -> list[ReplyTemplate]:
    """The active templates in the complainant's language for the ticket's cause, then those
    for any cause."""
    rows = db.session.scalars(
        select(ReplyTemplate).where(
            ReplyTemplate.active.is_(True),
            ReplyTemplate.locale == complainant(ticket).locale,
            or_(ReplyTemplate.cause_code.is_(None), ReplyTemplate.cause_code == ticket.cause_code),
        )
    ).all()
    return sorted(rows, key=lambda t: (t.cause_code is None, t.name))


def fill(ticket: Ticket, template_id: int) -> str:
    template = db.session.get(ReplyTemplate, template_id)
    if template is None or not template.active:
        raise NotFound(_l("No such reply template."))
    who = complainant(ticket)
    if template.locale != who.locale:
        raise ValidationFailed(
            _l("This reply template is not in the complainant's language."), field="template"
        )
    context = notice_context(ticket, template.locale)  # dates in the template's language
    values = {
        "customer_name": who.name,
        "first_name": first_name(who.name) if who.name else "",
        "reference": ticket.reference,
        "deadline": context["deadline"],
        "received_on": context["received_on"],
        "firm": current_app.config.get("FIRM_NAME", ""),
    }
    try:
        return _env.from_string(template.body).render(**values)
    except Exception as error:  # checked with sample values; real ones can still break it
        raise ValidationFailed(
            _l(
                "This reply template cannot be filled for this ticket: %(problem)s",
                problem=str(error)[:200],
            )
        ) from error


def reply_text(actor: Actor, ticket_id: int, template_id: int | None, written: str) -> str:
    """The reply box's text: what the handler has `written` so far, with reply template
    `template_id` filled for the ticket added below it."""
    require_handler(actor)
    ticket = get_ticket(actor, ticket_id)
    written = written[:NOTICE_TEXT_MAX]
    if template_id is None:
        return written
    filled = fill(ticket, template_id)
    return f"{written.rstrip()}\n\n{filled}".strip() if written.strip() else filled
