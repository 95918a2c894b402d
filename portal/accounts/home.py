"""The users panel on an admin's home (core's home page, `portal/core/home.py`): how many
active users hold each role, how many are deactivated, and who signed in last."""

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func, select

from portal.accounts.models import User
from portal.core.access import Role
from portal.core.audit import Actor
from portal.core.extensions import db
from portal.core.home import Panel

ROLES = (Role.ADMIN,)


@dataclass(frozen=True)
class UserCounts:
    active: dict[str, int]  # by role, every role listed
    inactive: int


def users_panel(_actor: Actor, _now: datetime) -> Panel:
    rows = db.session.execute(
        select(User.role, User.active, func.count()).group_by(User.role, User.active)
    ).all()
    active = {role.value: 0 for role in Role}
    inactive = 0
    for role, is_active, number in rows:
        if is_active:
            active[role] = active.get(role, 0) + number
        else:
            inactive += number
    return Panel("accounts/_home_users.html", UserCounts(active, inactive))
