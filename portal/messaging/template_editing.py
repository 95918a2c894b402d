"""Editing the email templates: each kind and language as shipped or as an admin edited it,
the preview with sample values, saving and resetting — with the checks a saved template passes,
so that a message never fails at send time because of its template."""

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from flask_babel import lazy_gettext as _l
from jinja2 import TemplateSyntaxError, meta
from jinja2.sandbox import SandboxedEnvironment
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm.exc import StaleDataError

from portal.core.audit import Actor, record_event
from portal.core.config import LANGUAGES
from portal.core.errors import Conflict, NotFound, ValidationFailed
from portal.core.extensions import db
from portal.core.transaction import use_case
from portal.messaging.models import MessageTemplate
from portal.messaging.services import require_admin
from portal.messaging.templates import (
    Rendered,
    check_template,
    default_keys,
    default_template,
    render,
    sample_context,
    template_for,
)

# Every message is rendered with these (compose.py); the rest depends on the kind.
COMMON_NAMES = frozenset({"first_name", "firm", "unsubscribe_url"})
TEMPLATE_PARTS = ("subject", "body_text", "body_html")


@dataclass(frozen=True)
class TemplateSource:
    subject: str
    body_text: str
    body_html: str
    ad_prefix: bool

    def as_tuple(self) -> tuple[str, str, str, bool]:
        return self.subject, self.body_text, self.body_html, self.ad_prefix

    def snapshot(self) -> dict[str, Any]:
        return {
            "subject": self.subject,
            "body_text": self.body_text,
            "body_html": self.body_html,
            "ad_prefix": self.ad_prefix,
        }

    @classmethod
    def typed(
        cls, subject: str, body_text: str, body_html: str, ad_prefix: bool
    ) -> "TemplateSource":
        """What an admin typed, with a browser's CRLF line ends made plain."""

        def plain(text: str) -> str:
            return (text or "").replace("\r\n", "\n").replace("\r", "\n")

        return cls(plain(subject).strip(), plain(body_text), plain(body_html), bool(ad_prefix))


@dataclass(frozen=True)
class TemplateState:
    key: str
    locale: str
    source: TemplateSource
    edited: bool
    version: int  # 0 while the shipped template is in use
    updated_at: datetime | None


def check_key(key: str, locale: str) -> None:
    if locale not in LANGUAGES or key not in default_keys():
        raise NotFound(_l("No such template."))


def template_state(actor: Actor, key: str, locale: str) -> TemplateState:
    require_admin(actor)
    check_key(key, locale)
    stored = db.session.get(MessageTemplate, (key, locale))
    if stored is not None:
        source = TemplateSource(
            stored.subject, stored.body_text, stored.body_html, stored.ad_prefix
        )
        return TemplateState(key, locale, source, True, stored.version, stored.updated_at)
    shipped = default_template(key, locale)
    if shipped is None:  # a kind shipped in English only: start from the English text
        shipped = template_for(key, locale)
    return TemplateState(key, locale, TemplateSource(*shipped), False, 0, None)


def template_overview(actor: Actor) -> list[TemplateState]:
    """Every kind in every language, shipped or edited."""
    require_admin(actor)
    return [template_state(actor, key, locale) for key in default_keys() for locale in LANGUAGES]


# Parses admins' templates to list the values they use (the sandbox is the one they run in).
_names_env = SandboxedEnvironment()


def _shipped(key: str, locale: str) -> TemplateSource:
    """The template a language falls back to once an admin's edit is reset."""
    shipped = default_template(key, locale) or default_template(key, "en")
    if shipped is None:
        raise NotFound(_l("No such template."))
    return TemplateSource(*shipped)


def available_names(key: str) -> list[str]:
    """The values a template of `key` may use: those every message gets, and those its shipped
    templates use, which the room queueing that kind is known to pass. Anything else would be
    missing when a message is rendered, so it is refused when the template is saved."""
    names = set(COMMON_NAMES)
    for locale in LANGUAGES:
        shipped = default_template(key, locale)
        for source in (shipped or ())[:3]:
            names |= meta.find_undeclared_variables(_names_env.parse(source))
    return sorted(names - set(_names_env.globals))


def _line_of(source: str, name: str) -> int:
    for line, kind, value in _names_env.lex(source):
        if kind == "name" and value == name:
            return line
    return 1


def check_source(key: str, source: TemplateSource) -> None:
    """Refuse a template that does not parse, render, or uses a value its kind does not get;
    the error names the part and the line."""
    check_template(source.subject, source.body_text, source.body_html)
    allowed = set(available_names(key))
    for part in TEMPLATE_PARTS:
        text = getattr(source, part)
        try:
            used = meta.find_undeclared_variables(_names_env.parse(text))
        except TemplateSyntaxError:  # check_template has refused it already
            continue
        unknown = sorted(used - allowed - set(_names_env.globals))
        if unknown:
            raise ValidationFailed(
                _l(
                    "Line %(line)d: %(name)s is not available in this kind of message. "
                    "Available values: %(names)s.",
                    line=_line_of(text, unknown[0]),
                    name=unknown[0],
                    names=", ".join(sorted(allowed)),
                ),
                field=part,
            )


def preview_template(actor: Actor, key: str, locale: str, source: TemplateSource) -> Rendered:
    """The message `source` would make, with sample values; nothing is stored."""
    require_admin(actor)
    check_key(key, locale)
    check_source(key, source)
    return render(key, locale, sample_context(locale), {(key, locale): source.as_tuple()})


def _changed_meanwhile(*_use_case_args: Any, **_use_case_kwargs: Any) -> Conflict:
    return Conflict(_l("Someone else changed this template in the meantime. Reload and try again."))


# Two admins saving the first edit of one template at once both insert it: IntegrityError.
@use_case(stale=_changed_meanwhile, conflicts=(StaleDataError, IntegrityError))
def save_template(
    actor: Actor, key: str, locale: str, source: TemplateSource, version: int | None
) -> TemplateState:
    """Store an admin's template for one kind and language, made from `version` (0: from the
    shipped one; None, a form that lost it, is refused like an outdated one). A template that
    would fail when a message is rendered is refused here."""
    current = template_state(actor, key, locale)
    if version != current.version:
        raise _changed_meanwhile()
    check_source(key, source)
    stored = db.session.get(MessageTemplate, (key, locale))
    if stored is None:
        stored = MessageTemplate(key=key, locale=locale, **source.snapshot())
        db.session.add(stored)
    else:
        for name, value in source.snapshot().items():
            setattr(stored, name, value)
    record_event(
        actor,
        "message_template.saved",
        "message_template",
        f"{key}/{locale}",
        before=current.source.snapshot(),
        after=source.snapshot(),
    )
    db.session.flush()  # the new version, for the state returned
    return template_state(actor, key, locale)


@use_case(stale=_changed_meanwhile)
def reset_template(actor: Actor, key: str, locale: str, version: int | None) -> bool:
    """Drop the admin's template so the shipped one is used again; False if there was none.
    `version` is the one the admin saw, as for saving."""
    current = template_state(actor, key, locale)
    if not current.edited:
        return False
    if version != current.version:
        raise _changed_meanwhile()
    stored = db.session.get(MessageTemplate, (key, locale))
    db.session.delete(stored)
    record_event(
        actor,
        "message_template.reset",
        "message_template",
        f"{key}/{locale}",
        before=current.source.snapshot(),
        after=_shipped(key, locale).snapshot(),
    )
    return True
