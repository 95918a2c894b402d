"""Customer import from CSV: customers and their credit accounts, one row per pair.

The file
    Read, mapped and reported by the import driver (`portal.core.imports`): a CSV file (comma,
    semicolon or tab separated) in UTF-8 with or without a BOM, in GBK/GB18030 as Chinese Excel
    saves it, or in UTF-16 with a BOM. The first row is the header. Header names are matched
    ignoring case and surrounding spaces; the Chinese names listed in `COLUMNS` work too.
    Columns may come in any order; unknown columns are ignored and noted. At most 50 MB and
    200,000 rows; split a larger file.

One row per customer-account pair
    A customer with three accounts takes three rows that repeat the customer's columns; rows of
    one customer that disagree are refused (the later row). A row without `account_number`
    carries only the customer. Rows are matched on `customer_number` (trimmed, upper case) and
    `account_number`, so importing the same file again updates instead of duplicating.

Empty cells and absent columns
    A column left out of the file leaves that field as it is. An empty cell means "none" for
    email, phone, id_number, birthday, owner_email (unassigned), next_due_date, next_due_amount
    and opened_on; for every other column it keeps the current value, or the default for a new
    customer or account.

Values
    Booleans: yes/no, true/false, 1/0, y/n, 是/否. Dates: YYYY-MM-DD (YYYY/M/D and 1990年2月3日
    are read too). Amounts: decimals of at least 0 with at most two decimal places ("1,234.50"
    is read). Customer and account numbers: letters, digits, '-' and '_'. A cell written as
    ="00123" (Excel's way of keeping leading zeros) is read as 00123; a number Excel saved as
    1.10101E+17 is refused, its digits being lost. See `COLUMNS` for each column.

Outcome
    Every valid row is imported; every invalid row is refused as a whole and reported with its
    row number as a spreadsheet shows it (the header is row 1), the column and the reason. A
    file that cannot be read at all (wrong encoding, not a CSV, required columns missing, too
    large) imports nothing and is reported as a fatal error. Rows are written a batch at a
    time with bulk statements (COPY on PostgreSQL). Each run is recorded as a
    `CustomerImport`, committed also when the import fails, with one `customer.imported` event.
"""

import re
import unicodedata
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal, InvalidOperation
from functools import lru_cache
from typing import IO, Any

from flask_babel import lazy_gettext as _l
from flask_babel import lazy_ngettext
from psycopg import sql
from sqlalchemy import (
    Row,
    Table,
    bindparam,
    delete,
    insert,
    select,
    update,
)
from sqlalchemy.orm.exc import StaleDataError

from portal.accounts.services import active_ids_by_email
from portal.core import csvfiles
from portal.core.access import Role
from portal.core.audit import Actor, record_event
from portal.core.csvfiles import CellError, Column
from portal.core.errors import NotFound, ValidationFailed
from portal.core.extensions import among, db
from portal.core.imports import Batch, CsvImporter, ImportOutcome, Progress, RowRefused, import_csv
from portal.core.timeutil import utc_now
from portal.core.transaction import transaction
from portal.customers.cleaning import (
    clean_birthday,
    clean_choice,
    clean_email,
    clean_id_number,
    clean_locale,
    clean_name,
    clean_number,
    clean_phone,
    clean_timezone,
)
from portal.customers.models import (
    FLAGS,
    AccountStatus,
    CreditAccount,
    Customer,
    CustomerImport,
    CustomerSearchTerm,
    Product,
    Segment,
)
from portal.customers.search import reversed_digits, search_terms
from portal.customers.services import move_open_follow_ups

AMOUNT_MAX = Decimal("999999999999.99")  # Numeric(14, 2)


_BOOLEAN = _l("yes/no (also true/false, 1/0, 是/否); empty keeps the current value")

COLUMNS: tuple[Column, ...] = (
    Column(
        "customer_number",
        _l("Unique customer number; trimmed and upper-cased"),
        True,
        ("客户号", "客户编号"),
    ),
    Column("name", _l("Full name"), True, ("姓名", "客户姓名")),
    Column("email", _l("Email address"), aliases=("邮箱", "电子邮件", "电子邮箱")),
    Column("phone", _l("Phone number, 5 to 15 digits"), aliases=("手机", "手机号", "电话")),
    Column("id_number", _l("Identity document number"), aliases=("证件号", "证件号码", "身份证号")),
    Column("birthday", _l("Date of birth, YYYY-MM-DD"), aliases=("生日", "出生日期")),
    Column("language", _l("en or zh_Hans; default zh_Hans"), aliases=("语言",)),
    Column("timezone", _l("IANA time zone such as Asia/Shanghai; default: the portal's")),
    Column("segment", _l("mass, affluent, private or small_business; default mass")),
    Column("owner_email", _l("Email of an active relationship manager; empty = unassigned")),
    Column("consent_care", _BOOLEAN),
    Column("consent_survey", _BOOLEAN),
    Column("consent_service", _BOOLEAN),
    *(Column(flag, _BOOLEAN) for flag in FLAGS),
    Column(
        "account_number",
        _l("Credit account number; empty = the row carries only the customer"),
        aliases=("账号", "账户号"),
    ),
    Column(
        "product",
        _l("personal_loan, credit_card, mortgage or auto_loan; required for a new account"),
    ),
    Column("currency", _l("Three-letter currency code; default CNY")),
    Column("principal", _l("Amount ≥ 0; required for a new account")),
    Column("balance", _l("Amount ≥ 0; required for a new account")),
    Column("next_due_date", _l("YYYY-MM-DD")),
    Column("next_due_amount", _l("Amount ≥ 0")),
    Column("account_status", _l("active, in_arrears, closed or charged_off; default active")),
    Column("opened_on", _l("YYYY-MM-DD")),
)

ACCOUNT_COLUMNS = (
    "product",
    "currency",
    "principal",
    "balance",
    "next_due_date",
    "next_due_amount",
    "account_status",
    "opened_on",
)
ACCOUNT_FIELDS = (
    "product",
    "currency",
    "principal",
    "balance",
    "next_due_on",
    "next_due_amount",
    "status",
    "opened_on",
)
CONSENTS = ("consent_care", "consent_survey", "consent_service")
# Fields that an empty cell sets to none; the others keep their value (or take the default).
NULLABLE_CUSTOMER = ("email", "phone", "id_number", "birthday", "owner_id")
CUSTOMER_DEFAULTS = ("locale", "segment", *CONSENTS, *FLAGS)


# ---------------------------------------------------------------- cleaning one row


_BOOLEANS = {
    **dict.fromkeys(("yes", "y", "true", "t", "1", "是"), True),
    **dict.fromkeys(("no", "n", "false", "f", "0", "否"), False),
}
_DATE = re.compile(
    r"(\d{4})\s*[-/.年]\s*(\d{1,2})\s*[-/.月]\s*(\d{1,2})\s*日?(?:[ T]0{1,2}:00(?::00)?)?"
)
_GROUPED = re.compile(r"\d{1,3}(,\d{3})+(\.\d*)?")
_CURRENCY = re.compile(r"[A-Z]{3}")
_CENT = Decimal("0.01")
# Excel shows long digit strings such as ID numbers as 1.10101E+17 and saves them so, the
# digits lost; such a cell is refused with a hint rather than stored.
_SCIENTIFIC = re.compile(r"\d(\.\d+)?E\+\d+", re.IGNORECASE)
DIGIT_COLUMNS = frozenset({"customer_number", "phone", "id_number", "account_number"})


def _boolean(column: str) -> Callable[[str], bool]:
    def parse(text: str) -> bool:
        value = _BOOLEANS.get(text.lower())
        if value is None:
            raise CellError(column, _l("'%(value)s' is not yes or no.", value=text))
        return value

    return parse


def _date(column: str) -> Callable[[str], date]:
    def parse(text: str) -> date:
        text = unicodedata.normalize("NFKC", text)
        match = _DATE.fullmatch(text)
        if match is None:
            raise CellError(column, _l("'%(value)s' is not a date as YYYY-MM-DD.", value=text))
        try:
            return date(*(int(part) for part in match.groups()))
        except ValueError:
            raise CellError(column, _l("%(value)s is not a real date.", value=text)) from None

    return parse


def _amount(column: str) -> Callable[[str], Decimal]:
    def parse(text: str) -> Decimal:
        text = unicodedata.normalize("NFKC", text)
        plain = text.replace(",", "") if _GROUPED.fullmatch(text) else text
        try:
            value = Decimal(plain)
        except InvalidOperation:
            raise CellError(column, _l("'%(value)s' is not a number.", value=text)) from None
        if not value.is_finite():
            raise CellError(column, _l("'%(value)s' is not a number.", value=text))
        if value < 0:
            raise CellError(
                column, _l("negative (%(value)s); amounts must be 0 or more.", value=text)
            )
        if value > AMOUNT_MAX:
            raise CellError(column, _l("too large (%(value)s).", value=text))
        if value != value.quantize(_CENT):
            raise CellError(column, _l("more than two decimal places (%(value)s).", value=text))
        return value.quantize(_CENT)

    return parse


def _customer_number(text: str) -> str:
    value = unicodedata.normalize("NFKC", text)
    try:
        return clean_number(value)
    except ValidationFailed:
        raise CellError(
            "customer_number",
            _l(
                "'%(value)s' is not a customer number (1 to 32 letters, digits, '-' or '_').",
                value=value[:60],
            ),
        ) from None


def _account_number(text: str) -> str:
    value = unicodedata.normalize("NFKC", text).upper()
    if len(value) > 40 or not all(c.isalnum() or c in "-_" for c in value):
        raise CellError(
            "account_number",
            _l(
                "'%(value)s' is not an account number (1 to 40 letters, digits, '-' or '_').",
                value=value[:60],
            ),
        )
    return value


def _choice(column: str, choices: type) -> Callable[[str], str]:
    @lru_cache(maxsize=64)
    def parse(text: str) -> str:
        try:
            return clean_choice(text, choices, column)
        except ValidationFailed as error:
            raise CellError(column, error.message) from None

    return parse


def _name(text: str) -> str:
    try:
        return clean_name(text)
    except ValidationFailed:
        raise CellError(
            "name",
            lazy_ngettext("longer than %(num)d character.", "longer than %(num)d characters.", 120),
        ) from None


@lru_cache(maxsize=1024)  # the rows of one customer's accounts repeat the same email
def _email(text: str) -> str | None:
    try:
        return clean_email(text)
    except ValidationFailed:
        # The value is not repeated: error reports are kept and downloaded, PII is not.
        raise CellError("email", _l("not a valid email address.")) from None


def _phone(text: str) -> str | None:
    try:
        return clean_phone(text)
    except ValidationFailed:
        raise CellError("phone", _l("not a phone number of 5 to 15 digits.")) from None


def _id_number(text: str) -> str | None:
    try:
        return clean_id_number(unicodedata.normalize("NFKC", text))
    except ValidationFailed:
        raise CellError(
            "id_number", _l("not a valid ID number (at most 32 letters and digits).")
        ) from None


@lru_cache(maxsize=16)
def _language(text: str) -> str:
    try:
        return clean_locale(text)
    except ValidationFailed as error:
        raise CellError("language", error.message) from None


def _currency(text: str) -> str:
    value = text.upper()
    if not _CURRENCY.fullmatch(value):
        raise CellError(
            "currency", _l("'%(value)s' is not a three-letter currency code.", value=text)
        )
    return value


@dataclass(frozen=True)
class Field:
    """How a column's non-empty cell becomes the value of a field, and what an empty one means."""

    key: str
    parse: Callable[[str], Any]
    on_empty: str = "keep"  # "keep" the current value, "clear" it, or refuse as "required"


@dataclass
class CleanRow:
    """One row's values, as the fields to set: an absent key means "keep as it is"."""

    customer_number: str
    customer: dict[str, Any]
    owner_email: str | None = None
    owner_given: bool = False
    account_number: str | None = None
    account: dict[str, Any] = field(default_factory=dict)


# ---------------------------------------------------------------- the importer


def _column_default(model: Any, name: str) -> Any:
    return model.__table__.c[name].default.arg


CUSTOMER_FIELDS = (
    "name",
    "email",
    "phone",
    "phone_reversed",
    "id_number",
    "birthday",
    "locale",
    "timezone",
    "segment",
    "owner_id",
    *CONSENTS,
    *FLAGS,
)


@dataclass
class BatchPlan:
    """What one batch will write."""

    new_customers: dict[str, dict[str, Any]] = field(default_factory=dict)
    customer_changes: dict[int, dict[str, Any]] = field(default_factory=dict)
    owners_before: dict[int, int | None] = field(default_factory=dict)
    customer_versions: dict[int, int] = field(default_factory=dict)
    customer_ids: dict[str, int] = field(default_factory=dict)
    new_accounts: list[tuple[str, dict[str, Any]]] = field(default_factory=list)
    account_changes: dict[int, dict[str, Any]] = field(default_factory=dict)


# What the import remembers of the rows before, to catch a number repeated with other data:
# the values as tuples (a dict per row would double the memory a large file takes).
SEEN_CUSTOMER = "customer"  # number → (row, fingerprint)
SEEN_ACCOUNT = "account"  # number → (row, customer number, fingerprint)


class CustomerImporter(CsvImporter[CleanRow]):
    """Cleans rows into field values, plans each batch against the database, writes it in bulk."""

    columns = COLUMNS
    counters = ("customers_created", "customers_updated", "accounts_created", "accounts_updated")
    audit_action = "customer.imported"
    audit_subject = "customer_import"

    def __init__(self, actor: Actor, record_id: int, default_timezone: str, today: date) -> None:
        super().__init__(actor)
        self.record_id = record_id
        self.default_timezone = default_timezone
        self.today = today
        self.birthday_date = _date("birthday")
        self.fields = self.field_specs()

    # ------------------------------------------------------------ one row

    def field_specs(self) -> dict[str, Field]:
        clear, required = "clear", "required"
        return {
            "customer_number": Field("customer_number", _customer_number, required),
            "name": Field("name", _name, required),
            "email": Field("email", _email, clear),
            "phone": Field("phone", _phone, clear),
            "id_number": Field("id_number", _id_number, clear),
            "birthday": Field("birthday", self.birthday, clear),
            "language": Field("locale", _language),
            "timezone": Field("timezone", self.timezone),
            "segment": Field("segment", _choice("segment", Segment)),
            "owner_email": Field("owner_email", str.lower, clear),
            **{name: Field(name, _boolean(name)) for name in (*CONSENTS, *FLAGS)},
            "account_number": Field("account_number", _account_number, clear),
            "product": Field("product", _choice("product", Product)),
            "currency": Field("currency", _currency),
            "principal": Field("principal", _amount("principal")),
            "balance": Field("balance", _amount("balance")),
            "next_due_date": Field("next_due_on", _date("next_due_date"), clear),
            "next_due_amount": Field("next_due_amount", _amount("next_due_amount"), clear),
            "account_status": Field("status", _choice("account_status", AccountStatus)),
            "opened_on": Field("opened_on", _date("opened_on"), clear),
        }

    def birthday(self, text: str) -> date | None:
        value = self.birthday_date(text)
        try:
            return clean_birthday(value, self.today)
        except ValidationFailed as error:
            raise CellError("birthday", error.message) from None

    def timezone(self, text: str) -> str:
        try:
            return clean_timezone(text, self.default_timezone)
        except ValidationFailed as error:
            raise CellError("timezone", error.message) from None

    def clean(self, values: dict[str, str]) -> CleanRow:
        """The row's field values, or every reason to refuse it."""
        errors: list[CellError] = []
        fields: dict[str, Any] = {}
        account_details = False
        for column, cell in values.items():
            spec = self.fields[column]
            text = cell.strip()
            if text.startswith('="') and text.endswith('"'):
                text = text[2:-1].strip()  # Excel's way of keeping leading zeros: ="00123"
            if not text:
                if spec.on_empty == "clear":
                    fields[spec.key] = None
                elif spec.on_empty == "required":
                    errors.append(CellError(column, _l("missing (required).")))
                continue
            if column in ACCOUNT_COLUMNS:
                account_details = True
            if column in DIGIT_COLUMNS and _SCIENTIFIC.fullmatch(text):
                # The report is stored and downloaded: never echo (part of) a phone or ID.
                shown = "…" if column in ("phone", "id_number") else text
                message = _l(
                    "%(value)s: Excel turned the number into this form and lost digits; "
                    "format the column as text in Excel and save the file again.",
                    value=shown,
                )
                errors.append(CellError(column, message))
                continue
            try:
                fields[spec.key] = spec.parse(text)
            except CellError as error:
                errors.append(error)
        account_number = fields.pop("account_number", None)
        if account_details and not account_number:
            message = _l("missing, but the row has other account columns.")
            errors.append(CellError("account_number", message))
        if errors:
            raise RowRefused(errors)
        if "phone" in fields:
            fields["phone_reversed"] = reversed_digits(fields["phone"])
        account = {key: fields.pop(key) for key in ACCOUNT_FIELDS if key in fields}
        return CleanRow(
            customer_number=fields.pop("customer_number"),
            owner_email=fields.pop("owner_email", None),
            owner_given="owner_email" in values,
            customer=fields,
            account_number=account_number,
            account=account,
        )

    # ------------------------------------------------------------ a batch

    def store(self, batch: Batch[CleanRow]) -> None:
        plan = self.plan(batch)
        self.write(plan)
        batch.count("customers_created", len(plan.new_customers))
        batch.count("customers_updated", len(plan.customer_changes))
        batch.count("accounts_created", len(plan.new_accounts))
        batch.count("accounts_updated", len(plan.account_changes))

    def refusal(self, error: Exception) -> Any:
        if isinstance(error, StaleDataError):
            return _l("someone changed this customer during the import; import the file again.")
        return super().refusal(error)

    def finish(self, outcome: ImportOutcome) -> int:
        record = get_import(self.record_id)
        for name, value in outcome.counts.items():
            setattr(record, name, value)
        record.encoding = outcome.encoding
        record.errors = outcome.errors
        record.fatal_error = outcome.fatal_error
        record.finished_at = utc_now()
        return record.id

    def plan(self, batch: Batch[CleanRow]) -> BatchPlan:
        plan = BatchPlan()
        cleaned = [row for _, row in batch.rows]
        customers = self.load_customers({r.customer_number for r in cleaned})
        accounts = self.load_accounts({r.account_number for r in cleaned if r.account_number})
        owners = self.load_owners({r.owner_email for r in cleaned if r.owner_email})
        for number, row in batch.rows:
            problem = self.plan_row(batch, plan, number, row, customers, accounts, owners)
            if problem is not None:
                batch.refuse(number, *problem)
        return plan

    @staticmethod
    def load_customers(numbers: set[str]) -> dict[str, Row[Any]]:
        if not numbers:
            return {}
        columns = [getattr(Customer, name) for name in CUSTOMER_FIELDS]
        found = db.session.execute(
            select(
                Customer.id, Customer.number, Customer.version, Customer.erased_at, *columns
            ).where(among(Customer.number, numbers))
        )
        return {row.number: row for row in found}

    @staticmethod
    def load_accounts(numbers: set[str]) -> dict[str, Row[Any]]:
        if not numbers:
            return {}
        columns = [getattr(CreditAccount, name) for name in ACCOUNT_FIELDS]
        found = db.session.execute(
            select(CreditAccount.id, CreditAccount.number, Customer.number.label("owner"), *columns)
            .join(Customer, Customer.id == CreditAccount.customer_id)
            .where(among(CreditAccount.number, numbers))
        )
        return {row.number: row for row in found}

    @staticmethod
    def load_owners(emails: set[str]) -> dict[str, int]:
        return active_ids_by_email(emails, [Role.RM])

    def plan_row(
        self,
        batch: Batch[CleanRow],
        plan: BatchPlan,
        number: int,
        row: CleanRow,
        customers: dict[str, Row[Any]],
        accounts: dict[str, Row[Any]],
        owners: dict[str, int],
    ) -> tuple[str, Any] | None:
        """Add the row to the plan, or say which column refuses it and why."""
        values = dict(row.customer)
        if row.owner_given:
            if row.owner_email and row.owner_email not in owners:
                return "owner_email", _l(
                    "no active relationship manager with the email %(email)s.",
                    email=row.owner_email,
                )
            values["owner_id"] = owners.get(row.owner_email or "")
        customer_number = row.customer_number
        seen = batch.seen(SEEN_CUSTOMER, customer_number)
        existing = customers.get(customer_number)
        fingerprint = _fingerprint(values, CUSTOMER_FIELDS)
        if seen is not None and seen[1] != fingerprint:
            first_row, first_fingerprint = seen
            differing = {
                _column_label(key)
                for key, first, this in zip(
                    CUSTOMER_FIELDS, first_fingerprint, fingerprint, strict=True
                )
                if first != this
            }
            return "customer_number", _l(
                "already appears on row %(row)d with different data (%(columns)s).",
                row=first_row,
                columns=", ".join(sorted(differing)),
            )
        if existing is not None and existing.erased_at is not None:
            return "customer_number", _l("this customer was erased and is not imported again.")
        if row.account_number:
            problem = self.plan_account(batch, plan, number, row, accounts)
            if problem is not None:
                return problem
        if seen is None:
            batch.remember(SEEN_CUSTOMER, customer_number, (number, fingerprint))
            if existing is None:
                plan.new_customers[customer_number] = self.new_customer(customer_number, values)
            else:
                changes = {k: v for k, v in values.items() if getattr(existing, k) != v}
                if changes:
                    plan.customer_changes[existing.id] = changes
                    if "owner_id" in changes:
                        plan.owners_before[existing.id] = existing.owner_id
                    plan.customer_versions[existing.id] = existing.version
        if existing is not None:
            plan.customer_ids[customer_number] = existing.id
        return None

    def plan_account(
        self,
        batch: Batch[CleanRow],
        plan: BatchPlan,
        number: int,
        row: CleanRow,
        accounts: dict[str, Row[Any]],
    ) -> tuple[str, Any] | None:
        account_number = row.account_number or ""
        seen = batch.seen(SEEN_ACCOUNT, account_number)
        fingerprint = _fingerprint(row.account, ACCOUNT_FIELDS)
        if seen is not None:
            first_row, first_customer, first_fingerprint = seen
            if first_customer != row.customer_number:
                return "account_number", _l(
                    "already appears on row %(row)d for customer %(customer)s.",
                    row=first_row,
                    customer=first_customer,
                )
            if first_fingerprint != fingerprint:
                return "account_number", _l(
                    "already appears on row %(row)d with different data.", row=first_row
                )
            return None
        existing = accounts.get(account_number)
        if existing is not None and existing.owner != row.customer_number:
            return "account_number", _l(
                "belongs to another customer (%(customer)s).", customer=existing.owner
            )
        if existing is None:
            for column in ("product", "principal", "balance"):
                if column not in row.account:
                    return column, _l("missing; a new account needs it.")
            plan.new_accounts.append(
                (row.customer_number, self.new_account(account_number, row.account))
            )
        else:
            changes = {k: v for k, v in row.account.items() if getattr(existing, k) != v}
            if changes:
                plan.account_changes[existing.id] = changes
        batch.remember(SEEN_ACCOUNT, account_number, (number, row.customer_number, fingerprint))
        return None

    def new_customer(self, number: str, values: dict[str, Any]) -> dict[str, Any]:
        defaults = {name: _column_default(Customer, name) for name in CUSTOMER_DEFAULTS}
        nullable = dict.fromkeys((*NULLABLE_CUSTOMER, "phone_reversed"))
        return {
            "number": number,
            **nullable,
            **defaults,
            "timezone": self.default_timezone,
            **values,
        }

    @staticmethod
    def new_account(number: str, values: dict[str, Any]) -> dict[str, Any]:
        defaults = {name: _column_default(CreditAccount, name) for name in ("currency", "status")}
        nullable = dict.fromkeys(("next_due_on", "next_due_amount", "opened_on"))
        return {"number": number, **nullable, **defaults, **values}

    def write(self, plan: BatchPlan) -> None:
        actor = self.actor
        now = utc_now()
        stamps = {"created_at": now, "updated_at": now}
        ids = dict(plan.customer_ids)
        if plan.new_customers:
            _insert_rows(
                Customer.__table__,
                [{**row, **stamps, "version": 1} for row in plan.new_customers.values()],
            )
            # Reading the new ids back costs less than INSERT … RETURNING on PostgreSQL.
            found = select(Customer.number, Customer.id).where(
                among(Customer.number, plan.new_customers)
            )
            ids.update(db.session.execute(found).all())
        _update_rows(Customer.__table__, plan.customer_changes, plan.customer_versions)
        moved: dict[int | None, list[int]] = {}
        for customer_id, before in plan.owners_before.items():
            owner_id = plan.customer_changes[customer_id]["owner_id"]
            moved.setdefault(owner_id, []).append(customer_id)
            record_event(
                actor,
                "customer.reassigned",
                "customer",
                customer_id,
                before={"owner_id": before},
                after={"owner_id": owner_id},
                reason="import",
            )
        for owner_id, customer_ids in moved.items():
            move_open_follow_ups(customer_ids, owner_id)
        renamed = {
            customer_id: changes["name"]
            for customer_id, changes in plan.customer_changes.items()
            if "name" in changes
        }
        if renamed:
            db.session.execute(
                delete(CustomerSearchTerm).where(among(CustomerSearchTerm.customer_id, renamed))
            )
        names = [(ids[n], row["name"]) for n, row in plan.new_customers.items()]
        terms = [
            {"term": term, "customer_id": customer_id}
            for customer_id, name in [*names, *renamed.items()]
            for term in search_terms(name)
        ]
        if terms:
            _insert_rows(CustomerSearchTerm.__table__, terms)
        _update_rows(CreditAccount.__table__, plan.account_changes)
        if plan.new_accounts:
            _insert_rows(
                CreditAccount.__table__,
                [{**row, **stamps, "customer_id": ids[n]} for n, row in plan.new_accounts],
            )


def _insert_rows(table: Table, rows: list[dict[str, Any]]) -> None:
    """Add rows that all have the same keys: COPY on PostgreSQL, an executemany INSERT elsewhere.

    On PostgreSQL an executemany INSERT is a round of the pipeline per row; COPY is several
    times faster. Column defaults are not applied by COPY, so the rows carry every value.
    """
    connection = db.session.connection()
    if connection.dialect.name != "postgresql":
        connection.execute(insert(table), rows)
        return
    columns = list(rows[0])
    statement = sql.SQL("COPY {} ({}) FROM STDIN").format(
        sql.Identifier(table.name), sql.SQL(", ").join(map(sql.Identifier, columns))
    )
    driver_connection = connection.connection.driver_connection
    with driver_connection.cursor() as cursor, cursor.copy(statement) as copy:
        for row in rows:
            copy.write_row([row[column] for column in columns])


def _update_rows(
    table: Table, changes: dict[int, dict[str, Any]], versions: dict[int, int] | None = None
) -> None:
    """Write the changed fields of each row, one executemany UPDATE per set of changed columns.

    With `versions` (the row versions the changes were planned on) a row that someone changed
    meanwhile is not overwritten: the batch fails and is retried row by row.
    """
    groups: dict[tuple[str, ...], list[dict[str, Any]]] = {}
    for row_id, fields in changes.items():
        params = {f"new_{key}": value for key, value in fields.items()}
        params["row_id"] = row_id
        if versions is not None:
            params["row_version"] = versions[row_id]
        groups.setdefault(tuple(sorted(fields)), []).append(params)
    for keys, rows in groups.items():
        statement = (
            update(table)
            .where(table.c.id == bindparam("row_id"))
            .values({key: bindparam(f"new_{key}") for key in keys})
        )
        if versions is not None:
            statement = statement.where(table.c.version == bindparam("row_version")).values(
                version=table.c.version + 1
            )
        if db.session.execute(statement, rows).rowcount != len(rows):
            raise StaleDataError(f"{table.name}: a row changed while the import ran")


_ABSENT = object()  # a column the row leaves as it is


def _fingerprint(values: dict[str, Any], keys: tuple[str, ...]) -> tuple[Any, ...]:
    return tuple(values.get(key, _ABSENT) for key in keys)


def _column_label(key: str) -> str:
    return {
        "locale": "language",
        "owner_id": "owner_email",
        "phone_reversed": "phone",
        "status": "account_status",
        "next_due_on": "next_due_date",
    }.get(key, key)


# ---------------------------------------------------------------- the use case


def import_customers(
    actor: Actor,
    stream_or_bytes: bytes | IO[bytes],
    filename: str,
    *,
    default_timezone: str,
    progress: Progress | None = None,
) -> CustomerImport:
    """Import a customer CSV (see the module docstring); the returned record tells the outcome.

    `progress(done, total)` is called after each batch with the data rows handled so far.
    """
    with transaction():
        record = CustomerImport(
            filename=(filename or "upload.csv")[-255:],
            actor_id=actor.user_id,
            actor_label=actor.label,
            started_at=utc_now(),
        )
        db.session.add(record)
    importer = CustomerImporter(actor, record.id, default_timezone, utc_now().date())
    import_csv(importer, stream_or_bytes, filename, progress=progress)
    return get_import(importer.record_id)


def errors_csv(import_row: CustomerImport) -> str:
    """The refused rows as CSV (row, column, error), with a BOM so that Excel reads UTF-8."""
    return csvfiles.errors_csv(import_row.fatal_error, import_row.errors or [])


def recent_imports(limit: int = 20) -> list[CustomerImport]:
    return list(
        db.session.scalars(select(CustomerImport).order_by(CustomerImport.id.desc()).limit(limit))
    )


def get_import(import_id: int) -> CustomerImport:
    record = db.session.get(CustomerImport, import_id)
    if record is None:
        raise NotFound(_l("No such import."))
    return record
