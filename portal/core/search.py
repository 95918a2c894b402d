"""Text normalisation and index-friendly prefix matching shared by every search."""

import re
import unicodedata
from typing import Any

from sqlalchemy import ColumnElement, bindparam

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


def starts_with(column: Any, name: str, dialect: str) -> ColumnElement[bool]:
    """`column` begins with the pattern bound as `name` (see `prefix_pattern`), written so that
    a B-tree index on the column is used.

    PostgreSQL uses LIKE 'p%' with a text_pattern_ops index, the pattern written into the SQL:
    a prepared statement's generic plan could not use the index for a bound pattern. SQLite's
    LIKE ignores case and so cannot use an index, but its GLOB is case-sensitive and can.
    """
    if dialect == "sqlite":
        return column.op("GLOB")(bindparam(name))
    return column.like(bindparam(name, literal_execute=True), escape="\\")


def prefix_pattern(prefix: str, dialect: str) -> str:
    """The value for `starts_with`: the prefix with its wildcard characters made literal."""
    if dialect == "sqlite":
        return re.sub(r"([*?\[\]])", r"[\1]", prefix) + "*"
    return prefix.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"


def contains_pattern(text: str) -> str:
    """A LIKE pattern (escape character `/`) for values containing `text` literally."""
    return "%" + text.replace("/", "//").replace("%", "/%").replace("_", "/_") + "%"
