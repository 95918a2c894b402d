"""The public feedback and complaint form: what a visitor sends becomes a ticket.

Nobody is signed in, so the use case checks every value itself, limits how often one address
may write (`intake.check_rate`), matches the sender to a customer or a prospect
(`intake.complainant_for`) and registers the ticket with its acknowledgement email in one
transaction: a refusal at any step leaves nothing behind. A submission the form's bot traps
caught is checked the same way (`check`) and held as suspected spam; releasing it registers its
ticket through the same `register`, received when it was sent (`suspected_spam`).
"""

from collections.abc import Collection
from dataclasses import dataclass
from datetime import datetime

from flask_babel import lazy_gettext as _l

from portal.core.audit import Actor
from portal.core.config import LANGUAGES
from portal.core.errors import ValidationFailed
from portal.core.timeutil import utc_now
from portal.core.transaction import use_case
from portal.customers.cleaning import clean_email, clean_phone
from portal.customers.models import Product
from portal.tickets import services
from portal.tickets.channels import intake, notices
from portal.tickets.events import add_event
from portal.tickets.models import Axis, Kind, Ticket
from portal.tickets.taxonomy import active_or_other
from portal.tickets.validation import PRODUCT_MAX, SUBJECT_MAX, TEXT_MAX, clean_text

ACTOR = Actor.system("public form")
SOURCE = "web"
NAME_MAX = intake.NAME_MAX
PHONE_MAX = intake.PHONE_MAX
NUMBER_MAX = 32  # customers.number
EMAIL_MAX = 254
HINT_MAX = PRODUCT_MAX

# What the visitor may send, and the ticket kind each one becomes.
KINDS = {
    "complaint": Kind.COMPLAINT,
    "feedback": Kind.FEEDBACK,
    "compliment": Kind.COMPLIMENT,
    "question": Kind.INQUIRY,
}
OTHER_PRODUCT = "other"
# JR/T 0169 codes of a form ticket. The channel is known: the firm's own website is an
# online platform (A0304). The visitor names only the product, which gives the business type;
# the cause is theirs to tell in words, not a code to pick from a list a customer does not
# know, so it starts as "other causes" (C99) and the handler classifies it.
CHANNEL_CODE = "A0304"
CAUSE_CODE = "C99"
BUSINESS_CODES = {
    Product.PERSONAL_LOAN.value: "B0201",
    Product.CREDIT_CARD.value: "B0302",
    Product.MORTGAGE.value: "B0202",
    Product.AUTO_LOAN.value: "B0203",
    OTHER_PRODUCT: "B99",
}


@dataclass
class WebSubmission:
    kind: str
    about: str
    description: str  # what happened; its first line becomes the ticket's subject
    name: str
    email: str
    request: str = ""
    account_hint: str = ""  # an account, card or product as the customer names it
    phone: str = ""
    customer_number: str = ""
    locale: str = "en"


def _choice(raw: str | None, allowed: Collection[str], field: str) -> str:
    value = (raw or "").strip().lower()
    if value not in allowed:
        raise ValidationFailed(
            _l("'%(value)s' is not a valid choice.", value=(raw or "")[:40]), field=field
        )
    return value


def subject_of(description: str) -> str:
    """The first line of what happened, cut to fit a ticket's subject."""
    first = next((line.strip() for line in description.splitlines() if line.strip()), "")
    if len(first) <= SUBJECT_MAX:
        return first
    return first[: SUBJECT_MAX - 1].rstrip() + "…"


@dataclass(frozen=True)
class Checked:
    """A submission as the form's checks leave it: what a ticket, or a held submission, keeps."""

    kind: str  # the ticket kind
    about: str  # the product choice, which gives the business type
    description: str
    request: str
    account_hint: str
    name: str
    email: str
    phone: str | None
    customer_number: str
    locale: str


def check(data: WebSubmission) -> Checked:
    """The submission's values checked and cleaned, or `ValidationFailed` naming the field."""
    kind = _choice(data.kind, KINDS, "kind")
    about = _choice(data.about, BUSINESS_CODES, "about")
    description = clean_text(data.description, "description", TEXT_MAX, required=True)
    request = clean_text(data.request, "request", TEXT_MAX)
    account_hint = clean_text(data.account_hint, "account_hint", HINT_MAX)
    name = clean_text(data.name, "name", NAME_MAX, required=True)
    email = clean_email(clean_text(data.email, "email", EMAIL_MAX, required=True))
    phone = clean_phone(clean_text(data.phone, "phone", PHONE_MAX))
    number = clean_text(data.customer_number, "customer_number", NUMBER_MAX).upper()
    assert email is not None  # required above
    return Checked(
        kind=KINDS[kind].value,
        about=about,
        description=description,
        request=request,
        account_hint=account_hint,
        name=name,
        email=email,
        phone=phone,
        customer_number=number,
        locale=data.locale if data.locale in LANGUAGES else "en",
    )


@use_case
def submit(data: WebSubmission, *, now: datetime | None = None) -> Ticket:
    """Register what a visitor sent as a ticket from the web and queue its acknowledgement;
    refuses bad input (`ValidationFailed`, with the field) and a sender's sixth ticket of the
    day (`intake.TooMany`), saving nothing then."""
    checked = check(data)
    intake.check_rate(checked.email, now or utc_now())
    return register(checked)


@use_case
def register(checked: Checked, *, received_at: datetime | None = None) -> Ticket:
    """The ticket of a checked submission, received now or at `received_at` (a held
    submission released later keeps the time it was sent), matched to its complainant and
    acknowledged by email in the same transaction."""
    complainant = intake.complainant_for(
        checked.email,
        checked.name,
        number=checked.customer_number or None,
        phone=checked.phone,
        locale=checked.locale,
    )
    ticket = services.create_ticket(
        ACTOR,
        services.TicketInput(
            kind=checked.kind,
            subject=subject_of(checked.description),
            channel_code=active_or_other(CHANNEL_CODE, Axis.CHANNEL),
            business_code=active_or_other(BUSINESS_CODES[checked.about], Axis.BUSINESS),
            cause_code=active_or_other(CAUSE_CODE, Axis.CAUSE),
            customer_id=complainant.customer_id,
            product=checked.account_hint or None,
            request=checked.request,
            description=checked.description,
            received_at=received_at,
        ),
        source=SOURCE,
        prospect_id=complainant.prospect_id,
    )
    if complainant.note:
        add_event(ACTOR, ticket, "note", body=complainant.note)
    notices.acknowledge(ACTOR, ticket)
    return ticket
