"""Masking of personal identifiers for display, exports and logs."""

from portal.core.search import is_cjk


def mask_phone(phone: str | None) -> str:
    """`13812345678` → `138****5678`; shorter numbers keep only their last two digits."""
    if not phone:
        return ""
    digits = phone.lstrip("+")
    prefix = "+" if phone.startswith("+") else ""
    if len(digits) >= 11:
        return f"{prefix}{digits[:-8]}****{digits[-4:]}"
    if len(digits) > 4:
        return f"{prefix}{'*' * (len(digits) - 2)}{digits[-2:]}"
    return "*" * len(digits)


def mask_id_number(id_number: str | None) -> str:
    """Keep the first and last two characters of an identity document number."""
    if not id_number:
        return ""
    if len(id_number) <= 4:
        return "*" * len(id_number)
    return f"{id_number[:2]}{'*' * (len(id_number) - 4)}{id_number[-2:]}"


def first_name(name: str | None) -> str:
    """The only part of a name a message may carry: the given name of a Chinese name (the
    characters after a one-character surname), the first word of any other."""
    text = (name or "").strip()
    if not text:
        return ""
    if len(text) >= 2 and all(is_cjk(ch) for ch in text):
        return text[1:]
    return text.split()[0]


def mask_email(email: str | None) -> str:
    """`alice@example.com` → `a…@example.com`: enough for its owner to recognise it."""
    if not email or "@" not in email:
        return ""
    local, domain = email.rsplit("@", 1)
    return f"{local[:1]}…@{domain}"
