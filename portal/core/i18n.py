"""Language and time zone of the person looking at a page, and the dates they are told."""

from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

from babel import dates as babel_dates
from flask import Flask, current_app, has_request_context, request, session
from flask_babel import force_locale, get_locale, gettext
from flask_login import current_user

from portal.core.timeutil import as_utc, parse_instant

_ACCEPT_OFFERS = {
    "en": "en",
    "en-US": "en",
    "en-GB": "en",
    "zh": "zh_Hans",
    "zh-CN": "zh_Hans",
    "zh-Hans": "zh_Hans",
    "zh-Hans-CN": "zh_Hans",
    "zh-SG": "zh_Hans",
}


def select_locale() -> str:
    languages = current_app.config["LANGUAGES"]
    if not has_request_context():  # CLI and jobs speak the deployment's default language
        return current_app.config["BABEL_DEFAULT_LOCALE"]
    if current_user and current_user.is_authenticated and current_user.locale in languages:
        return current_user.locale
    chosen = session.get("locale")
    if chosen in languages:
        return chosen
    best = request.accept_languages.best_match(list(_ACCEPT_OFFERS))
    return _ACCEPT_OFFERS.get(best or "", current_app.config["BABEL_DEFAULT_LOCALE"])


def select_timezone() -> str:
    if not has_request_context():
        return current_app.config["DEFAULT_TIMEZONE"]
    if current_user and current_user.is_authenticated and current_user.timezone:
        return current_user.timezone
    return current_app.config["DEFAULT_TIMEZONE"]


def html_lang(locale: str) -> str:
    """BCP 47 tag for <html lang> from a Babel locale name."""
    return locale.replace("_", "-")


def viewer_zone() -> ZoneInfo:
    """The viewer's zone as a zoneinfo object (Flask-Babel's pytz zones must not be used with
    datetime.replace: they would attach local mean time)."""
    return ZoneInfo(select_timezone())


# ---------------------------------------------------------------- dates a reader is told


def firm_zone() -> ZoneInfo:
    """The firm's zone, in which periods of days are counted and their last days named."""
    return ZoneInfo(current_app.config["DEFAULT_TIMEZONE"])


def reader_language(language: str | None = None) -> str:
    """`language` when given (a customer's, a template's), else the viewer's; English for one
    the portal does not speak, as an email in it falls back to its English template."""
    chosen = str(language or get_locale() or current_app.config["BABEL_DEFAULT_LOCALE"])
    return chosen if chosen in current_app.config["LANGUAGES"] else "en"


def last_day(end: datetime, zone: ZoneInfo | None = None) -> date:
    """The last day of a period that ends at `end`: a deadline is stored as 24:00 of its last
    day in the firm's zone, which is 00:00 of the next day, so the day before that midnight."""
    local = as_utc(end).astimezone(zone or firm_zone())
    return (local - timedelta(microseconds=1)).date()


def format_day(day: date | datetime, language: str | None = None) -> str:
    """A calendar day in the reader's language, in the one pattern every page and email uses
    for it (Babel's medium: "Dec 22, 2026", "2026年12月22日"); an instant is first taken to its
    date in the firm's zone."""
    if isinstance(day, datetime):
        day = as_utc(day).astimezone(firm_zone()).date()
    return babel_dates.format_date(day, "medium", locale=reader_language(language))


def format_deadline(end: datetime, language: str | None = None) -> str:
    """A deadline as its reader is told it: the last day of the period, which counts whole,
    in the firm's zone and the reader's language — "Jan 6, 2027, end of day",
    "2027年1月6日24时前" (docs/regulation.md, "How a deadline is shown")."""
    language = reader_language(language)
    day = format_day(last_day(end), language)
    if language == str(get_locale()):
        return gettext("%(day)s, end of day", day=day)
    with force_locale(language):
        return gettext("%(day)s, end of day", day=day)


def format_instant(
    moment: datetime, language: str | None = None, zone: ZoneInfo | None = None
) -> str:
    """A real instant (an internal target at 15:00) as date and time in `zone`, else the
    viewer's, with the pattern the rest of the staff pages use."""
    return babel_dates.format_datetime(
        as_utc(moment), "short", tzinfo=zone or viewer_zone(), locale=reader_language(language)
    )


def _instant(value: datetime | str | None) -> datetime | None:
    if value is None or value == "":
        return None
    if isinstance(value, str):  # as event data holds it
        try:
            return parse_instant(value)
        except ValueError:
            return None
    return value


def deadline_filter(value: datetime | str | None) -> str:
    """Jinja: `{{ ticket.due_at | deadline }}`; "—" when there is none."""
    instant = _instant(value)
    return "—" if instant is None else format_deadline(instant)


def init_dates(app: Flask) -> None:
    app.add_template_filter(deadline_filter, "deadline")
