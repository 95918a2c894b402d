"""Keyset pagination: a page of rows and the key that asks for the next one."""

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from portal.core.extensions import db

T = TypeVar("T")


@dataclass(frozen=True)
class Page(Generic[T]):
    rows: list[T]
    next_key: object | None


def newest_first(
    query: Any, id_column: Any, before: int | None, size: int
) -> tuple[list[Any], int | None]:
    """One page of `query`'s rows by descending id, those below id `before`, and the `before`
    of the following page (None on the last)."""
    if before is not None:
        query = query.where(id_column < before)
    rows = list(db.session.scalars(query.order_by(id_column.desc()).limit(size + 1)))
    return rows[:size], rows[size - 1].id if len(rows) > size else None


def keyset_batches(query: Any, key: Any, size: int, after: Any = None) -> Iterator[list[Any]]:
    """All of `query`'s rows in batches of `size` by ascending `key` (its first column), those
    after `after`: each batch starts after the last key of the one before, so a walk over a
    big table reads each row once and holds one batch at a time (the planners' jobs)."""
    last = after
    while True:
        batch = query if last is None else query.where(key > last)
        rows = db.session.execute(batch.order_by(key).limit(size)).all()
        if rows:
            yield rows
        if len(rows) < size:
            return
        last = rows[-1][0]
