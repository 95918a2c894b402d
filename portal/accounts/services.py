"""Use cases for staff accounts, each taking the actor first and owning its transaction.

Only admins (and system actors such as the CLI) manage other people's accounts; everyone
changes their own password and preferences. Signing in and loading the session's user come
before there is an actor, so they take the credentials or the session id instead; the
lookups other rooms make (by email, the active RMs, the audit trail) take what they look up.
"""

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from enum import Enum

from email_validator import EmailNotValidError, validate_email
from flask_babel import lazy_gettext as _l
from flask_babel import lazy_ngettext
from sqlalchemy import Row, select
from sqlalchemy.exc import IntegrityError
from werkzeug.security import check_password_hash, generate_password_hash

from portal.accounts.models import User, new_session_token
from portal.core.access import ALL_ROLES, Role
from portal.core.audit import Actor, AuditEvent, record_event
from portal.core.config import LANGUAGES
from portal.core.errors import Conflict, NotFound, PermissionDenied, ValidationFailed
from portal.core.extensions import among, db
from portal.core.pagination import Page
from portal.core.timeutil import is_valid_timezone, utc_now
from portal.core.transaction import use_case

PASSWORD_MIN = 10
PASSWORD_MAX = 128
NAME_MAX = 120
EMAIL_MAX = 254

# A hash of nothing anyone knows: checked against when the email is unknown, so that a wrong
# email takes as long as a wrong password and the timing tells an attacker nothing.
_DUMMY_HASH = generate_password_hash("no-such-user-password-placeholder")


def actor_for(user: User) -> Actor:
    return Actor(user.id, user.email, user.role)


def normalise_email(raw: str) -> str:
    text = (raw or "").strip()
    if not text or len(text) > EMAIL_MAX:
        raise ValidationFailed(_l("Enter a valid email address."), field="email")
    try:
        checked = validate_email(text, check_deliverability=False)
    except EmailNotValidError as error:
        raise ValidationFailed(_l("Enter a valid email address."), field="email") from error
    return checked.normalized.lower()


def check_role(raw: str) -> Role:
    try:
        return Role(raw)
    except ValueError as error:
        choices = ", ".join(sorted(r.value for r in ALL_ROLES))
        raise ValidationFailed(
            _l("Unknown role '%(role)s' (choose %(choices)s).", role=raw, choices=choices),
            field="role",
        ) from error


def check_password_policy(password: str, email: str | None = None) -> None:
    if len(password or "") < PASSWORD_MIN:
        raise ValidationFailed(
            lazy_ngettext(
                "The password needs at least %(num)d character.",
                "The password needs at least %(num)d characters.",
                PASSWORD_MIN,
            ),
            field="password",
        )
    if len(password) > PASSWORD_MAX:
        raise ValidationFailed(
            lazy_ngettext(
                "The password may have at most %(num)d character.",
                "The password may have at most %(num)d characters.",
                PASSWORD_MAX,
            ),
            field="password",
        )
    if not password.strip() or (email and password.strip().lower() == email.lower()):
        raise ValidationFailed(_l("Choose a password that is not your email."), field="password")


def _check_name(name: str) -> str:
    cleaned = " ".join((name or "").split())
    if not cleaned or len(cleaned) > NAME_MAX:
        raise ValidationFailed(
            lazy_ngettext(
                "Enter a name of 1 to %(num)d character.",
                "Enter a name of 1 to %(num)d characters.",
                NAME_MAX,
            ),
            field="name",
        )
    return cleaned


def find_by_email(email: str) -> User | None:
    return db.session.scalar(select(User).where(User.email == email.strip().lower()))


def active_ids_by_email(emails: Iterable[str], roles: Iterable[Role]) -> dict[str, int]:
    """Email (lower case) → id of each active user among `emails` who has one of `roles`."""
    wanted = {email.strip().lower() for email in emails}
    if not wanted:
        return {}
    found = db.session.execute(
        select(User.email, User.id).where(
            User.email.in_(wanted),
            User.role.in_([role.value for role in roles]),
            User.active.is_(True),
        )
    )
    return {email.lower(): user_id for email, user_id in found}


def active_relationship_managers(limit: int = 1000) -> list[Row[tuple[int, str]]]:
    """(id, name) of every active relationship manager by name: who may own customers."""
    return list(
        db.session.execute(
            select(User.id, User.name)
            .where(User.role == Role.RM, User.active)
            .order_by(User.name)
            .limit(limit)
        )
    )


def _require_admin(actor: Actor) -> None:
    if not (actor.is_system or actor.role == Role.ADMIN):
        raise PermissionDenied(_l("Only admins manage staff accounts."))


def _user(user_id: int | None) -> User:
    user = db.session.get(User, user_id) if user_id is not None else None
    if user is None:
        raise NotFound(_l("No such user."))
    return user


def get_user(actor: Actor, user_id: int) -> User:
    _require_admin(actor)
    return _user(user_id)


@use_case
def create_user(actor: Actor, email: str, name: str, role: str, password: str) -> User:
    _require_admin(actor)
    address = normalise_email(email)
    checked_role = check_role(role)
    clean_name = _check_name(name)
    check_password_policy(password, address)
    if find_by_email(address) is not None:
        raise Conflict(_l("A user with email %(email)s already exists.", email=address), "email")
    user = User(
        email=address,
        name=clean_name,
        role=checked_role.value,
        password_hash=generate_password_hash(password),
        active=True,
        password_changed_at=utc_now(),
    )
    db.session.add(user)
    try:
        db.session.flush()
    except IntegrityError as error:  # another request created the same email a moment ago
        raise Conflict(
            _l("A user with email %(email)s already exists.", email=address), "email"
        ) from error
    record_event(actor, "user.created", "user", user.id, after=user.snapshot())
    return user


def _active_admins() -> int:
    """Count active admins, locking their rows so two admins cannot demote each other at once."""
    ids = db.session.scalars(
        select(User.id).where(User.role == Role.ADMIN, User.active).with_for_update()
    ).all()
    return len(ids)


@use_case
def change_role(actor: Actor, user_id: int, role: str) -> User:
    _require_admin(actor)
    user = _user(user_id)
    new_role = check_role(role)
    if user.role == new_role:
        return user
    if user.role == Role.ADMIN and user.active and _active_admins() <= 1:
        raise PermissionDenied(_l("The last active admin cannot lose the admin role."))
    before = user.snapshot()
    user.role = new_role.value
    record_event(actor, "user.role_changed", "user", user.id, before=before, after=user.snapshot())
    return user


@use_case
def set_active(actor: Actor, user_id: int, active: bool) -> User:
    _require_admin(actor)
    user = _user(user_id)
    if user.active == active:
        return user
    if not active:
        if actor.user_id == user.id:
            raise PermissionDenied(_l("You cannot deactivate your own account."))
        if user.role == Role.ADMIN and _active_admins() <= 1:
            raise PermissionDenied(_l("The last active admin cannot be deactivated."))
    before = user.snapshot()
    user.active = active
    user.session_token = new_session_token()
    action = "user.reactivated" if active else "user.deactivated"
    record_event(actor, action, "user", user.id, before=before, after=user.snapshot())
    return user


@use_case
def set_password(actor: Actor, user_id: int, new_password: str) -> User:
    """An admin (or the CLI) sets a password; every session of that user ends."""
    _require_admin(actor)
    user = _user(user_id)
    check_password_policy(new_password, user.email)
    user.password_hash = generate_password_hash(new_password)
    user.password_changed_at = utc_now()
    user.session_token = new_session_token()
    record_event(actor, "user.password_set", "user", user.id)
    return user


@use_case
def change_own_password(actor: Actor, current: str, new_password: str) -> User:
    """The actor changes their own password; their other sessions end."""
    user = _user(actor.user_id)
    if not check_password_hash(user.password_hash, current or ""):
        raise ValidationFailed(_l("The current password is wrong."), field="current_password")
    if current == new_password:
        raise ValidationFailed(
            _l("The new password must differ from the current one."), field="new_password"
        )
    check_password_policy(new_password, user.email)
    user.password_hash = generate_password_hash(new_password)
    user.password_changed_at = utc_now()
    user.session_token = new_session_token()
    record_event(actor, "user.password_changed", "user", user.id)
    return user


@use_case
def set_preferences(
    actor: Actor, *, locale: str | None = None, timezone: str | None = None
) -> User:
    """The actor's own language and time zone."""
    user = _user(actor.user_id)
    before = {"locale": user.locale, "timezone": user.timezone}
    if locale is not None:
        if locale not in LANGUAGES:
            raise ValidationFailed(_l("Unknown language."), field="locale")
        user.locale = locale
    if timezone is not None:
        if not is_valid_timezone(timezone):
            raise ValidationFailed(_l("Unknown time zone."), field="timezone")
        user.timezone = timezone
    after = {"locale": user.locale, "timezone": user.timezone}
    if after != before:
        record_event(actor, "user.preferences_changed", "user", user.id, before=before, after=after)
    return user


class SignIn(Enum):
    OK = "ok"
    BAD_CREDENTIALS = "bad_credentials"
    DISABLED = "disabled"


@dataclass(frozen=True)
class SignInResult:
    outcome: SignIn
    user: User | None = None


@use_case
def authenticate(email: str, password: str) -> SignInResult:
    """Check credentials. A disabled account is only revealed to someone who knows its password."""
    user = find_by_email(email or "")
    if user is None:
        check_password_hash(_DUMMY_HASH, password or "")
        return SignInResult(SignIn.BAD_CREDENTIALS)
    if not check_password_hash(user.password_hash, password or ""):
        return SignInResult(SignIn.BAD_CREDENTIALS)
    if not user.active:
        return SignInResult(SignIn.DISABLED)
    user.last_login_at = utc_now()
    record_event(actor_for(user), "user.signed_in", "user", user.id)
    return SignInResult(SignIn.OK, user)


def load_session_user(session_id: str) -> User | None:
    """Flask-Login's loader: '<id>:<token>' must still match, and the user must be active."""
    user_id, _, token = (session_id or "").partition(":")
    if not user_id.isdigit() or not token:
        return None
    user = db.session.get(User, int(user_id))
    if user is None or not user.active or user.session_token != token:
        return None
    return user


def list_users(
    actor: Actor,
    *,
    role: str = "",
    status: str = "",
    query: str = "",
    after: str = "",
    limit: int = 50,
) -> Page[User]:
    _require_admin(actor)
    stmt = select(User).order_by(User.email).limit(limit + 1)
    if role in {r.value for r in Role}:
        stmt = stmt.where(User.role == role)
    if status in {"active", "inactive"}:
        stmt = stmt.where(User.active.is_(status == "active"))
    if query:
        stmt = stmt.where(
            User.email.icontains(query, autoescape=True)
            | User.name.icontains(query, autoescape=True)
        )
    if after:
        stmt = stmt.where(User.email > after)
    rows = list(db.session.scalars(stmt))
    return Page(rows[:limit], rows[limit - 1].email if len(rows) > limit else None)


def list_audit_events(
    *,
    action: str = "",
    subject: tuple[str, str] | None = None,
    subject_type: str = "",
    actor_id: int | None = None,
    actor_label: str = "",
    since: datetime | None = None,
    until: datetime | None = None,
    before_id: int | None = None,
    limit: int = 50,
) -> Page[AuditEvent]:
    """Audit events, newest first, a keyset page at a time: by action prefix, subject (type and
    id, or type alone), actor (a user's id, or the label a system actor recorded) and time."""
    stmt = select(AuditEvent).order_by(AuditEvent.id.desc()).limit(limit + 1)
    if action:
        stmt = stmt.where(AuditEvent.action.startswith(action, autoescape=True))
    if subject is not None:
        stmt = stmt.where(
            AuditEvent.subject_type == subject[0], AuditEvent.subject_id == subject[1]
        )
    elif subject_type:
        stmt = stmt.where(AuditEvent.subject_type == subject_type)
    if actor_id is not None:
        stmt = stmt.where(AuditEvent.actor_id == actor_id)
    elif actor_label:
        stmt = stmt.where(AuditEvent.actor_label == actor_label)
    if since is not None:
        stmt = stmt.where(AuditEvent.occurred_at >= since)
    if until is not None:
        stmt = stmt.where(AuditEvent.occurred_at < until)
    if before_id is not None:
        stmt = stmt.where(AuditEvent.id < before_id)
    rows = list(db.session.scalars(stmt))
    return Page(rows[:limit], rows[limit - 1].id if len(rows) > limit else None)


def user_names(ids: Iterable[int | None]) -> dict[int, str]:
    """The names of the staff users `ids` (None and repeats ignored), in one query."""
    wanted = {i for i in ids if i is not None}
    if not wanted:
        return {}
    return dict(db.session.execute(select(User.id, User.name).where(among(User.id, wanted))).all())
