"""Making an invitation row: the one place its nonce, token hash and expiry are set."""

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from portal.core.timeutil import utc_now
from portal.surveys.models import InvitationStatus, SurveyProgramme
from portal.surveys.tokens import new_nonce, token_for, token_hash


@dataclass(frozen=True)
class NewInvitation:
    """An invitation's column values, ready to insert, and the token its email will carry."""

    values: dict[str, Any]
    token: str


def new_invitation(
    programme: SurveyProgramme,
    *,
    dedupe_key: str,
    customer_id: int | None,
    send_at: datetime,
    locale: str,
    now: datetime | None = None,
    **about: Any,
) -> NewInvitation:
    """The row inviting `customer_id` to `programme` (ticket_id, interaction_id, wave,
    subject_label in `about`); it expires `expiry_days` after it is sent and, when the
    programme reminds, is reminded `remind_after_days` after that."""
    nonce = new_nonce()
    token = token_for(nonce)
    remind_at = (
        send_at + timedelta(days=programme.remind_after_days)
        if programme.remind_after_days
        else None
    )
    values = {
        "programme_id": programme.id,
        "dedupe_key": dedupe_key,
        "customer_id": customer_id,
        "locale": locale,
        "nonce": nonce,
        "token_hash": token_hash(token),
        "status": InvitationStatus.INVITED.value,
        "created_at": now or utc_now(),
        "send_at": send_at,
        "expires_at": send_at + timedelta(days=programme.expiry_days),
        "remind_at": remind_at,
        "subject_label": "",
        **about,
    }
    return NewInvitation(values, token)
