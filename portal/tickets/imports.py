"""Complaint import from CSV: the portal's own layout, or the CFPB Consumer Complaint Database.

The file
    Read as every import reads its files (the driver, `portal.core.imports`): UTF-8 with or
    without a BOM, GBK/GB18030 or UTF-16 with a BOM; comma, semicolon or tab separated; the
    first row is the header, matched ignoring case and spaces; at most 50 MB and 200,000 rows.
    The whole file is parsed strictly before anything is saved: a quote that is never closed,
    or text after a closing quote, refuses the file with the row and line where it breaks. A
    value may span lines when it is quoted (CFPB narratives do).

`portal` layout (`PORTAL_COLUMNS`; source "portal-import")
    external_id (required: your id of the ticket, at most 64 characters), kind (complaint,
    feedback, inquiry or compliment; default complaint), received_at (required: an ISO 8601 date
    or date and time; without an offset it is in the deployment's zone; a date alone is 12:00
    there, or now for today before 12:00), customer_number (an existing customer),
    account_number (one of that customer's accounts), channel_code, business_code, cause_code
    (required: known, active taxonomy codes), severity (low, medium, high, critical; default
    medium), subject (required, at most 200 characters), request, description (each at most
    20,000 characters), product (at most 120), assignee_email (an active complaint handler, lead
    or admin). Tickets are registered under the deployment's regulatory profile. A row may
    leave out trailing empty cells.

`cfpb` layout (`CFPB_COLUMNS`; source "cfpb")
    The columns of the CFPB export, those in `CFPB_REQUIRED` required; other columns are
    ignored and noted; every row has as many values as the header. Every row is a complaint on
    the US profile (15 days, 60 "in progress"), whatever COMPLAINT_PROFILE says, and keeps all
    its CFPB fields in `Ticket.original`. Complaint ID → external_id; Date received (YYYY-MM-DD
    or MM/DD/YYYY) → received at 12:00 in the deployment's zone, so that the day stays the
    CFPB's day wherever the portal runs; Issue → subject; Consumer complaint narrative →
    description, whole (over 20,000 characters the row is refused); "Product / Sub-product" →
    product (shortened to 120 characters); Submitted via, Product and Issue → channel, business
    type and cause through the tables below. Company response to consumer: "Closed …" closes
    the ticket with that response and, as resolution, the company's public response (else the
    category); the CFPB gives no closing date, so it is closed at its 15-day deadline when
    "Timely response?" is Yes (never later than now), else at the time of the import.
    "In progress" puts it in progress with the US extension to 60 days. "Untimely response" is
    kept as the response, the ticket left open. A row with a response keeps "Timely response?"
    as the ticket's `timely` mark.

Outcome
    Rows are imported in batches of 500, each committed whole, each row in a savepoint of its
    own: a valid row is saved, an invalid one is refused whole and reported with its row number
    as a spreadsheet shows it (the header is row 1; a row spanning lines counts once), the
    column and the reason. A row whose (source, external_id) was imported before, or appears
    earlier in the file, is skipped, so importing a file again creates nothing twice. A file
    that cannot be read (encoding, broken quoting, missing required columns, too large) imports
    nothing. Each run leaves a `ticket.imported` audit event with its counts.
"""

import re
import unicodedata
from dataclasses import dataclass, field
from datetime import date, datetime, time
from typing import IO, Any, ClassVar
from zoneinfo import ZoneInfo

from flask_babel import lazy_gettext as _l
from sqlalchemy import select
from sqlalchemy.exc import DataError, IntegrityError

from portal.accounts.services import active_ids_by_email
from portal.core.audit import Actor
from portal.core.csvfiles import CellError, Column
from portal.core.errors import ValidationFailed
from portal.core.extensions import db
from portal.core.imports import (
    ROWS_FAILED,
    ROWS_TOTAL,
    Batch,
    CsvImporter,
    ImportOutcome,
    Limits,
    Progress,
    import_csv,
)
from portal.core.timeutil import utc_now
from portal.core.transaction import transaction
from portal.customers.models import CreditAccount, Customer
from portal.tickets import access, clocks, deadlines, events, services, validation
from portal.tickets.models import Kind, Status, TaxonomyNode, Ticket

EXTERNAL_ID_MAX = 64  # Ticket.external_id
RESPONSE_MAX = 64  # Ticket.company_response

# ---------------------------------------------------------------- the portal layout

PORTAL_COLUMNS: tuple[Column, ...] = (
    Column("external_id", required=True),
    Column("kind"),
    Column("received_at", required=True),
    Column("customer_number"),
    Column("account_number"),
    Column("channel_code", required=True),
    Column("business_code", required=True),
    Column("cause_code", required=True),
    Column("severity"),
    Column("subject", required=True),
    Column("request"),
    Column("description"),
    Column("product"),
    Column("assignee_email"),
)
# Where a service refusal (its field) is shown in the file.
PORTAL_FIELD_COLUMNS = {
    "customer_id": "customer_number",
    "account_id": "account_number",
    "assignee_id": "assignee_email",
}

# ---------------------------------------------------------------- the CFPB layout

CFPB_PROFILE = "US"
# The CFPB export's columns; those the mapping reads are required, the others are kept in
# `original` when present.
CFPB_COLUMNS: tuple[Column, ...] = (
    Column("Date received", required=True),
    Column("Product", required=True),
    Column("Sub-product", required=True),
    Column("Issue", required=True),
    Column("Sub-issue"),
    Column("Consumer complaint narrative", required=True),
    Column("Company public response", required=True),
    Column("Company"),
    Column("State"),
    Column("ZIP code"),
    Column("Tags"),
    Column("Consumer consent provided?"),
    Column("Submitted via", required=True),
    Column("Date sent to company"),
    Column("Company response to consumer", required=True),
    Column("Timely response?", required=True),
    Column("Consumer disputed?"),
    Column("Complaint ID", required=True),
)
CFPB_REQUIRED = tuple(c.name for c in CFPB_COLUMNS if c.required)
CFPB_FIELD_COLUMNS = {
    "received_at": "Date received",
    "subject": "Issue",
    "description": "Consumer complaint narrative",
    "product": "Product",
    "channel_code": "Submitted via",
    "business_code": "Product",
    "cause_code": "Issue",
}
# "Submitted via" → channel (A axis); anything else is A99.
CFPB_CHANNELS = {
    "web": "A0304",  # the CFPB's own website: an online platform
    "phone": "A0302",
    "email": "A03",
    "referral": "A04",  # passed on by another agency: a third-party channel
    "web referral": "A04",
    "postal mail": "A99",
    "fax": "A99",
}
# Product → business type (B axis): the first entry that begins the product, ignoring case;
# none → B99. Older and newer CFPB product names are both listed.
CFPB_BUSINESS: tuple[tuple[str, str], ...] = (
    ("credit card", "B0302"),
    ("prepaid card", "B0302"),
    ("checking or savings", "B01"),
    ("bank account", "B01"),
    ("mortgage", "B0202"),
    ("vehicle loan", "B0203"),
    ("payday loan", "B0201"),
    ("student loan", "B0201"),
    ("consumer loan", "B0201"),
    ("personal loan", "B0201"),
    ("debt collection", "B02"),
    ("credit reporting", "B06"),
    ("money transfer", "B04"),
    ("virtual currency", "B04"),
)
# Issue → cause (C axis): the first rule with a word of the issue starting with one of its
# keywords, ignoring case; none → C99. The order matters ("threatened to … share information"
# is collection conduct, not information security).
CFPB_CAUSES: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("C11", ("security freeze", "fraud alert", "identity theft protection")),
    ("C10", ("fraud", "scam", "identity theft", "unauthorized", "embezzlement")),
    (
        "C08",
        (
            "collect",
            "debt not owed",
            "threaten",
            "communication tactics",
            "negative or legal action",
            "repossess",
            "false statements",
        ),
    ),
    ("C07", ("fee", "interest", "charg", "apr", "wrong amount", "cost")),
    ("C04", ("advertising", "marketing", "promotional")),
    ("C05", ("disclosure", "confusing", "notification")),
    ("C06", ("terms",)),
    ("C03", ("investigation",)),
    ("C11", ("improper use", "incorrect information", "report", "information")),
    ("C01", ("customer service", "contact", "dealing with", "services promised")),
    (
        "C03",
        (
            "managing",
            "opening",
            "closing",
            "payment",
            "payoff",
            "applying",
            "getting",
            "modification",
            "servicing",
        ),
    ),
)
CFPB_IN_PROGRESS = "in progress"
CFPB_UNTIMELY = "untimely response"
_CAUSE_RULES = [
    (code, re.compile(r"\b(?:" + "|".join(map(re.escape, words)) + ")", re.IGNORECASE))
    for code, words in CFPB_CAUSES
]
_CFPB_DATE_FORMATS = ("%Y-%m-%d", "%m/%d/%Y", "%m/%d/%y")
NOON = time(12, 0)


def _noon(day: date, zone: ZoneInfo) -> datetime:
    """A day given without a time: 12:00 in `zone` (or now, for today before 12:00)."""
    return min(datetime.combine(day, NOON, zone), utc_now())


def cfpb_channel(submitted_via: str) -> str:
    return CFPB_CHANNELS.get(submitted_via.strip().lower(), "A99")


def cfpb_business(product: str) -> str:
    name = product.strip().lower()
    return next((code for prefix, code in CFPB_BUSINESS if name.startswith(prefix)), "B99")


def cfpb_cause(issue: str) -> str:
    return next((code for code, rule in _CAUSE_RULES if rule.search(issue)), "C99")


# ---------------------------------------------------------------- cleaning one row


@dataclass
class ImportRow:
    """One row, ready for `services.create_ticket`, with what still needs a database lookup."""

    external_id: str
    data: services.TicketInput
    original: dict[str, str]
    customer_number: str = ""
    account_number: str = ""
    assignee_email: str = ""
    company_response: str = ""  # CFPB
    public_response: str = ""  # CFPB
    timely: bool = True  # CFPB


def _shorten(text: str, limit: int) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1].rstrip(" ,;/") + "…"


def _external_id(text: str, column: str) -> str:
    value = text.strip()
    if not value:
        raise CellError(column, _l("missing (required)."))
    if len(value) > EXTERNAL_ID_MAX:
        raise CellError(column, _l("longer than %(n)d characters.", n=EXTERNAL_ID_MAX))
    return value


# ---------------------------------------------------------------- importing

SEEN_EXTERNAL_ID = "external_id"  # external id → the row of this file that saved it


class ComplaintImporter(CsvImporter[ImportRow]):
    """Imports batches of rows: looked up together, each saved in a savepoint of its own.

    A layout supplies its columns, `clean` and where a service refusal is shown in the file."""

    counters = ("created", "duplicates")
    audit_action = "ticket.imported"
    audit_subject = "ticket_import"
    limits = Limits(batch_rows=500)  # a ticket is several rows and events: smaller batches
    strict = True
    format: ClassVar[str]
    source: ClassVar[str]  # Ticket.source
    profile: ClassVar[str | None] = None  # the deployment's, unless the layout says
    field_columns: ClassVar[dict[str, str]]  # a service refusal's field → the file's column

    def __init__(self, actor: Actor, default_timezone: str) -> None:
        super().__init__(actor)
        self.zone = ZoneInfo(default_timezone)
        self.taxonomy: list[TaxonomyNode] = []

    def store(self, batch: Batch[ImportRow]) -> None:
        # Held for the batch so that the taxonomy checks of each row find the codes in the
        # session instead of reading them again (the session keeps only what is referenced).
        self.taxonomy = list(db.session.scalars(select(TaxonomyNode)))
        ready = [item for _, item in batch.rows]
        known = self.imported_before({r.external_id for r in ready})
        customers = self.customers({r.customer_number for r in ready if r.customer_number})
        accounts = self.accounts({r.account_number for r in ready if r.account_number})
        assignees = active_ids_by_email(
            {r.assignee_email for r in ready if r.assignee_email}, access.STAFF
        )
        for number, item in batch.rows:
            first = batch.seen(SEEN_EXTERNAL_ID, item.external_id)
            if item.external_id in known or first is not None:
                batch.count("duplicates")
                if first is not None:
                    message = _l(
                        "%(id)s already appears on row %(row)d; skipped.",
                        id=item.external_id,
                        row=first,
                    )
                    batch.note(number, "", message)
                continue
            try:
                self.link(item, customers, accounts, assignees)
            except CellError as error:
                batch.refuse(number, error.column, error.message)
                continue
            self.save(batch, number, item)

    def save(self, batch: Batch[ImportRow], number: int, item: ImportRow) -> None:
        try:
            with transaction():  # inside the batch's: a savepoint, undone if the row is refused
                ticket = services.create_ticket(
                    self.actor,
                    item.data,
                    source=self.source,
                    external_id=item.external_id,
                    original=item.original,
                    profile=self.profile,
                )
                if item.company_response:
                    _apply_company_response(self.actor, ticket, item)
        except ValidationFailed as error:
            column = self.field_columns.get(error.field or "", error.field or "")
            batch.refuse(number, column, error.message)
            return
        except (IntegrityError, DataError) as error:
            if self.imported_before({item.external_id}):
                batch.count("duplicates")  # another import saved it meanwhile
                return
            batch.refuse(number, "", self.refusal(error))
            return
        batch.count("created")
        batch.remember(SEEN_EXTERNAL_ID, item.external_id, number)

    def link(
        self,
        item: ImportRow,
        customers: dict[str, int],
        accounts: dict[str, tuple[int, int]],
        assignees: dict[str, int],
    ) -> None:
        """Turn the customer and account numbers and the assignee's email into ids."""
        if item.customer_number:
            customer_id = customers.get(item.customer_number)
            if customer_id is None:
                raise CellError(
                    "customer_number",
                    _l("no customer with the number %(number)s.", number=item.customer_number[:40]),
                )
            item.data.customer_id = customer_id
        if item.account_number:
            account = accounts.get(item.account_number)
            if account is None or account[1] != item.data.customer_id:
                raise CellError(
                    "account_number",
                    _l(
                        "no account %(number)s of this row's customer.",
                        number=item.account_number[:40],
                    ),
                )
            item.data.account_id = account[0]
        if item.assignee_email:
            assignee = assignees.get(item.assignee_email)
            if assignee is None:
                raise CellError(
                    "assignee_email",
                    _l(
                        "no active complaint handler, lead or admin with the email %(email)s.",
                        email=item.assignee_email[:80],
                    ),
                )
            item.data.assignee_id = assignee

    def imported_before(self, external_ids: set[str]) -> set[str]:
        if not external_ids:
            return set()
        found = db.session.scalars(
            select(Ticket.external_id).where(
                Ticket.source == self.source, Ticket.external_id.in_(external_ids)
            )
        )
        return {external_id for external_id in found if external_id is not None}

    @staticmethod
    def customers(numbers: set[str]) -> dict[str, int]:
        if not numbers:
            return {}
        found = db.session.execute(
            select(Customer.number, Customer.id).where(
                Customer.number.in_(numbers), Customer.erased_at.is_(None)
            )
        )
        return {number: customer_id for number, customer_id in found}

    @staticmethod
    def accounts(numbers: set[str]) -> dict[str, tuple[int, int]]:
        if not numbers:
            return {}
        found = db.session.execute(
            select(CreditAccount.number, CreditAccount.id, CreditAccount.customer_id).where(
                CreditAccount.number.in_(numbers)
            )
        )
        return {number: (account_id, owner) for number, account_id, owner in found}

    def summary(self, outcome: ImportOutcome) -> dict[str, Any]:
        summary = outcome.summary()
        # `ticket.imported` events have named the refused rows "failed" from the first one on.
        summary["failed"] = summary.pop(ROWS_FAILED)
        return {**summary, "format": self.format}


class PortalComplaintImporter(ComplaintImporter):
    """The portal's own layout (module docstring)."""

    columns = PORTAL_COLUMNS
    format = "portal"
    source = "portal-import"
    field_columns = PORTAL_FIELD_COLUMNS

    def clean(self, values: dict[str, str]) -> ImportRow:
        def cell(name: str) -> str:
            return values.get(name, "").strip()

        data = services.TicketInput(
            kind=cell("kind").lower() or Kind.COMPLAINT.value,
            subject=cell("subject"),
            channel_code=cell("channel_code"),
            business_code=cell("business_code"),
            cause_code=cell("cause_code"),
            severity=cell("severity").lower() or "medium",
            request=cell("request"),
            description=cell("description"),
            product=cell("product") or None,
            received_at=self.instant(cell("received_at")),
        )
        return ImportRow(
            external_id=_external_id(cell("external_id"), "external_id"),
            data=data,
            original=values,
            customer_number=unicodedata.normalize("NFKC", cell("customer_number")).upper(),
            account_number=unicodedata.normalize("NFKC", cell("account_number")).upper(),
            assignee_email=cell("assignee_email").lower(),
        )

    def instant(self, text: str) -> datetime:
        if not text:
            raise CellError("received_at", _l("missing (required)."))
        value = unicodedata.normalize("NFKC", text)
        try:
            if len(value) <= 10:  # a date alone
                return _noon(date.fromisoformat(value), self.zone)
            instant = datetime.fromisoformat(value)
        except ValueError:
            raise CellError(
                "received_at",
                _l(
                    "'%(value)s' is not an ISO 8601 date or date and time, such as 2026-03-01 "
                    "or 2026-03-01T09:30+08:00.",
                    value=value[:40],
                ),
            ) from None
        return instant if instant.tzinfo else instant.replace(tzinfo=self.zone)


class CfpbComplaintImporter(ComplaintImporter):
    """The CFPB Consumer Complaint Database export (module docstring)."""

    columns = CFPB_COLUMNS
    complete_rows = True
    format = "cfpb"
    source = "cfpb"
    profile = CFPB_PROFILE
    field_columns = CFPB_FIELD_COLUMNS

    def clean(self, values: dict[str, str]) -> ImportRow:
        product = values["Product"].strip()
        sub_product = values["Sub-product"].strip()
        response = " ".join(values["Company response to consumer"].split())
        lowered = response.lower()
        if response and not (
            lowered.startswith("closed") or lowered in (CFPB_IN_PROGRESS, CFPB_UNTIMELY)
        ):
            raise CellError(
                "Company response to consumer",
                _l("'%(value)s' is not a CFPB company response.", value=response[:60]),
            )
        if len(response) > RESPONSE_MAX:
            raise CellError(
                "Company response to consumer", _l("longer than %(n)d characters.", n=RESPONSE_MAX)
            )
        data = services.TicketInput(
            kind=Kind.COMPLAINT.value,
            subject=_shorten(values["Issue"], validation.SUBJECT_MAX),
            channel_code=cfpb_channel(values["Submitted via"]),
            business_code=cfpb_business(product),
            cause_code=cfpb_cause(values["Issue"]),
            product=_shorten(
                f"{product} / {sub_product}" if sub_product else product, validation.PRODUCT_MAX
            ),
            description=values["Consumer complaint narrative"],
            received_at=self.day(values["Date received"]),
        )
        return ImportRow(
            external_id=_external_id(values["Complaint ID"], "Complaint ID"),
            data=data,
            original=values,
            company_response=response,
            public_response=values["Company public response"].strip(),
            timely=values["Timely response?"].strip().lower() != "no",
        )

    def day(self, text: str) -> datetime:
        value = text.strip()
        for pattern in _CFPB_DATE_FORMATS:
            try:
                day = datetime.strptime(value, pattern).date()  # noqa: DTZ007 (a date only)
            except ValueError:
                continue
            return _noon(day, self.zone)
        raise CellError(
            "Date received",
            _l("'%(value)s' is not a date as YYYY-MM-DD or MM/DD/YYYY.", value=value[:40]),
        )


IMPORTERS: dict[str, type[ComplaintImporter]] = {
    "portal": PortalComplaintImporter,
    "cfpb": CfpbComplaintImporter,
}
FORMATS = tuple(IMPORTERS)


def _apply_company_response(actor: Actor, ticket: Ticket, item: ImportRow) -> None:
    """Bring an imported CFPB complaint to where the CFPB says it stands (module docstring)."""
    now = utc_now()
    response = item.company_response
    ticket.company_response = response
    ticket.timely = item.timely  # the CFPB's "Timely response?"
    lowered = response.lower()
    if lowered == CFPB_UNTIMELY:
        return
    if lowered == CFPB_IN_PROGRESS:
        due_before = ticket.due_at
        deadlines.apply_clock(
            ticket, clocks.extend(deadlines.clock_state(ticket), approved_by_senior=True)
        )
        ticket.status = Status.IN_PROGRESS.value
        ticket.acknowledged_at = now
        _imported_status(actor, ticket, response, now)
        events.add_event(
            actor,
            ticket,
            "clock.extended",
            reason="imported",
            data={
                "due_before": events.plain(due_before),
                "due_after": events.plain(ticket.due_at),
                "extensions": ticket.extensions,
                "paused_days": ticket.paused_days,
            },
            at=now,
        )
        return
    closed_at = min(ticket.due_at, now) if item.timely else now
    ticket.status = Status.CLOSED.value
    ticket.is_open = False
    ticket.resolution = item.public_response or response
    ticket.acknowledged_at = ticket.resolved_at = ticket.closed_at = closed_at
    _imported_status(actor, ticket, response, now)
    events.add_event(actor, ticket, "resolution", body=ticket.resolution, at=now)


def _imported_status(actor: Actor, ticket: Ticket, response: str, now: datetime) -> None:
    events.add_event(
        actor,
        ticket,
        "status",
        reason="imported",
        data={"from": Status.NEW.value, "to": ticket.status, "company_response": response},
        at=now,
    )


@dataclass
class ImportReport:
    """The outcome of one import, for the CLI (and whoever calls `import_complaints`)."""

    filename: str
    file_format: str
    encoding: str | None = None
    rows_total: int = 0
    created: int = 0
    duplicates: int = 0
    failed: int = 0
    errors: list[dict[str, Any]] = field(default_factory=list)
    fatal_error: str | None = None

    @classmethod
    def of(cls, outcome: ImportOutcome, file_format: str) -> "ImportReport":
        counts = outcome.counts
        return cls(
            filename=outcome.filename,
            file_format=file_format,
            encoding=outcome.encoding,
            rows_total=counts[ROWS_TOTAL],
            created=counts["created"],
            duplicates=counts["duplicates"],
            failed=counts[ROWS_FAILED],
            errors=outcome.errors,
            fatal_error=outcome.fatal_error,
        )


def import_complaints(
    actor: Actor,
    stream_or_bytes: bytes | IO[bytes],
    filename: str,
    *,
    file_format: str,
    default_timezone: str,
    progress: Progress | None = None,
) -> ImportReport:
    """Import a complaint CSV in `file_format` ("portal" or "cfpb"; see the module docstring).

    `progress(done, total)` is called after each batch with the data rows handled so far.
    """
    if file_format not in IMPORTERS:
        raise ValueError(f"unknown complaint import format {file_format!r}")
    importer = IMPORTERS[file_format](actor, default_timezone)
    outcome = import_csv(importer, stream_or_bytes, filename, progress=progress)
    return ImportReport.of(outcome, file_format)
