"""Who may open which view: one decision per endpoint, enforced before every request.

A view states its rule with `@public`, `@signed_in` or `@roles(...)`. A view with no rule is
refused for everyone (fail closed), and the access test lists every endpoint, so a new route
without a decision fails the suite.
"""

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum
from typing import Any, TypeVar

from flask import Flask, abort, current_app, request, session
from flask_babel import lazy_gettext as _l
from flask_login import current_user, logout_user

log = logging.getLogger(__name__)

F = TypeVar("F", bound=Callable[..., Any])


class Role(StrEnum):
    ADMIN = "admin"
    RM = "rm"
    HANDLER = "handler"
    LEAD = "lead"


ALL_ROLES = frozenset(Role)

ROLE_LABELS = {
    Role.ADMIN: _l("Admin"),
    Role.RM: _l("Relationship manager"),
    Role.HANDLER: _l("Complaint handler"),
    Role.LEAD: _l("Quality / improvement lead"),
}


def role_label(role: str) -> str:
    try:
        return str(ROLE_LABELS[Role(role)])
    except ValueError:
        return role


PUBLIC_ENDPOINTS = frozenset({"static"})


@dataclass(frozen=True)
class Rule:
    public: bool = False
    roles: frozenset[Role] = frozenset()


def _mark(rule: Rule) -> Callable[[F], F]:
    def decorate(view: F) -> F:
        view.access_rule = rule  # type: ignore[attr-defined]
        return view

    return decorate


def public(view: F) -> F:
    """Anyone, signed in or not."""
    return _mark(Rule(public=True))(view)


def signed_in(view: F) -> F:
    """Any active staff member, whatever the role."""
    return _mark(Rule(roles=ALL_ROLES))(view)


def roles(*names: Role | str) -> Callable[[F], F]:
    """Only staff holding one of these roles."""
    wanted = frozenset(Role(name) for name in names)
    if not wanted:
        raise ValueError("roles() needs at least one role")
    return _mark(Rule(roles=wanted))


def rule_for(app: Flask, endpoint: str) -> Rule | None:
    if endpoint in PUBLIC_ENDPOINTS:
        return Rule(public=True)
    view = app.view_functions.get(endpoint)
    return getattr(view, "access_rule", None)


def has_role(*names: Role | str) -> bool:
    return bool(current_user.is_authenticated and current_user.role in {Role(n) for n in names})


SIGNED_IN_AT = "signed_in_at"


def mark_signed_in() -> None:
    session[SIGNED_IN_AT] = time.time()


def end_expired_session() -> None:
    """A session ends PERMANENT_SESSION_LIFETIME after sign-in, however active it was."""
    if not current_user.is_authenticated:
        return
    signed_in_at = session.get(SIGNED_IN_AT)
    lifetime = current_app.permanent_session_lifetime.total_seconds()
    if not isinstance(signed_in_at, int | float) or time.time() - signed_in_at > lifetime:
        logout_user()
        session.pop(SIGNED_IN_AT, None)


def enforce_access() -> Any:
    end_expired_session()
    endpoint = request.endpoint
    if endpoint is None:
        return None  # no route matched: the 404 handler answers
    rule = rule_for(current_app, endpoint)
    if rule is None:
        log.error("endpoint %s has no access rule; refusing", endpoint)
        abort(403)
    if rule.public:
        return None
    if not current_user.is_authenticated:
        return current_app.login_manager.unauthorized()  # type: ignore[attr-defined]
    if current_user.role not in rule.roles:
        abort(403)
    return None


def init_access(app: Flask) -> None:
    app.before_request(enforce_access)

    app.add_template_filter(role_label, "role_label")

    @app.context_processor
    def access_helpers() -> dict[str, Any]:
        return {"has_role": has_role, "Role": Role}
