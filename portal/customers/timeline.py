"""The customer 360 timeline: entries from every room, newest first, a page at a time.

Rooms above `customers` (tickets, messaging, surveys) register a provider at start-up instead
of being imported here. Each provider returns at most `limit` entries older than the cursor
from an index on (customer, time), so a page costs the same whatever the history's length.
"""

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from flask import Flask
from sqlalchemy import and_, bindparam, or_, true

from portal.core.extensions import db
from portal.core.pagination import Page
from portal.core.registry import contribute, contributions
from portal.core.requests import parse_id


@dataclass(frozen=True, order=True)
class Cursor:
    at: datetime
    kind: str
    key: int

    def encode(self) -> str:
        return f"{self.at.isoformat()}|{self.kind}|{self.key}"

    @classmethod
    def decode(cls, text: str | None) -> "Cursor | None":
        if not text:
            return None
        try:
            at_text, kind, key_text = text.split("|")
            at = datetime.fromisoformat(at_text)
            key = parse_id(key_text)
            if at.tzinfo is None or key is None:
                return None
            return cls(at.astimezone(UTC), kind, key)
        except (ValueError, OverflowError):
            return None


@dataclass(frozen=True)
class TimelineEntry:
    at: datetime
    kind: str
    key: int
    template: str  # partial that renders the entry, given `entry`
    data: Any

    @property
    def cursor(self) -> Cursor:
        return Cursor(self.at, self.kind, self.key)


Provider = Callable[[int, Cursor | None, int], list[TimelineEntry]]
PROVIDERS = "customers.timeline"


def register_provider(app: Flask, kind: str, provider: Provider) -> None:
    contribute(app, PROVIDERS, kind, provider)


def timeline_page(customer_id: int, before: Cursor | None, limit: int = 20) -> Page[TimelineEntry]:
    entries: list[TimelineEntry] = []
    for provider in contributions(PROVIDERS).values():
        entries.extend(provider(customer_id, before, limit + 1))
    entries.sort(key=lambda e: e.cursor, reverse=True)
    page = entries[:limit]
    more = len(entries) > limit
    return Page(page, page[-1].cursor.encode() if more and page else None)


@dataclass(frozen=True)
class Source:
    """Where one kind of entry is read from: `query()` selects the rows (built once), and the
    columns give each row's customer, time and id, indexed together."""

    kind: str
    query: Callable[[], Any]
    column_customer: Any
    column_at: Any
    column_id: Any

    def newest_first(self, customer_id: int, before: Cursor | None, limit: int) -> Any:
        """The customer's rows strictly after the cursor in (time, kind, id) descending order,
        newest first, at most `limit`: the statement's result."""
        relation = _relation(self.kind, before)
        statement = _statements.get((self.kind, relation))
        if statement is None:
            statement = (
                self.query()
                .where(
                    self.column_customer == bindparam("customer_id"),
                    _older_than(self.column_at, self.column_id, relation),
                )
                .order_by(self.column_at.desc(), self.column_id.desc())
                .limit(bindparam("limit"))
            )
            _statements[(self.kind, relation)] = statement
        params: dict[str, Any] = {"customer_id": customer_id, "limit": limit}
        if before is not None:
            params.update(before_at=before.at, before_key=before.key)
        return db.session.execute(statement, params)


# A source's statement, built once per position of the cursor and run with the customer, the
# cursor and the page size bound: building it cost a page more than running it.
_statements: dict[tuple[str, str], Any] = {}


def _relation(kind: str, before: Cursor | None) -> str:
    if before is None:
        return "all"
    if kind < before.kind:  # entries of this kind at the cursor's time sort after it
        return "at_or_before"
    if kind > before.kind:
        return "before"
    return "same_kind"


def _older_than(column_at: Any, column_id: Any, relation: str) -> Any:
    at, key = bindparam("before_at", type_=column_at.type), bindparam("before_key")
    if relation == "all":
        return true()
    if relation == "at_or_before":
        return column_at <= at
    if relation == "before":
        return column_at < at
    # The leading `<=` is implied by the rest, but it is what lets the (customer, time, id)
    # index seek straight to the cursor instead of filtering every newer row.
    return and_(column_at <= at, or_(column_at < at, and_(column_at == at, column_id < key)))
