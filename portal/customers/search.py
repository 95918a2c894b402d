"""Finding customers: the search by partial name, number, email or phone, and the list by name.

What a search reads is written with the customer: the terms of their name (`search_terms`, kept
in customer_search_terms) and their phone's digits backwards (`reversed_digits`), each behind an
index, so that no search reads the whole table.
"""

from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from sqlalchemy import and_, bindparam, func, literal_column, select, union_all
from sqlalchemy.orm import aliased

from portal.core.access import Role
from portal.core.audit import Actor
from portal.core.extensions import db, dialect_name
from portal.core.pagination import Page
from portal.core.requests import parse_id
from portal.core.search import (
    contains_pattern,
    digits_only,
    is_cjk,
    normalise_text,
    prefix_pattern,
    starts_with,
)
from portal.customers.models import FLAGS, Customer, CustomerSearchTerm, Segment

TERM_MAX = 24
CJK_SUBSTRING_MAX = 8
BROAD_PREFIX = 1000
VISIBLE_PHONE_DIGITS = 4


# ---------------------------------------------------------------- what is stored for a search


def search_terms(name: str) -> set[str]:
    """What a partial name search may type: substrings of CJK words, prefixes of others."""
    terms: set[str] = set()
    for word in normalise_text(name).split(" "):
        if not word:
            continue
        if any(is_cjk(ch) for ch in word):
            # every substring of up to CJK_SUBSTRING_MAX characters, wherever it starts
            piece = word[:TERM_MAX]
            for start in range(len(piece)):
                for end in range(start + 1, min(start + CJK_SUBSTRING_MAX, len(piece)) + 1):
                    terms.add(piece[start:end])
        else:
            for end in range(1, min(len(word), TERM_MAX) + 1):
                terms.add(word[:end])
    return terms


def _term_of(word: str) -> str:
    """A typed word cut to the longest term stored for it, so a long name still matches."""
    return word[:CJK_SUBSTRING_MAX] if any(is_cjk(ch) for ch in word) else word[:TERM_MAX]


def reversed_digits(phone: str | None) -> str | None:
    """The phone's digits backwards: what lets an index find a phone by its last digits."""
    return digits_only(phone or "")[::-1] or None


# ---------------------------------------------------------------- reading customers


@dataclass
class CustomerFilters:
    query: str = ""
    segment: str = ""
    owner_id: int | None = None
    flag: str = ""
    after: str = ""  # keyset: "<name>|<id>" for the list, "<id>" for a search


# The statements of a search are built once per shape (which lookups, which filters) and run
# with the values bound: building SQLAlchemy statements cost a live search more than running them.


@dataclass(frozen=True)
class _Scope:
    own_book: bool  # an RM sees their own customers only
    owner: bool
    segment: bool
    flag: str


def _scope_of(actor: Actor, filters: CustomerFilters) -> tuple[_Scope, dict[str, Any]]:
    own_book = actor.role == Role.RM
    owner = not own_book and filters.owner_id is not None
    segment = filters.segment in {s.value for s in Segment}
    params: dict[str, Any] = {}
    if own_book or owner:
        params["owner_id"] = actor.user_id if own_book else filters.owner_id
    if segment:
        params["segment"] = filters.segment
    return _Scope(own_book, owner, segment, filters.flag if filters.flag in FLAGS else ""), params


def _scoped(stmt: Any, scope: _Scope) -> Any:
    stmt = stmt.where(Customer.erased_at.is_(None))
    if scope.own_book or scope.owner:
        stmt = stmt.where(Customer.owner_id == bindparam("owner_id"))
    if scope.segment:
        stmt = stmt.where(Customer.segment == bindparam("segment"))
    if scope.flag:
        stmt = stmt.where(getattr(Customer, scope.flag).is_(True))
    return stmt


@dataclass(frozen=True)
class _SearchShape:
    dialect: str
    scope: _Scope
    confirm: tuple[bool, ...]  # per typed word: longer than any stored term, the name confirms
    # (column, plan) per prefix lookup; on SQLite the plan is "index" for a narrow prefix (read
    # its index range, sort by id) or "walk" for a broad one (walk ids, test each, stop early)
    prefixes: tuple[tuple[str, str], ...]
    phone_exact: bool
    limit: int


@lru_cache(maxsize=512)
def _search_statement(shape: _SearchShape) -> Any:
    """Every kind of match is looked up separately through its own index (no LIKE '%…%' over
    the table), each as a subquery keeping its own plan; the page is the first ids of their
    union, in one round trip."""
    lookups: list[Any] = []

    def collect(stmt: Any, by_id_order: Any = Customer.id) -> None:
        stmt = _scoped(stmt, shape.scope).where(Customer.id > bindparam("after"))
        lookups.append(stmt.order_by(by_id_order).limit(shape.limit + 1).subquery())

    terms = aliased(CustomerSearchTerm)
    name_stmt = (
        select(Customer.id)
        .join(terms, terms.customer_id == Customer.id)
        .where(terms.term == bindparam("term_0"))
    )
    for index in range(1, len(shape.confirm)):
        more = aliased(CustomerSearchTerm)
        name_stmt = name_stmt.join(
            more, and_(more.customer_id == Customer.id, more.term == bindparam(f"term_{index}"))
        )
    for index, confirm in enumerate(shape.confirm):
        if confirm:
            name_stmt = name_stmt.where(
                func.lower(Customer.name).like(bindparam(f"word_{index}"), escape="/")
            )
    collect(name_stmt, terms.customer_id)  # the term index is already in id order: no sort
    for key, plan in shape.prefixes:
        if plan == "walk":  # +column: the index cannot serve the test, so the id walk is used
            condition = starts_with(literal_column(f"+customers.{key}"), key, shape.dialect)
            collect(select(Customer.id).where(condition))
        else:  # +id on SQLite: the primary key cannot serve the order, so the index range is
            order = literal_column("+customers.id") if plan == "index" else Customer.id
            collect(
                select(Customer.id).where(
                    starts_with(Customer.__table__.c[key], key, shape.dialect)
                ),
                order,
            )
    if shape.phone_exact:
        collect(select(Customer.id).where(Customer.phone.in_(bindparam("phones", expanding=True))))
    matches = [select(lookup.c.id) for lookup in lookups]
    merged = (union_all(*matches) if len(matches) > 1 else matches[0]).subquery()
    page_ids = select(merged.c.id).distinct().order_by(merged.c.id).limit(shape.limit + 1)
    return select(Customer).where(Customer.id.in_(page_ids.scalar_subquery())).order_by(Customer.id)


@lru_cache(maxsize=16)
def _prefix_counts_statement(keys: tuple[str, ...]) -> Any:
    """SQLite: how many rows (capped) each prefix matches, from the prefix indexes, at once."""
    counts = []
    for key in keys:
        capped = (
            select(literal_column("1"))
            .select_from(Customer)
            .where(starts_with(Customer.__table__.c[key], key, "sqlite"))
            .limit(bindparam("cap"))
            .subquery()
        )
        counts.append(select(func.count()).select_from(capped).scalar_subquery())
    return select(*counts)


def search_customers(actor: Actor, filters: CustomerFilters, limit: int = 50) -> Page[Customer]:
    """Customers the actor may see, by partial name, number, email or phone; a page at a time.

    Without a query the list is ordered by name. With one, the page is ordered by id so that
    the keyset is simple and stable.
    """
    query = normalise_text(filters.query)[:100]
    if not query:
        return _list_by_name(actor, filters, limit)
    dialect = dialect_name()
    scope, params = _scope_of(actor, filters)
    params["after"] = parse_id(filters.after) or 0
    typed = [w for w in query.split(" ") if w]
    words = [_term_of(w) for w in typed]
    for index, (word, term) in enumerate(zip(typed, words, strict=True)):
        params[f"term_{index}"] = term
        if word != term:
            params[f"word_{index}"] = contains_pattern(word)
    prefixes: dict[str, str] = {}
    if len(query) >= 2 and " " not in query and query.isascii():  # numbers and emails are ASCII
        prefixes["number"], prefixes["email"] = query.upper(), query
    digits = digits_only(query)
    phone_exact = False
    if len(digits) >= 3 and len(digits) >= len(query.replace(" ", "")) - 1:
        if actor.is_system or actor.role in (Role.ADMIN, Role.RM):
            prefixes["phone"], prefixes["phone_reversed"] = digits, digits[::-1]
        else:
            # Staff who see phones masked may find one by its visible last four digits or by
            # the whole number; prefixes would let them uncover the hidden digits one by one.
            if len(digits) == VISIBLE_PHONE_DIGITS:
                prefixes["phone_reversed"] = digits[::-1]
            phone_exact = True
            params["phones"] = [digits, "+" + digits]
    params.update({key: prefix_pattern(value, dialect) for key, value in prefixes.items()})
    shape = _SearchShape(
        dialect,
        scope,
        tuple(word != term for word, term in zip(typed, words, strict=True)),
        _prefix_plans(tuple(prefixes), params, dialect),
        phone_exact,
        limit,
    )
    rows = list(db.session.scalars(_search_statement(shape), params))
    next_key = str(rows[limit - 1].id) if len(rows) > limit else None
    return Page(rows[:limit], next_key)


def _prefix_plans(
    keys: tuple[str, ...], params: dict[str, Any], dialect: str
) -> tuple[tuple[str, str], ...]:
    """How each prefix lookup reads, so that no plan reads every row.

    Walking customers in id order and testing each stops after a page when matches are dense
    but reads every row when they are sparse; the prefix index is the reverse, and sorting a
    dense prefix's matches reads them all. PostgreSQL's planner chooses well from its
    statistics. SQLite does not, so its prefix indexes are asked (capped, in one statement)
    how many rows match.
    """
    if dialect != "sqlite" or not keys:
        return tuple((key, "planner") for key in keys)
    counts = db.session.execute(
        _prefix_counts_statement(keys), {**params, "cap": BROAD_PREFIX}
    ).one()
    return tuple(
        (key, "index" if (count or 0) < BROAD_PREFIX else "walk")
        for key, count in zip(keys, counts, strict=True)
    )


def _list_by_name(actor: Actor, filters: CustomerFilters, limit: int) -> Page[Customer]:
    scope, params = _scope_of(actor, filters)
    stmt = _scoped(select(Customer), scope)
    name, _, key = filters.after.rpartition("|")
    if parse_id(key) is not None:
        stmt = stmt.where(
            (Customer.name > name) | and_(Customer.name == name, Customer.id > int(key))
        )
    rows = list(
        db.session.scalars(stmt.order_by(Customer.name, Customer.id).limit(limit + 1), params)
    )
    next_key = f"{rows[limit - 1].name}|{rows[limit - 1].id}" if len(rows) > limit else None
    return Page(rows[:limit], next_key)
