"""The audit log page: its filters, what each subject links to, and the changes made readable.

The rooms own their subjects (customers, contacts, messages, templates, tickets…), so each
room registers in its `init_app` what a subject type is called, where a subject of that type
is shown (`links`: many ids at once, one query per type and page) and the labels of the
fields its events record. The page then shows each subject as a link, field names as those
labels, values formatted by kind (dates and times in the viewer's language and zone, yes/no,
user ids as names) and long text or JSON folded.
"""

import json
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import asdict, dataclass, fields
from datetime import date, datetime, time, timedelta
from typing import Any
from urllib.parse import urlencode
from zoneinfo import ZoneInfo

from flask import Flask
from flask_babel import lazy_gettext as _l

from portal.accounts.services import find_by_email, user_names
from portal.core.access import role_label
from portal.core.audit import AuditEvent
from portal.core.errors import ValidationFailed
from portal.core.registry import contribute, contributions
from portal.core.timeutil import parse_instant

SUBJECTS = "accounts.audit_subjects"
SUBJECT_ID_MAX = 64
ACTOR_MAX = 120
LONG_TEXT = 120  # characters; longer text is folded
USER_FIELDS = frozenset({"owner_id", "assignee_id", "lead_id", "user_id", "author_id"})
ROLE_FIELDS = frozenset({"role"})
_ISO_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
_ISO_INSTANT = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}")


@dataclass(frozen=True)
class Link:
    url: str
    text: str | None = None  # shown instead of "#id" (a customer's number, say)


Links = Callable[[list[str]], Mapping[str, Link]]


@dataclass(frozen=True)
class SubjectKind:
    label: Any  # a lazy string: "Customer"
    links: Links | None
    fields: Mapping[str, Any]  # field name -> lazy label


def register_subject(
    app: Flask,
    subject_type: str,
    label: Any,
    links: Links | None = None,
    field_labels: Mapping[str, Any] | None = None,
) -> None:
    """What a room calls `subject_type`, where its subjects are shown and its fields' labels."""
    contribute(app, SUBJECTS, subject_type, SubjectKind(label, links, dict(field_labels or {})))


def subject_kinds() -> dict[str, SubjectKind]:
    return dict(contributions(SUBJECTS))


# Fields many subjects share; a room's own labels come first.
COMMON_FIELDS = {
    "name": _l("Name"),
    "email": _l("Email"),
    "role": _l("Role"),
    "active": _l("Active"),
    "status": _l("Status"),
    "locale": _l("Language"),
    "timezone": _l("Time zone"),
    "reason": _l("Reason"),
    "owner_id": _l("Relationship manager"),
    "fields": _l("Fields"),
}


# ---------------------------------------------------------------- filters


@dataclass
class AuditFilters:
    action: str = ""  # the action starts with this
    actor: str = ""  # a user's email, or a system label (demo-seed, job:…)
    subject_type: str = ""
    subject_id: str = ""
    date_from: str = ""  # YYYY-MM-DD in the viewer's zone
    date_to: str = ""
    before: str = ""  # the page key: the id of the last event shown

    @classmethod
    def from_args(cls, args: Mapping[str, str]) -> "AuditFilters":
        limits = {"action": 64, "actor": ACTOR_MAX, "subject_type": 32}
        values = {f.name: (args.get(f.name) or "").strip() for f in fields(cls)}
        for name, limit in limits.items():
            values[name] = values[name][:limit]
        values["subject_id"] = values["subject_id"][:SUBJECT_ID_MAX]
        values["actor"] = values["actor"].lower() if "@" in values["actor"] else values["actor"]
        for name in ("date_from", "date_to", "before"):
            values[name] = values[name][:40]
        return cls(**values)

    def query(self, **changes: str) -> str:
        """These filters as a query string, without the page key unless given."""
        values = {**asdict(self), "before": "", **changes}
        return urlencode({k: v for k, v in values.items() if v})


@dataclass(frozen=True)
class AuditCriteria:
    """Filters checked and resolved: what `services.list_audit_events` is asked for."""

    action: str
    actor_id: int | None
    actor_label: str
    subject: tuple[str, str] | None
    subject_type: str
    since: datetime | None
    until: datetime | None


def _days(filters: AuditFilters) -> tuple[date | None, date | None]:
    """The range's first and last day, each None when not given."""
    found: dict[str, date | None] = {}
    for name in ("date_from", "date_to"):
        raw = getattr(filters, name)
        try:
            found[name] = date.fromisoformat(raw) if raw else None
        except ValueError as error:
            raise ValidationFailed(_l("Enter dates as YYYY-MM-DD."), field=name) from error
    return found["date_from"], found["date_to"]


def criteria(filters: AuditFilters, zone: ZoneInfo) -> AuditCriteria:
    """The filters as conditions; a malformed date or a range that ends before it starts is
    refused with a message. An actor given by a known user's email becomes that user's id
    (an indexed lookup); any other text is matched whole against the recorded label."""
    start, end = _days(filters)
    if start and end and end < start:
        raise ValidationFailed(_l("The end date is before the start date."), field="date_to")
    actor_id = None
    if filters.actor:
        user = find_by_email(filters.actor) if "@" in filters.actor else None
        actor_id = user.id if user is not None else None
    subject = None
    if filters.subject_type and filters.subject_id:
        subject = (filters.subject_type, filters.subject_id)
    elif filters.subject_id:
        raise ValidationFailed(_l("Choose the kind of subject for its id."), field="subject_type")
    return AuditCriteria(
        action=filters.action,
        actor_id=actor_id,
        actor_label="" if actor_id is not None else filters.actor,
        subject=subject,
        subject_type=filters.subject_type if subject is None else "",
        since=datetime.combine(start, time(0), zone) if start else None,
        until=datetime.combine(end + timedelta(days=1), time(0), zone) if end else None,
    )


# ---------------------------------------------------------------- the rows as shown


@dataclass(frozen=True)
class Shown:
    """A recorded value and how to show it: empty, text, yes/no, date, datetime, or folded
    (long text or JSON, with a short preview)."""

    kind: str
    value: Any
    preview: str = ""


@dataclass(frozen=True)
class Change:
    field: str
    label: Any
    before: Shown
    after: Shown


@dataclass(frozen=True)
class AuditRow:
    event: AuditEvent
    subject_label: Any
    link: Link | None
    changes: list[Change]


def _folded(text: str) -> Shown:
    first = " ".join(text.split())
    return Shown("folded", text, first[:60] + "…")


def show_value(name: str, value: Any, users: Mapping[int, str]) -> Shown:
    if value is None or value == "" or value == []:
        return Shown("empty", None)
    if isinstance(value, bool):
        return Shown("bool", value)
    if name in USER_FIELDS and isinstance(value, int):
        return Shown("text", f"{users[value]} (#{value})" if value in users else f"#{value}")
    if name in ROLE_FIELDS and isinstance(value, str):
        return Shown("text", role_label(value))
    if isinstance(value, dict) or (
        isinstance(value, list) and not all(isinstance(v, str | int | float) for v in value)
    ):
        return _folded(json.dumps(value, ensure_ascii=False, indent=2, sort_keys=True))
    if isinstance(value, list):
        value = ", ".join(map(str, value))
    if isinstance(value, str):
        if _ISO_DATE.match(value):
            try:
                return Shown("date", date.fromisoformat(value))
            except ValueError:
                pass
        elif _ISO_INSTANT.match(value):
            try:
                return Shown("datetime", parse_instant(value))
            except ValueError:
                pass
        if len(value) > LONG_TEXT or "\n" in value:
            return _folded(value)
    return Shown("text", value)


def _label(name: str, kind: SubjectKind | None) -> Any:
    if kind is not None and name in kind.fields:
        return kind.fields[name]
    if name in COMMON_FIELDS:
        return COMMON_FIELDS[name]
    return name.removesuffix("_id").replace("_", " ").capitalize()


def _user_names(events: Iterable[AuditEvent]) -> dict[int, str]:
    wanted = {
        value
        for event in events
        for side in (event.before or {}, event.after or {})
        for name, value in side.items()
        if name in USER_FIELDS and isinstance(value, int) and not isinstance(value, bool)
    }
    return user_names(wanted)


def audit_rows(events: list[AuditEvent]) -> list[AuditRow]:
    """The events as the page shows them: one links query per subject type on the page."""
    kinds = subject_kinds()
    ids_by_type: dict[str, list[str]] = {}
    for event in events:
        ids_by_type.setdefault(event.subject_type, []).append(event.subject_id)
    links: dict[tuple[str, str], Link] = {}
    for subject_type, ids in ids_by_type.items():
        kind = kinds.get(subject_type)
        if kind is not None and kind.links is not None:
            for subject_id, link in kind.links(sorted(set(ids))).items():
                links[subject_type, subject_id] = link
    users = _user_names(events)
    rows = []
    for event in events:
        kind = kinds.get(event.subject_type)
        changes = [
            Change(
                name,
                _label(name, kind),
                show_value(name, old, users),
                show_value(name, new, users),
            )
            for name, old, new in event.changes()
        ]
        rows.append(
            AuditRow(
                event,
                kind.label if kind is not None else event.subject_type,
                links.get((event.subject_type, event.subject_id)),
                changes,
            )
        )
    return rows


def ids_as_ints(ids: Iterable[str]) -> list[int]:
    """The ids that are whole numbers, for a `links` function looking rows up by id."""
    return [int(i) for i in ids if i.isdigit() and len(i) < 19]


def link_each(make_url: Callable[[str], str | None]) -> Links:
    """A `links` function for subjects whose page is found from the id alone (no lookup)."""

    def links(ids: list[str]) -> dict[str, Link]:
        found = {}
        for subject_id in ids:
            url = make_url(subject_id)
            if url is not None:
                found[subject_id] = Link(url)
        return found

    return links
