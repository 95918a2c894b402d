"""What a message says: rendered from its template and values when it is sent, and on demand
wherever it is shown before that.

Queueing renders nothing: the outbox row keeps the template key, the language and the values
the queueing room gave (`context`), so a day that queues 600,000 greetings writes no bodies, and
a message the contact policy holds back is never rendered at all. The delivery worker renders
each message as it builds the email — the batch's templates read once, inside its claim — signs
the unsubscribe link, adds the List-Unsubscribe headers, and stores the text and headers with
the sent message: what was sent stays on record when an admin edits the template later. Until
then the outbox pages, the customer 360 timeline and the data-subject export render a message
on demand, with the template as it is now. A row without a template key carries its text
ready-made (rows written before rendering moved here, erased ones) and is shown and sent as is.

Every message is rendered with `first_name` (the customer's given name as it is when rendered;
for a message to someone who is not a customer, the name the queueing room gave, stored in the
values), `firm`, `unsubscribe_url` (empty without a customer: such a message is transactional
and has no link), then the row's own values, which win.
"""

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Protocol
from urllib.parse import quote

from flask import Flask, current_app
from sqlalchemy import select

from portal.core.extensions import among, db
from portal.core.registry import contribute, contributions
from portal.customers.models import Customer
from portal.customers.pii import first_name
from portal.messaging.services import unsubscribe_token, unsubscribe_url
from portal.messaging.templates import render, render_subject, template_for

Template = tuple[str, str, str, bool]
RENDER_VALUES = "messaging.render_values"


def register_render_values(
    app: Flask, name: str, make_values: Callable[[Mapping[str, Any]], dict[str, Any]]
) -> None:
    """Let a higher room add values to every message it queued, made when the message is
    rendered from the row's stored values: what must not sit in the outbox (a signed link) is
    made here. `make_values` returns {} for messages that are not its own."""
    contribute(app, RENDER_VALUES, name, make_values)


class Source(Protocol):
    """What rendering reads from an outbox row (a `Message`, or a row selected with these)."""

    template_key: str | None
    locale: str
    context: Mapping[str, Any] | None
    customer_id: int | None
    purpose: str
    transactional: bool
    headers: Mapping[str, str] | None
    subject: str
    body_text: str
    body_html: str


@dataclass(frozen=True)
class Composed:
    subject: str
    body_text: str
    body_html: str
    headers: dict[str, str]  # beyond From, To, Subject, Date and Message-ID


class RenderFailed(Exception):
    """A message its template cannot render; `reason` names the template and the problem."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def stored(source: Source) -> Composed:
    """The text and headers the row holds."""
    return Composed(
        source.subject or "",
        source.body_text or "",
        source.body_html or "",
        dict(source.headers or {}),
    )


def as_sent(message: Any) -> bool:
    """Whether a message is shown with the text it holds — sent (rendered then), ready-made or
    erased — rather than rendered now."""
    return message.template_key is None or message.sent_at is not None


class Composer:
    """Renders outbox rows, reading each (template, language) once: one composer per batch or
    page, so an admin's edit is used from the next one on."""

    def __init__(self) -> None:
        config = current_app.config
        self.firm = config.get("FIRM_NAME", "Credit Care")
        domain = config.get("MAIL_DOMAIN") or "portal.invalid"
        self.mailto = config.get("UNSUBSCRIBE_MAILTO") or f"unsubscribe@{domain}"
        self._loaded: dict[tuple[str, str], Template] = {}
        # Values a higher room makes at render time from the row's own (a survey's signed
        # answer link): `register_render_values`.
        self._render_values = list(contributions(RENDER_VALUES).values())
        self._missing: dict[tuple[str, str], str] = {}

    def load(self, pairs: Iterable[tuple[str, str]]) -> None:
        """Read the templates of these (key, language) pairs now — delivery does it inside its
        claim's transaction, so that rendering the batch reads nothing more."""
        for key, locale in pairs:
            self._template(key, locale)

    def _template(self, key: str, locale: str) -> None:
        pair = (key, locale)
        if pair in self._loaded or pair in self._missing:
            return
        try:
            self._loaded[pair] = template_for(key, locale)
        except LookupError as error:
            self._missing[pair] = str(error)

    def _values(self, source: Source, name: str | None) -> tuple[dict[str, Any], str | None]:
        """The template values of `source`, and its unsubscribe token (None without a
        customer)."""
        token = None
        link = ""
        if source.customer_id is not None:
            token = unsubscribe_token(source.customer_id, source.purpose)
            link = unsubscribe_url(token)
        context = source.context or {}
        values = {
            "first_name": first_name(name),
            "firm": self.firm,
            "unsubscribe_url": link,
            **context,
        }
        for make_values in self._render_values:
            values.update(make_values(context))
        return values, token

    def _failure(self, source: Source, problem: object) -> RenderFailed:
        return RenderFailed(
            f"cannot render the template {source.template_key}/{source.locale}: {problem}"
        )

    def compose(self, source: Source, name: str | None) -> Composed:
        """The email `source` makes, for a customer called `name`; RenderFailed when its
        template cannot render it."""
        if source.template_key is None:
            return stored(source)
        key, locale = source.template_key, source.locale
        self._template(key, locale)
        if (key, locale) in self._missing:
            raise self._failure(source, self._missing[(key, locale)])
        values, token = self._values(source, name)
        try:
            rendered = render(key, locale, values, self._loaded)
        except Exception as error:  # an admin's template runs here: whatever it raises
            raise self._failure(source, error) from error
        headers = dict(source.headers or {})
        if token is not None and not source.transactional:
            headers["List-Unsubscribe"] = (
                f"<{values['unsubscribe_url']}>, <mailto:{self.mailto}?subject={quote(token)}>"
            )
            headers["List-Unsubscribe-Post"] = "List-Unsubscribe=One-Click"
        return Composed(rendered.subject, rendered.body_text, rendered.body_html, headers)

    def subject(self, source: Source, name: str | None) -> str:
        """The subject alone, for lists; empty when the template cannot render it."""
        if source.template_key is None:
            return source.subject or ""
        key, locale = source.template_key, source.locale
        self._template(key, locale)
        if (key, locale) in self._missing:
            return ""
        try:
            return render_subject(key, locale, self._values(source, name)[0], self._loaded)
        except Exception:  # shown as no subject; the message's page says why
            return ""


def names_of(customer_ids: Iterable[int | None]) -> dict[int, str]:
    """Customers' names by id, for rendering `first_name`."""
    ids = sorted({i for i in customer_ids if i is not None})
    names: dict[int, str] = {}
    for start in range(0, len(ids), 5000):
        rows = db.session.execute(
            select(Customer.id, Customer.name).where(among(Customer.id, ids[start : start + 5000]))
        )
        names.update((customer_id, name) for customer_id, name in rows)
    return names


def content_of(message: Any, composer: Composer | None = None) -> Composed:
    """What a message says, or said: the text it holds once sent (or ready-made), else
    rendered now. RenderFailed when it cannot be rendered."""
    if as_sent(message):
        return stored(message)
    name = names_of([message.customer_id]).get(message.customer_id or 0)
    return (composer or Composer()).compose(message, name)


def subjects_of(messages: list[Any]) -> list[str]:
    """The subjects of a page of messages, rendering those not sent yet ("" when one cannot
    be rendered)."""
    waiting = [m for m in messages if not as_sent(m)]
    names = names_of(m.customer_id for m in waiting)
    composer = Composer()
    return [
        m.subject or "" if as_sent(m) else composer.subject(m, names.get(m.customer_id or 0))
        for m in messages
    ]
