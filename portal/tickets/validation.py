"""Checks of what a ticket's use cases are given: free text, choices, amounts, staff and teams.

Each refusal is a ValidationFailed naming its field, so a form shows it next to that field.
"""

from decimal import Decimal, InvalidOperation

from flask_babel import lazy_gettext as _l

from portal.accounts.models import User
from portal.core.errors import ValidationFailed
from portal.core.extensions import db
from portal.tickets.models import Team

SUBJECT_MAX = 200
TEXT_MAX = 20_000
REASON_MAX = 2_000
PRODUCT_MAX = 120
AMOUNT_MAX = Decimal("999999999999.99")


def clean_text(raw: str | None, field: str, limit: int = TEXT_MAX, required: bool = False) -> str:
    value = (raw or "").strip()
    if "\x00" in value:
        raise ValidationFailed(_l("Text cannot contain NUL characters."), field=field)
    if len(value) > limit:
        raise ValidationFailed(
            _l(
                "At most %(limit)d characters, please (%(count)d given).",
                limit=limit,
                count=len(value),
            ),
            field=field,
        )
    if required and not value:
        raise ValidationFailed(_l("This field is required."), field=field)
    return value


def clean_reason(raw: str | None) -> str:
    """The reason a change needs (withdrawing, reopening, a clock change, a merge)."""
    return clean_text(raw, "reason", REASON_MAX, required=True)


def clean_choice(raw: str | None, choices: type, field: str) -> str:
    value = (raw or "").strip().lower()
    if value not in {c.value for c in choices}:
        raise ValidationFailed(
            _l("'%(value)s' is not a valid choice.", value=(raw or "")[:40]), field=field
        )
    return value


def clean_amount(raw: Decimal | str | None) -> Decimal | None:
    if raw in (None, ""):
        return None
    try:
        amount = Decimal(str(raw).strip().replace(",", ""))
    except InvalidOperation as error:
        raise ValidationFailed(
            _l("Enter an amount such as 120.50."), field="redress_amount"
        ) from error
    if not amount.is_finite() or amount < 0 or amount > AMOUNT_MAX:
        raise ValidationFailed(_l("Enter an amount such as 120.50."), field="redress_amount")
    return amount.quantize(Decimal("0.01"))


def check_staff(user_id: int | None, field: str) -> int | None:
    if user_id is None:
        return None
    user = db.session.get(User, user_id)
    if user is None or not user.active:
        raise ValidationFailed(_l("Choose an active staff member."), field=field)
    return user.id


def check_team(team_id: int | None) -> int | None:
    if team_id is None:
        return None
    if db.session.get(Team, team_id) is None:
        raise ValidationFailed(_l("Choose an existing team."), field="team_id")
    return team_id
