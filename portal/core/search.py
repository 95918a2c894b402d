"""Text normalisation and index-friendly prefix matching shared by every search."""

import re
import unicodedata
from typing import Any

from sqlalchemy import ColumnElement

_SPACES = re.compile(r"\s+")


def normalise_text(text: str) -> str:
    """NFKC (full-width letters and digits become ASCII), lower case, single spaces."""
    return _SPACES.sub(" ", unicodedata.normalize("NFKC", text or "")).strip().lower()


def digits_only(text: str) -> str:
    return "".join(ch for ch in unicodedata.normalize("NFKC", text or "") if ch.isdigit())


def is_cjk(ch: str) -> bool:
    code = ord(ch)
    return (
        0x3400 <= code <= 0x4DBF
        or 0x4E00 <= code <= 0x9FFF
        or 0xF900 <= code <= 0xFAFF
        or 0x20000 <= code <= 0x2FFFF
    )


def starts_with(column: Any, prefix: str, dialect: str) -> ColumnElement[bool]:
    """`column` begins with `prefix`, written so that a B-tree index on the column is used.

    PostgreSQL uses LIKE 'p%' with a text_pattern_ops index; SQLite's LIKE ignores case and so
    cannot use an index, but its GLOB is case-sensitive and can.
    """
    if dialect == "sqlite":
        escaped = re.sub(r"([*?\[\]])", r"[\1]", prefix)
        return column.op("GLOB")(escaped + "*")
    escaped = prefix.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return column.like(escaped + "%", escape="\\")
