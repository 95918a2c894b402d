"""Language and time zone of the person looking at a page."""

from zoneinfo import ZoneInfo

from flask import current_app, has_request_context, request, session
from flask_login import current_user

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
