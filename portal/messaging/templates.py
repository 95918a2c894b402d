"""Email templates: defaults per kind and language, admin edits checked on save, rendering.

Templates are Jinja in a sandbox (an admin's template cannot reach Python objects) with HTML
autoescaping in the HTML part. A syntax error is refused when the admin saves, with its line,
so a message does not fail at send time because of its template; should one still fail (a
value missing from an old message), it fails alone, with the reason (compose.py).
"""

from dataclasses import dataclass
from datetime import date
from functools import lru_cache
from typing import Any

from flask_babel import lazy_gettext as _l
from jinja2 import StrictUndefined, TemplateSyntaxError, UndefinedError
from jinja2.sandbox import SandboxedEnvironment, SecurityError

from portal.core.calendars import end_of_day
from portal.core.config import PROJECT_ROOT
from portal.core.errors import ValidationFailed
from portal.core.extensions import db
from portal.core.i18n import firm_zone, format_day, format_deadline
from portal.messaging.models import MessageTemplate

SUBJECT_MAX = 300
BODY_MAX = 50_000

# Default templates live as files: templates/mail/<key>/<locale>.subject.txt, .txt and .html.
# CN commercial email carries the 「广告」 prefix; English defaults are not sent as ads.
DEFAULT_DIR = PROJECT_ROOT / "templates" / "mail"
AD_PREFIX_DEFAULT = {"zh_Hans": True}
TRANSACTIONAL_KINDS = {"reminder", "notice"}  # never advertising, whatever the language
TRANSACTIONAL_PREFIX = "ticket_"  # complaint notices and replies
# A satisfaction survey asks about a service the customer had; it advertises nothing.
NOT_ADVERTISING_PREFIX = "survey_"


def is_transactional(key: str) -> bool:
    return key in TRANSACTIONAL_KINDS or key.startswith(TRANSACTIONAL_PREFIX)


def is_advertising(key: str) -> bool:
    return not (is_transactional(key) or key.startswith(NOT_ADVERTISING_PREFIX))


SAMPLE_CONTEXT: dict[str, Any] = {
    "first_name": "Mei",
    "firm": "Example Consumer Finance",
    "festival": "Mid-Autumn Festival",
    "due_on": "2026-12-15",
    "account_last4": "1234",
    "unsubscribe_url": "https://portal.example.com/u/sample-token",
    # complaint-ticket notices and replies (tickets/channels/notices.py)
    "reference": "CMP-2026-000123",
    "kind": "complaint",
    "received_on": "30 Nov 2026",
    "deadline": "15 Dec 2026, end of day",
    "summary_deadline": "3 Dec 2026, end of day",
    "message": "We have asked the branch for the call recording.",
    "outcome": "The late fee is refunded.",
    "redress": "150.00",
    "company_response": "Closed with monetary relief",
    # survey invitations and reminders (surveys/planner.py; the links are made at render time)
    "question": "How likely are you to recommend us to a friend?",
    "subject_label": "CMP-2026-000123",
    "survey_url": "https://portal.example.com/s/sample-link",
    "score_urls": [
        (score, f"https://portal.example.com/s/sample-link?score={score}") for score in range(11)
    ],
}


SAMPLE_DAYS = {"received_on": date(2026, 11, 30)}
SAMPLE_DEADLINES = {"deadline": date(2026, 12, 15), "summary_deadline": date(2026, 12, 3)}


def sample_context(locale: str) -> dict[str, Any]:
    """The sample values with their dates written as a message in `locale` has them (a
    deadline is the last day of its period: tickets/channels/notices.py)."""
    zone = firm_zone()
    return {
        **SAMPLE_CONTEXT,
        **{name: format_day(day, locale) for name, day in SAMPLE_DAYS.items()},
        **{
            name: format_deadline(end_of_day(day, zone), locale)
            for name, day in SAMPLE_DEADLINES.items()
        },
    }


@dataclass(frozen=True)
class Rendered:
    subject: str
    body_text: str
    body_html: str


_text_env = SandboxedEnvironment(autoescape=False, undefined=StrictUndefined)
_html_env = SandboxedEnvironment(autoescape=True, undefined=StrictUndefined)


@lru_cache(maxsize=256)
def _compiled(source: str, html: bool) -> Any:
    return (_html_env if html else _text_env).from_string(source)


def check_template(subject: str, body_text: str, body_html: str) -> None:
    """Refuse a template that does not parse or render with the sample values, naming the part
    and the line."""
    for part, source, limit, html in (
        ("subject", subject, SUBJECT_MAX, False),
        ("body_text", body_text, BODY_MAX, False),
        ("body_html", body_html, BODY_MAX, True),
    ):
        if not source.strip():
            raise ValidationFailed(_l("This part of the template is empty."), field=part)
        if len(source) > limit:
            raise ValidationFailed(_l("At most %(limit)d characters.", limit=limit), field=part)
        try:
            _compiled(source, html).render(**SAMPLE_CONTEXT)
        except TemplateSyntaxError as error:
            raise ValidationFailed(
                _l("Line %(line)d: %(problem)s", line=error.lineno, problem=error.message or ""),
                field=part,
            ) from error
        except (UndefinedError, SecurityError, TypeError, ValueError) as error:
            raise ValidationFailed(
                _l(
                    "The template cannot be rendered: %(problem)s. Available values: %(names)s.",
                    problem=str(error),
                    names=", ".join(sorted(SAMPLE_CONTEXT)),
                ),
                field=part,
            ) from error


@lru_cache(maxsize=64)
def default_template(key: str, locale: str) -> tuple[str, str, str, bool] | None:
    """The shipped template of `key` in `locale` (files under templates/mail/), if any."""
    folder = DEFAULT_DIR / key
    subject = folder / f"{locale}.subject.txt"
    if not subject.is_file():
        return None
    ad = AD_PREFIX_DEFAULT.get(locale, False) and is_advertising(key)
    return (
        subject.read_text(encoding="utf-8").strip(),
        (folder / f"{locale}.txt").read_text(encoding="utf-8"),
        (folder / f"{locale}.html").read_text(encoding="utf-8"),
        ad,
    )


def default_keys() -> list[str]:
    return sorted(p.name for p in DEFAULT_DIR.iterdir() if p.is_dir())


def template_for(key: str, locale: str) -> tuple[str, str, str, bool]:
    """The admin's version of a template, else the shipped one; English when the customer's
    language has neither."""
    for candidate in (locale, "en"):
        stored = db.session.get(MessageTemplate, (key, candidate))
        if stored is not None:
            return stored.subject, stored.body_text, stored.body_html, stored.ad_prefix
        shipped = default_template(key, candidate)
        if shipped is not None:
            return shipped
    raise LookupError(f"no template {key!r}")


def _loaded(
    key: str, locale: str, loaded: dict[tuple[str, str], tuple[str, str, str, bool]] | None
) -> tuple[str, str, str, bool]:
    if loaded is None:
        return template_for(key, locale)
    if (key, locale) not in loaded:
        loaded[(key, locale)] = template_for(key, locale)
    return loaded[(key, locale)]


def _subject(source: str, ad_prefix: bool, locale: str, context: dict[str, Any]) -> str:
    rendered = " ".join(_compiled(source, False).render(**context).split())
    if ad_prefix:
        rendered = ("「广告」" if locale.startswith("zh") else "AD: ") + rendered
    return rendered[:SUBJECT_MAX]


def render(
    key: str,
    locale: str,
    context: dict[str, Any],
    loaded: dict[tuple[str, str], tuple[str, str, str, bool]] | None = None,
) -> Rendered:
    """Render one message; `loaded` caches the templates across a batch."""
    subject, text, html, ad_prefix = _loaded(key, locale, loaded)
    return Rendered(
        _subject(subject, ad_prefix, locale, context),
        _compiled(text, False).render(**context),
        _compiled(html, True).render(**context),
    )


def render_subject(
    key: str,
    locale: str,
    context: dict[str, Any],
    loaded: dict[tuple[str, str], tuple[str, str, str, bool]] | None = None,
) -> str:
    """The subject alone, for lists of messages."""
    subject, _text, _html, ad_prefix = _loaded(key, locale, loaded)
    return _subject(subject, ad_prefix, locale, context)
