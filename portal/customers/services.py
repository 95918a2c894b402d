"""Use cases for customers, their contacts and follow-ups. Each owns its transaction."""

import unicodedata
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from functools import lru_cache
from typing import Any

from flask_babel import lazy_gettext as _l
from sqlalchemy import (
    and_,
    bindparam,
    delete,
    func,
    insert,
    literal_column,
    select,
    union_all,
    update,
)
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import aliased
from sqlalchemy.orm.exc import StaleDataError

from portal.accounts.services import normalise_email
from portal.core.access import Role
from portal.core.audit import Actor, record_event
from portal.core.config import LANGUAGES
from portal.core.errors import Conflict, NotFound, PermissionDenied, ValidationFailed
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
from portal.core.timeutil import is_valid_timezone, utc_now
from portal.customers import access
from portal.customers.models import (
    CONSENT_PURPOSES,
    FLAGS,
    Channel,
    CreditAccount,
    Customer,
    CustomerSearchTerm,
    Direction,
    FollowUp,
    FollowUpStatus,
    Interaction,
    Outcome,
    Segment,
)
from portal.customers.pii import mask_id_number, mask_phone
from portal.customers.timeline import (
    Cursor,
    Source,
    TimelineEntry,
    timeline_page,
)

SUMMARY_MAX = 4000
EARLIEST_YEAR = 1900
TERM_MAX = 24
CJK_SUBSTRING_MAX = 8


# ---------------------------------------------------------------- validation helpers


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


def reversed_digits(phone: str | None) -> str | None:
    """The phone's digits backwards: what lets an index find a phone by its last digits."""
    return digits_only(phone or "")[::-1] or None


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


# ---------------------------------------------------------------- search terms


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


def write_search_terms(customer_id: int, name: str) -> None:
    db.session.execute(
        delete(CustomerSearchTerm).where(CustomerSearchTerm.customer_id == customer_id)
    )
    terms = search_terms(name)
    if terms:
        db.session.execute(
            insert(CustomerSearchTerm), [{"term": t, "customer_id": customer_id} for t in terms]
        )


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


BROAD_PREFIX = 1000
VISIBLE_PHONE_DIGITS = 4


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


def get_customer(actor: Actor, customer_id: int) -> Customer:
    customer = db.session.get(Customer, customer_id)
    if customer is None or (customer.erased_at is not None and actor.role != Role.ADMIN):
        raise NotFound(_l("No such customer."))
    access.require(access.can_view(actor, customer))
    return customer


def accounts_of(customer_id: int) -> list[CreditAccount]:
    return list(
        db.session.scalars(
            select(CreditAccount)
            .where(CreditAccount.customer_id == customer_id)
            .order_by(CreditAccount.status, CreditAccount.number)
        )
    )


def reveal_pii(actor: Actor, customer_id: int) -> dict[str, str | None]:
    """The whole phone and ID number, for the owning RM or an admin; recorded every time."""
    customer = get_customer(actor, customer_id)
    access.require(access.can_reveal_pii(actor, customer))
    record_event(
        actor,
        "customer.pii_revealed",
        "customer",
        customer.id,
        after={"fields": ["phone", "id_number"]},
    )
    db.session.commit()
    return {"phone": customer.phone, "id_number": customer.id_number}


# ---------------------------------------------------------------- contacts and follow-ups


@dataclass
class ContactInput:
    channel: str
    direction: str
    occurred_at: datetime
    summary: str
    outcome: str
    follow_up_on: date | None = None
    follow_up_note: str = ""


def _check_contact(data: ContactInput, now: datetime) -> None:
    """Refuse what cannot be stored, and normalise the choices in place."""
    data.channel = clean_choice(data.channel, Channel, "channel")
    data.direction = clean_choice(data.direction, Direction, "direction")
    data.outcome = clean_choice(data.outcome, Outcome, "outcome")
    summary = (data.summary or "").strip()
    if not summary or len(summary) > SUMMARY_MAX:
        raise ValidationFailed(
            _l("Write a summary of 1 to %(n)d characters.", n=SUMMARY_MAX), field="summary"
        )
    if data.occurred_at.tzinfo is None:
        raise ValidationFailed(_l("The time of the contact needs a time zone."), "occurred_at")
    if data.occurred_at.year < EARLIEST_YEAR:
        raise ValidationFailed(_l("Enter a date after 1900."), "occurred_at")
    if data.occurred_at > now + timedelta(minutes=5):
        raise ValidationFailed(_l("A contact cannot be logged in the future."), "occurred_at")
    if data.follow_up_on and data.follow_up_on < data.occurred_at.date() - timedelta(days=1):
        raise ValidationFailed(_l("The follow-up date lies before the contact."), "follow_up_on")


def log_contact(actor: Actor, customer_id: int, data: ContactInput) -> Interaction:
    customer = get_customer(actor, customer_id)
    access.require(access.can_log_contact(actor, customer))
    _refuse_erased(customer)
    now = utc_now()
    _check_contact(data, now)
    interaction = Interaction(
        customer_id=customer.id,
        author_id=actor.user_id,
        channel=data.channel,
        direction=data.direction,
        occurred_at=data.occurred_at,
        summary=data.summary.strip(),
        outcome=data.outcome,
    )
    db.session.add(interaction)
    db.session.flush()
    _refresh_last_contact(customer.id)
    if data.follow_up_on:
        db.session.add(
            FollowUp(
                customer_id=customer.id,
                owner_id=customer.owner_id or actor.user_id,
                interaction_id=interaction.id,
                due_on=data.follow_up_on,
                note=(data.follow_up_note or "").strip()[:SUMMARY_MAX],
            )
        )
    db.session.commit()
    return interaction


def _refresh_last_contact(customer_id: int) -> None:
    """last_contact_at from the contacts themselves, in one statement: right after an edit
    moves a contact back in time, and when two contacts are logged at once."""
    newest = (
        select(func.max(Interaction.occurred_at))
        .where(Interaction.customer_id == customer_id)
        .scalar_subquery()
    )
    db.session.execute(
        update(Customer)
        .where(Customer.id == customer_id)
        .values(last_contact_at=newest)
        .execution_options(synchronize_session=False)
    )


def _refuse_erased(customer: Customer) -> None:
    if customer.erased_at is not None:
        raise ValidationFailed(
            _l("This customer's personal data was erased; nothing can be added.")
        )


def get_contact(actor: Actor, interaction_id: int) -> tuple[Interaction, Customer]:
    interaction = db.session.get(Interaction, interaction_id)
    if interaction is None:
        raise NotFound(_l("No such contact."))
    customer = get_customer(actor, interaction.customer_id)
    access.require(access.can_edit_contact(actor, interaction.author_id))
    return interaction, customer


def edit_contact(actor: Actor, interaction_id: int, data: ContactInput) -> Interaction:
    """Correct a logged contact; the original stays in the audit trail."""
    interaction, customer = get_contact(actor, interaction_id)
    _refuse_erased(customer)
    _check_contact(data, utc_now())
    fields = ("channel", "direction", "occurred_at", "summary", "outcome")
    before = {f: _plain(getattr(interaction, f)) for f in fields}
    for name in fields:
        setattr(
            interaction,
            name,
            getattr(data, name).strip() if name == "summary" else getattr(data, name),
        )
    interaction.edited_at = utc_now()
    db.session.flush()
    _refresh_last_contact(customer.id)
    after = {f: _plain(getattr(interaction, f)) for f in fields}
    record_event(
        actor, "interaction.edited", "interaction", interaction.id, before=before, after=after
    )
    db.session.commit()
    return interaction


def _plain(value: Any) -> Any:
    return value.isoformat() if isinstance(value, datetime | date) else value


def get_follow_up(actor: Actor, follow_up_id: int) -> FollowUp:
    follow_up = db.session.get(FollowUp, follow_up_id)
    if follow_up is None:
        raise NotFound(_l("No such follow-up."))
    customer = get_customer(actor, follow_up.customer_id)
    access.require(access.can_log_contact(actor, customer))
    return follow_up


def complete_follow_up(actor: Actor, follow_up_id: int) -> FollowUp:
    follow_up = get_follow_up(actor, follow_up_id)
    if follow_up.status == FollowUpStatus.OPEN:
        follow_up.status = FollowUpStatus.DONE.value
        follow_up.done_at = utc_now()
        follow_up.done_by_id = actor.user_id
        record_event(
            actor,
            "follow_up.done",
            "follow_up",
            follow_up.id,
            before={"status": "open"},
            after={"status": "done"},
        )
        db.session.commit()
    return follow_up


def reschedule_follow_up(actor: Actor, follow_up_id: int, due_on: date, today: date) -> FollowUp:
    follow_up = get_follow_up(actor, follow_up_id)
    if follow_up.status != FollowUpStatus.OPEN:
        raise ValidationFailed(_l("Only an open follow-up can be rescheduled."), "due_on")
    if due_on < today:
        raise ValidationFailed(_l("Choose today or a later day."), "due_on")
    before = {"due_on": follow_up.due_on.isoformat()}
    follow_up.due_on = due_on
    record_event(
        actor,
        "follow_up.rescheduled",
        "follow_up",
        follow_up.id,
        before=before,
        after={"due_on": due_on.isoformat()},
    )
    db.session.commit()
    return follow_up


@dataclass
class MyDay:
    due: list[tuple[FollowUp, Customer]] = field(default_factory=list)
    quiet: list[Customer] = field(default_factory=list)


def my_day(actor: Actor, today: date, quiet_days: int, limit: int = 50) -> MyDay:
    """Follow-ups due today or overdue, and customers not contacted for `quiet_days` days."""
    due_stmt = (
        select(FollowUp, Customer)
        .join(Customer, Customer.id == FollowUp.customer_id)
        .where(
            FollowUp.owner_id == actor.user_id,
            FollowUp.status == FollowUpStatus.OPEN.value,
            FollowUp.due_on <= today,
            Customer.erased_at.is_(None),
        )
    )
    if actor.role == Role.RM:  # a customer moved to another RM is no longer this RM's work
        due_stmt = due_stmt.where(Customer.owner_id == actor.user_id)
    due = db.session.execute(due_stmt.order_by(FollowUp.due_on, FollowUp.id).limit(limit)).all()
    cutoff = datetime.combine(today - timedelta(days=quiet_days), time(), UTC)
    quiet = db.session.scalars(
        select(Customer)
        .where(
            Customer.owner_id == actor.user_id,
            Customer.erased_at.is_(None),
            Customer.do_not_contact.is_(False),
            Customer.deceased.is_(False),
            (Customer.last_contact_at < cutoff) | Customer.last_contact_at.is_(None),
        )
        .order_by(Customer.last_contact_at.asc().nulls_first(), Customer.id)
        .limit(limit)
    ).all()
    return MyDay(due=[(f, c) for f, c in due], quiet=list(quiet))


# ---------------------------------------------------------------- reassignment


def reassign(actor: Actor, customer_ids: list[int], new_owner_id: int, reason: str = "") -> int:
    """Move customers to another RM in one transaction, with one audit event per customer."""

    if not access.can_reassign(actor):
        raise PermissionDenied(_l("Only admins and leads can reassign customers."))
    _check_owner(new_owner_id)
    ids = sorted({int(i) for i in customer_ids})[:1000]
    if not ids:
        raise ValidationFailed(_l("Select at least one customer."), field="customer_ids")
    moved_ids: list[int] = []
    chosen = select(Customer).where(Customer.id.in_(ids), Customer.erased_at.is_(None))
    for customer in db.session.scalars(chosen):
        if customer.owner_id == new_owner_id:
            continue
        record_event(
            actor,
            "customer.reassigned",
            "customer",
            customer.id,
            before={"owner_id": customer.owner_id},
            after={"owner_id": new_owner_id},
            reason=reason.strip()[:500] or None,
        )
        customer.owner_id = new_owner_id
        moved_ids.append(customer.id)
    if moved_ids:
        move_open_follow_ups(moved_ids, new_owner_id)
    db.session.commit()
    return len(moved_ids)


def move_open_follow_ups(customer_ids: list[int], new_owner_id: int | None) -> None:
    """Open follow-ups go with their customer to the new RM, whichever way the owner changes."""
    db.session.execute(
        update(FollowUp)
        .where(FollowUp.customer_id.in_(customer_ids), FollowUp.status == FollowUpStatus.OPEN.value)
        .values(owner_id=new_owner_id)
        .execution_options(synchronize_session=False)
    )


# ---------------------------------------------------------------- the 360 timeline


def _contacts_with_author() -> Any:
    from portal.accounts.models import User

    return select(Interaction, User.name).outerjoin(User, User.id == Interaction.author_id)


CONTACTS = Source(
    "contact",
    _contacts_with_author,
    Interaction.customer_id,
    Interaction.occurred_at,
    Interaction.id,
)
FOLLOW_UPS = Source(
    "follow_up", lambda: select(FollowUp), FollowUp.customer_id, FollowUp.created_at, FollowUp.id
)


def contact_entries(customer_id: int, before: Cursor | None, limit: int) -> list[TimelineEntry]:
    return [
        TimelineEntry(
            i.occurred_at,
            "contact",
            i.id,
            "customers/_entry_contact.html",
            {"interaction": i, "author": author},
        )
        for i, author in CONTACTS.newest_first(customer_id, before, limit)
    ]


def follow_up_entries(customer_id: int, before: Cursor | None, limit: int) -> list[TimelineEntry]:
    return [
        TimelineEntry(
            f.created_at, "follow_up", f.id, "customers/_entry_follow_up.html", {"follow_up": f}
        )
        for f in FOLLOW_UPS.newest_first(customer_id, before, limit).scalars()
    ]


def customer_timeline(
    actor: Actor, customer_id: int, before: str | None, limit: int = 20
) -> Page[TimelineEntry]:
    get_customer(actor, customer_id)
    return timeline_page(customer_id, Cursor.decode(before), limit)


# ---------------------------------------------------------------- creating and editing


@dataclass
class CustomerInput:
    number: str
    name: str
    email: str | None = None
    phone: str | None = None
    id_number: str | None = None
    birthday: date | str | None = None
    locale: str | None = None
    timezone: str | None = None
    segment: str | None = None
    owner_id: int | None = None
    consents: dict[str, bool] = field(default_factory=dict)
    flags: dict[str, bool] = field(default_factory=dict)


AUDITED_FIELDS = (
    "number",
    "name",
    "email",
    "phone",
    "id_number",
    "birthday",
    "locale",
    "timezone",
    "segment",
    "owner_id",
    *(f"consent_{p}" for p in CONSENT_PURPOSES),
    *FLAGS,
)


def _audit_snapshot(customer: Customer) -> dict[str, Any]:
    """The audited fields, with phone and ID number masked: the trail is exported as evidence."""
    snapshot = {name: _plain(getattr(customer, name)) for name in AUDITED_FIELDS}
    snapshot["phone"] = mask_phone(customer.phone)
    snapshot["id_number"] = mask_id_number(customer.id_number)
    return snapshot


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


def _check_owner(owner_id: int | None) -> int | None:
    from portal.accounts.models import User

    if owner_id is None:
        return None
    owner = db.session.get(User, owner_id)
    if owner is None or owner.role != Role.RM or not owner.active:
        raise ValidationFailed(_l("Choose an active relationship manager."), field="owner_id")
    return owner_id


def _apply(customer: Customer, data: CustomerInput, default_timezone: str) -> None:
    customer.name = clean_name(data.name)
    customer.email = clean_email(data.email)
    customer.phone = clean_phone(data.phone)
    customer.phone_reversed = reversed_digits(customer.phone)
    customer.id_number = clean_id_number(data.id_number)
    customer.birthday = clean_birthday(data.birthday)
    customer.locale = clean_locale(data.locale)
    customer.timezone = clean_timezone(data.timezone, default_timezone)
    customer.segment = clean_choice(data.segment, Segment, "segment", Segment.MASS.value)
    for purpose, given in data.consents.items():
        if purpose in CONSENT_PURPOSES:
            setattr(customer, f"consent_{purpose}", bool(given))
    for flag, given in data.flags.items():
        if flag in FLAGS:
            setattr(customer, flag, bool(given))


def create_customer(actor: Actor, data: CustomerInput, default_timezone: str) -> Customer:
    if actor.role not in (Role.ADMIN, Role.RM) and not actor.is_system:
        raise ValidationFailed(_l("Only admins and relationship managers add customers."))
    number = clean_number(data.number)
    if db.session.scalar(select(Customer.id).where(Customer.number == number)) is not None:
        raise ValidationFailed(
            _l("Customer number %(number)s is already in use.", number=number), field="number"
        )
    customer = Customer(number=number)
    _apply(customer, data, default_timezone)
    customer.owner_id = actor.user_id if actor.role == Role.RM else _check_owner(data.owner_id)
    db.session.add(customer)
    try:
        db.session.flush()
    except IntegrityError as error:  # created by someone else a moment ago
        db.session.rollback()
        raise ValidationFailed(
            _l("Customer number %(number)s is already in use.", number=number), field="number"
        ) from error
    write_search_terms(customer.id, customer.name)
    record_event(
        actor, "customer.created", "customer", customer.id, after=_audit_snapshot(customer)
    )
    db.session.commit()
    return customer


def update_customer(
    actor: Actor, customer_id: int, data: CustomerInput, version: int, default_timezone: str
) -> Customer:
    """Save an edit made on `version` of the customer; a later save by someone else wins a 409."""
    customer = get_customer(actor, customer_id)
    access.require(access.can_edit(actor, customer))
    if customer.version != version:
        raise Conflict(
            _l("Someone else changed this customer in the meantime. Reload and try again.")
        )
    _refuse_erased(customer)
    before = _audit_snapshot(customer)
    old_name = customer.name
    # The edit form never shows phone and ID number whole (that takes a recorded reveal),
    # so a blank field there means "keep", not "erase".
    data.phone = data.phone or customer.phone
    data.id_number = data.id_number or customer.id_number
    _apply(customer, data, default_timezone)
    if (actor.role == Role.ADMIN or actor.is_system) and data.owner_id != customer.owner_id:
        customer.owner_id = _check_owner(data.owner_id)
        move_open_follow_ups([customer.id], customer.owner_id)
    if customer.name != old_name:
        write_search_terms(customer.id, customer.name)
    after = _audit_snapshot(customer)
    if after != before:
        record_event(actor, "customer.updated", "customer", customer.id, before=before, after=after)
    try:
        db.session.commit()
    except StaleDataError as error:
        db.session.rollback()
        raise Conflict(
            _l("Someone else changed this customer in the meantime. Reload and try again.")
        ) from error
    return customer
