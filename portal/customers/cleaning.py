"""Cleaning what people type or import about a customer: checked, normalised, or refused.

The customer forms, the CSV import and the use cases share these, so a value means the same
whichever way it came in. Each raises ValidationFailed naming the field it refuses.
"""

import unicodedata
from datetime import date

from flask_babel import lazy_gettext as _l

from portal.accounts.services import normalise_email
from portal.core.config import LANGUAGES
from portal.core.errors import ValidationFailed
from portal.core.search import digits_only
from portal.core.timeutil import is_valid_timezone, utc_now


def clean_email(raw: str | None) -> str | None:
    """An optional email, checked and normalised as staff emails are."""
    text = (raw or "").strip()
    return normalise_email(text) if text else None


def clean_phone(raw: str | None) -> str | None:
    text = (raw or "").strip()
    if not text:
        return None
    digits = digits_only(text)
    if not 5 <= len(digits) <= 15 or any(c.isalpha() for c in text):
        raise ValidationFailed(_l("Enter a phone number of 5 to 15 digits."), field="phone")
    return ("+" if text.startswith("+") else "") + digits


def clean_birthday(value: date | str | None, today: date | None = None) -> date | None:
    if value in (None, ""):
        return None
    if isinstance(value, str):
        try:
            value = date.fromisoformat(value.strip())
        except ValueError as error:
            raise ValidationFailed(
                _l("Enter the birthday as YYYY-MM-DD (a real date)."), field="birthday"
            ) from error
    today = today or utc_now().date()
    if value > today or value.year < today.year - 130:
        raise ValidationFailed(
            _l("The birthday cannot be in the future or over 130 years ago."), field="birthday"
        )
    return value


def clean_timezone(raw: str | None, default: str) -> str:
    zone = (raw or "").strip() or default
    if not is_valid_timezone(zone):
        raise ValidationFailed(
            _l("Unknown time zone '%(zone)s' (use an IANA name such as Asia/Shanghai).", zone=zone),
            field="timezone",
        )
    return zone


def clean_locale(raw: str | None) -> str:
    value = (raw or "").strip() or "zh_Hans"
    aliases = {"zh": "zh_Hans", "zh-cn": "zh_Hans", "zh_cn": "zh_Hans", "zh-hans": "zh_Hans"}
    value = aliases.get(value.lower(), value)
    if value not in LANGUAGES:
        raise ValidationFailed(_l("Unknown language '%(value)s'.", value=raw), field="locale")
    return value


def clean_choice(
    raw: str | None, choices: type, field_name: str, default: str | None = None
) -> str:
    value = (raw or "").strip().lower() or (default or "")
    allowed = {c.value for c in choices}
    if value not in allowed:
        raise ValidationFailed(
            _l(
                "'%(value)s' is not one of: %(allowed)s.",
                value=raw or "",
                allowed=", ".join(sorted(allowed)),
            ),
            field=field_name,
        )
    return value


def _ascii_code(raw: str | None) -> str:
    """Numbers typed with full-width characters (Ｃ１２) become ASCII (C12), upper case."""
    return unicodedata.normalize("NFKC", raw or "").strip().upper()


def _is_code(text: str) -> bool:
    return text.isascii() and all(c.isalnum() or c in "-_" for c in text)


def clean_number(raw: str | None) -> str:
    number = _ascii_code(raw)
    if not number or len(number) > 32 or not _is_code(number):
        raise ValidationFailed(
            _l("Enter a customer number of 1 to 32 letters, digits, '-' or '_'."), field="number"
        )
    return number


def clean_name(raw: str | None) -> str:
    name = " ".join((raw or "").split())
    if not name or len(name) > 120:
        raise ValidationFailed(_l("Enter a name of 1 to 120 characters."), field="name")
    return name


def clean_id_number(raw: str | None) -> str | None:
    value = _ascii_code(raw)
    if not value:
        return None
    if len(value) > 32 or not (value.isascii() and value.isalnum()):
        raise ValidationFailed(_l("An ID number has at most 32 letters and digits."), "id_number")
    return value
