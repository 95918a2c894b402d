"""Customer CSV import: valid rows land once, bad rows and bad files get a clear, located reason."""

import random
from datetime import date
from decimal import Decimal
from pathlib import Path

import pytest
from sqlalchemy import func, select, update

from portal.core.audit import Actor, AuditEvent
from portal.core.extensions import db
from portal.core.imports import Limits
from portal.customers import imports, services
from portal.customers.imports import errors_csv, import_customers
from portal.customers.models import CreditAccount, Customer, CustomerImport
from portal.customers.search import CustomerFilters, search_customers
from tests.factories import make_user

SAMPLE = Path(__file__).parent / "data" / "customers_sample.csv"
ACTOR = Actor.system("test-import")
SHORT_HEADER = (
    "customer_number,name,email,birthday,timezone,owner_email,account_number,product,principal,"
    "balance"
)


def run(data: str | bytes, default_timezone: str = "Asia/Shanghai", **kwargs) -> CustomerImport:
    raw = data.encode("utf-8") if isinstance(data, str) else data
    return import_customers(
        ACTOR, raw, "customers.csv", default_timezone=default_timezone, **kwargs
    )


def customer(number: str) -> Customer | None:
    return db.session.scalar(select(Customer).where(Customer.number == number))


def account(number: str) -> CreditAccount | None:
    return db.session.scalar(select(CreditAccount).where(CreditAccount.number == number))


def count(model: type) -> int:
    return db.session.scalar(select(func.count()).select_from(model)) or 0


def located(record: CustomerImport) -> list[tuple[int | None, str]]:
    return [(error["row"], error["column"]) for error in record.errors or []]


def message(record: CustomerImport, row: int) -> str:
    return " ".join(str(e["error"]) for e in record.errors or [] if e["row"] == row)


def search(query: str) -> list[str]:
    page = search_customers(ACTOR, CustomerFilters(query=query))
    return [c.number for c in page.rows]


def test_sample_file_creates_customers_and_accounts_that_search_finds(db) -> None:
    owner = make_user(email="rm.import@bank.example.com", role="rm")
    progress: list[tuple[int, int]] = []

    record = run(
        SAMPLE.read_bytes(),
        default_timezone="Asia/Hong_Kong",
        progress=lambda done, total: progress.append((done, total)),
    )

    assert record.fatal_error is None
    assert (record.rows_total, record.rows_failed) == (4, 0)
    assert (record.customers_created, record.accounts_created) == (3, 3)
    assert record.errors == [] and record.finished_at is not None
    assert progress[-1] == (4, 4)
    wang = customer("C1001")
    assert wang.name == "王小明" and wang.email == "wang.xm@example.com"
    assert (wang.phone, wang.phone_reversed) == ("+8613800138000", "0008310083168")
    assert wang.birthday == date(1990, 3, 7) and wang.segment == "affluent"
    assert wang.owner_id == owner.id and wang.consent_care is True
    assert {a.number for a in services.accounts_of(wang.id)} == {"L-1001", "CC-1001"}
    loan = account("L-1001")
    assert (loan.product, loan.principal, loan.balance) == (
        "personal_loan",
        Decimal("50000.00"),
        Decimal("32000.50"),
    )
    assert (loan.next_due_on, loan.next_due_amount) == (date(2026, 12, 15), Decimal("1800.00"))
    smith = customer("C1002")
    assert (smith.locale, smith.timezone, smith.owner_id) == ("en", "Europe/London", None)
    assert (smith.consent_care, smith.consent_survey, smith.consent_service) == (False, True, False)
    assert smith.in_arrears is True
    assert account("M-1002").currency == "GBP" and account("M-1002").status == "in_arrears"
    li = customer("C1003")  # written as c1003: numbers are upper-cased
    assert (li.locale, li.timezone, li.segment, li.email) == (
        "zh_Hans",
        "Asia/Hong_Kong",
        "mass",
        None,
    )
    assert (
        search("小明") == ["C1001"] and search("李") == ["C1003"] and search("olivia") == ["C1002"]
    )
    assert search("8000") == ["C1001"]  # the end of a phone number, through phone_reversed
    events = db.session.scalars(select(AuditEvent).where(AuditEvent.action == "customer.imported"))
    assert [(e.subject_id, e.after["customers_created"]) for e in events] == [(str(record.id), 3)]


def test_importing_again_updates_in_place_and_keeps_what_empty_cells_do_not_mention(db) -> None:
    first = run(
        "customer_number,name,email,consent_care,account_number,product,principal,balance\n"
        "C1,王小明,old@example.com,yes,A1,personal_loan,1000,800\n"
        "C2,Jack Brown,jack@example.com,no,,,,\n"
    )
    assert (first.customers_created, first.accounts_created) == (2, 1)
    again = run(
        "customer_number,name,email,consent_care,account_number,product,principal,balance\n"
        "C1,王大明,new@example.com,,A1,personal_loan,1000,650\n"
        "C2,Jack Brown,jack@example.com,no,,,,\n"
    )

    assert (again.customers_created, again.customers_updated) == (0, 1)
    assert (again.accounts_created, again.accounts_updated) == (0, 1)
    assert count(Customer) == 2 and count(CreditAccount) == 1
    wang = customer("C1")
    assert (wang.name, wang.email, wang.consent_care) == ("王大明", "new@example.com", True)
    assert wang.version == 2 and customer("C2").version == 1
    assert account("A1").balance == Decimal("650.00")
    assert search("大明") == ["C1"] and search("小明") == []


def test_gbk_file_from_chinese_excel_imports_with_chinese_headers(db) -> None:
    text = (
        "客户号,姓名,邮箱,手机,证件号,生日\r\n"
        "G1,张伟,zw@example.com,13800138000,11010119800506123X,1980/5/6\r\n"
    )

    record = run(text.encode("gbk"))

    assert record.fatal_error is None and record.encoding == "gb18030"
    zhang = customer("G1")
    assert (zhang.name, zhang.birthday, zhang.id_number) == (
        "张伟",
        date(1980, 5, 6),
        "11010119800506123X",
    )


@pytest.mark.parametrize("encoding", ["utf-8-sig", "utf-16"])
def test_file_with_a_byte_order_mark_imports(db, encoding: str) -> None:
    record = run("customer_number,name\r\nB1,陈洁\r\n".encode(encoding))

    assert record.fatal_error is None and record.encoding == encoding
    assert customer("B1").name == "陈洁"


def test_tab_separated_file_imports(db) -> None:
    record = run("customer_number\tname\tsegment\nT1\tLi Na\tprivate\n")

    assert record.fatal_error is None and customer("T1").segment == "private"


def test_missing_required_column_is_fatal_and_imports_nothing(db) -> None:
    record = run("customer_number,email\nC1,a@example.com\n")

    assert record.fatal_error.startswith("Missing required column: name.")
    assert "found: customer_number, email" in record.fatal_error
    assert count(Customer) == 0 and record.rows_total == 0 and record.finished_at is not None
    assert db.session.scalar(select(CustomerImport).where(CustomerImport.id == record.id))


@pytest.mark.parametrize(
    "garbage",
    [
        random.Random(3).randbytes(10 * 1024 * 1024),
        bytes(random.Random(4).choices(range(0x80, 0x100), k=200_000)),
    ],
    ids=["10MB-random", "high-bytes-only"],
)
def test_binary_garbage_is_fatal_with_a_clear_message(db, garbage: bytes) -> None:
    record = run(garbage)

    assert "cannot be read as UTF-8 or GBK text" in record.fatal_error
    assert count(Customer) == 0 and record.encoding is None


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        (b"", "The file is empty."),
        (b"PK\x03\x04" + b"\x00" * 100, "Excel workbook, not a CSV file"),
        (b"customer_number,name,name\nC1,A,B\n", "The column name appears twice"),
    ],
)
def test_other_unreadable_files_are_fatal(db, data: bytes, expected: str) -> None:
    assert expected in run(data).fatal_error
    assert count(Customer) == 0


def test_files_over_the_size_or_row_limit_are_refused_whole(db, monkeypatch) -> None:
    monkeypatch.setattr(imports.CustomerImporter, "limits", Limits(max_rows=2))
    too_many = run("customer_number,name\nC1,A\nC2,B\nC3,C\n")
    assert too_many.fatal_error == "The file has more than 2 rows; split it into smaller files."

    monkeypatch.setattr(imports.CustomerImporter, "limits", Limits(max_rows=2, max_bytes=20))
    too_big = run("customer_number,name\nC1,A\n")
    assert too_big.fatal_error.startswith("The file is larger than")
    assert count(Customer) == 0


def test_each_bad_row_is_reported_by_row_and_column_while_valid_rows_import(db) -> None:
    make_user(email="rm.valid@bank.example.com", role="rm")
    make_user(email="lead@bank.example.com", role="lead")
    record = run(
        f"{SHORT_HEADER}\n"
        "C1,张三,zhang@example.com,1980-01-01,Asia/Shanghai,,A1,personal_loan,1000,500\n"
        "C2,Bad Email,not-an-email,,,,,,,\n"
        "C3,Bad Birthday,,1990-02-30,,,,,,\n"
        "C4,Bad Zone,,,Mars/Olympus,,,,,\n"
        "C5,Not An RM,,,,lead@bank.example.com,,,,\n"
        "C6,Bad Product,,,,,A6,spaceship,100,100\n"
        "C7,Negative,,,,,A7,credit_card,100,-5\n"
        "C1,张三丰,zhang@example.com,1980-01-01,Asia/Shanghai,,A9,credit_card,100,0\n"
        "C8,Valid Too,,,,RM.Valid@bank.example.com,A10,auto_loan,1,1\n"
        "C1,张三,zhang@example.com,1980-01-01,Asia/Shanghai,,A11,mortgage,9,9\n"
    )

    assert record.fatal_error is None
    assert located(record) == [
        (3, "email"),
        (4, "birthday"),
        (5, "timezone"),
        (6, "owner_email"),
        (7, "product"),
        (8, "balance"),
        (9, "customer_number"),
    ]
    assert message(record, 3) == "not a valid email address."
    assert message(record, 4) == "1990-02-30 is not a real date."
    assert "Mars/Olympus" in message(record, 5)
    assert message(record, 6) == (
        "no active relationship manager with the email lead@bank.example.com."
    )
    assert "'spaceship' is not one of: auto_loan, credit_card" in message(record, 7)
    assert message(record, 8) == "negative (-5); amounts must be 0 or more."
    assert message(record, 9) == "already appears on row 2 with different data (name)."
    assert (record.rows_total, record.rows_failed) == (10, 7)
    assert (record.customers_created, record.accounts_created) == (2, 3)
    assert sorted(db.session.scalars(select(Customer.number))) == ["C1", "C8"]
    assert customer("C1").name == "张三"
    assert {a.number for a in services.accounts_of(customer("C1").id)} == {"A1", "A11"}


def test_numbers_excel_mangled_are_refused_and_excel_quoted_numbers_are_read(db) -> None:
    record = run(
        "customer_number,name,id_number,phone\n"
        'X1,Mangled,1.10101E+17,="013800138000"\n'
        'X2,Quoted,="011010119900307123X",\n'
    )

    assert located(record) == [(2, "id_number")]
    assert message(record, 2).startswith("…: Excel turned the number into this form")
    assert "1.10101" not in errors_csv(record)  # no part of an ID in the stored report
    assert customer("X2").id_number == "011010119900307123X"


def test_one_row_can_have_several_bad_cells_and_each_is_named(db) -> None:
    record = run("customer_number,name,birthday,segment,consent_care\n,,1990-13-01,vip,maybe\n")

    assert located(record) == [
        (2, "customer_number"),
        (2, "name"),
        (2, "birthday"),
        (2, "segment"),
        (2, "consent_care"),
    ]
    assert message(record, 2).startswith("missing (required). missing (required).")
    assert record.rows_failed == 1


def test_account_rules_new_account_needs_amounts_and_cannot_move_customer(db) -> None:
    run(f"{SHORT_HEADER}\nOWN,Owner,,,,,ACC-1,credit_card,10,5\n")

    record = run(
        f"{SHORT_HEADER}\n"
        "OTHER,Other,,,,,ACC-1,credit_card,10,5\n"
        "C2,Needs Amounts,,,,,ACC-2,credit_card,,\n"
        "C3,Account Columns Only,,,,,,credit_card,10,5\n"
        "C4,Shifted, by a comma,,,,,,,10,5\n"
    )

    assert located(record) == [
        (2, "account_number"),
        (3, "principal"),
        (4, "account_number"),
        (5, ""),
    ]
    assert message(record, 2) == "belongs to another customer (OWN)."
    assert message(record, 3) == "missing; a new account needs it."
    assert "more values than the header has columns" in message(record, 5)
    assert customer("OTHER") is None and account("ACC-1").customer_id == customer("OWN").id


def test_erased_customer_is_not_brought_back(db) -> None:
    run("customer_number,name\nE1,To Be Erased\n")
    erased = customer("E1")
    erased.erased_at = erased.created_at
    db.session.commit()

    record = run("customer_number,name\nE1,Back Again\n")

    assert located(record) == [(2, "customer_number")]
    assert message(record, 2) == "this customer was erased and is not imported again."
    assert customer("E1").name == "To Be Erased" and record.customers_updated == 0


def test_a_row_the_database_refuses_is_reported_and_the_rest_of_its_batch_imports(
    db, monkeypatch
) -> None:
    run("customer_number,name\nDUP,Already Here\n")
    real_loader = imports.CustomerImporter.load_customers

    def hide_existing(numbers: set[str]) -> dict:
        return {n: row for n, row in real_loader(numbers).items() if n != "DUP"}

    monkeypatch.setattr(imports.CustomerImporter, "load_customers", staticmethod(hide_existing))

    record = run("customer_number,name\nN1,New One\nDUP,Already Here\nN2,New Two\n")

    assert located(record) == [(3, "")]
    assert message(record, 3).startswith("the database refused the row")
    assert record.customers_created == 2 and customer("N1") and customer("N2")


def test_a_customer_changed_by_someone_else_during_the_import_is_not_overwritten(
    db, monkeypatch
) -> None:
    run("customer_number,name\nV1,Before\nV2,Other\n")
    real_write = imports.CustomerImporter.write

    def edit_then_write(importer, plan) -> None:
        db.session.execute(
            update(Customer).where(Customer.number == "V1").values(version=Customer.version + 1)
        )
        real_write(importer, plan)

    monkeypatch.setattr(imports.CustomerImporter, "write", edit_then_write)

    record = run("customer_number,name\nV1,After\nV2,Changed Too\n")

    assert located(record) == [(2, "")]
    assert message(record, 2).startswith("someone changed this customer during the import")
    assert customer("V1").name == "Before" and customer("V2").name == "Changed Too"


def test_error_list_is_capped_with_a_note(db, monkeypatch) -> None:
    monkeypatch.setattr(imports.CustomerImporter, "limits", Limits(max_errors=2))

    record = run("customer_number,name,email\nC1,A,x\nC2,B,y\nC3,C,z\n")

    assert record.rows_failed == 3
    assert located(record) == [(2, "email"), (3, "email"), (None, "")]
    assert record.errors[-1]["error"].startswith("Errors not listed: 1 more.")


def test_errors_csv_lists_refused_rows_for_excel(db) -> None:
    record = run("customer_number,name,email,=1+1\nC1,A,bad@,x\nC2,B,b@example.com,y\n")

    content = errors_csv(record)

    assert content.startswith("\ufeffrow,column,error\r\n")
    assert content.splitlines()[1:] == [
        "1,'=1+1,not a known column; ignored.",  # quoted, so Excel runs no formula
        "2,email,not a valid email address.",
    ]
    fatal = run("name\nA\n")
    assert errors_csv(fatal).splitlines()[1].startswith(",,Missing required column")


def test_cli_imports_prints_summary_and_writes_the_error_csv(runner, tmp_path) -> None:
    source = tmp_path / "customers.csv"
    source.write_text("customer_number,name,birthday\nC1,Li Na,1990-02-30\nC2,Wang Wei,\n")
    errors_path = tmp_path / "errors.csv"

    result = runner.invoke(
        args=["import", "customers", str(source), "--errors-out", str(errors_path)]
    )

    assert result.exit_code == 0, result.output
    assert (
        "Imported customers.csv (utf-8): 2 rows; customers 1 created, 0 updated; "
        "accounts 0 created, 0 updated; 1 row refused." in result.stdout
    )
    assert "  row 2, birthday: 1990-02-30 is not a real date." in result.stdout
    assert "2/2" in result.stderr  # the progress bar
    assert errors_path.read_text(encoding="utf-8-sig").splitlines() == [
        "row,column,error",
        "2,birthday,1990-02-30 is not a real date.",
    ]
    assert customer("C2").name == "Wang Wei"
    event = db.session.scalar(select(AuditEvent).where(AuditEvent.action == "customer.imported"))
    assert event.actor_label == "cli"


def test_cli_imports_the_sample_file_twice_without_duplicates(runner) -> None:
    make_user(email="rm.import@bank.example.com", role="rm")
    for _ in range(2):
        result = runner.invoke(args=["import", "customers", str(SAMPLE), "--quiet"])
        assert result.exit_code == 0, result.output
    assert "customers 0 created, 0 updated; accounts 0 created, 0 updated" in result.output
    assert count(Customer) == 3 and count(CreditAccount) == 3


def test_cli_shows_the_first_twenty_errors_and_counts_the_rest(runner, tmp_path) -> None:
    source = tmp_path / "many-errors.csv"
    source.write_text("customer_number,name,email\n" + "".join(f"C{i},N,bad\n" for i in range(25)))

    result = runner.invoke(args=["import", "customers", str(source), "--quiet"])

    assert result.exit_code == 0
    lines = result.stdout.splitlines()
    assert lines[0].endswith("25 rows refused.") and len(lines) == 22
    assert lines[20] == "  row 21, email: not a valid email address."
    assert lines[21] == "  … and 5 more (write them all with --errors-out PATH)."


def test_cli_fatal_file_exits_1_with_one_line(runner, tmp_path) -> None:
    source = tmp_path / "garbage.csv"
    source.write_bytes(random.Random(5).randbytes(4096))

    result = runner.invoke(
        args=[
            "import",
            "customers",
            str(source),
            "--quiet",
            "--errors-out",
            str(tmp_path / "e.csv"),
        ]
    )

    assert result.exit_code == 1
    assert result.output.startswith("Error: The file cannot be read as UTF-8 or GBK text")
    assert len(result.output.strip().splitlines()) == 1
    assert count(Customer) == 0
    assert "cannot be read as UTF-8 or GBK" in (tmp_path / "e.csv").read_text(encoding="utf-8")


def test_cli_reports_an_error_file_it_cannot_write(runner, tmp_path) -> None:
    result = runner.invoke(
        args=[
            "import",
            "customers",
            str(SAMPLE),
            "--quiet",
            "--errors-out",
            str(tmp_path / "no" / "e.csv"),
        ],
    )

    assert result.exit_code == 1
    assert result.stdout.startswith("Imported customers_sample.csv")
    assert result.stderr.startswith(f"Error: could not write {tmp_path / 'no' / 'e.csv'}: ")


def test_admin_uploads_a_gbk_file_and_downloads_the_refused_rows(client, login_as) -> None:
    import io

    login_as("admin")
    content = (
        "customer_number,name,email,birthday\n"
        "W-1,王芳,wf@mail.example.com,1985-06-01\n"
        "W-2,李雷,not-an-email,1990-02-30\n"
    ).encode("gbk")
    response = client.submit(
        "/admin/imports/customers",
        {"file": (io.BytesIO(content), "客户.csv")},
        content_type="multipart/form-data",
    )
    assert response.status_code == 303
    result = client.get(response.headers["Location"])
    assert result.status_code == 200
    assert "客户.csv" in result.text and "gb18030" in result.text
    assert "<td>3</td><td>email</td>" in result.text
    assert "<td>3</td><td>birthday</td>" in result.text
    errors_link = response.headers["Location"] + "/errors.csv"
    errors = client.get(errors_link)
    assert errors.status_code == 200 and errors.mimetype == "text/csv"
    text = errors.get_data().decode("utf-8-sig")
    assert text.splitlines()[0] == "row,column,error"
    assert text.splitlines()[1].startswith("3,")
    assert "王芳" in client.get("/customers?q=王芳").text
    listing = client.get("/admin/imports/customers")
    assert "客户.csv" in listing.text


def test_upload_page_refuses_a_missing_file(client, login_as) -> None:
    login_as("admin")
    response = client.submit("/admin/imports/customers", {}, content_type="multipart/form-data")
    assert response.status_code == 400 and "Choose a CSV file to import." in response.text
    assert client.get("/admin/imports/424242").status_code == 404


def test_an_import_that_changes_the_owner_moves_open_follow_ups_and_records_it(db) -> None:
    from portal.core.audit import AuditEvent
    from portal.core.timeutil import utc_now
    from portal.customers.models import FollowUp

    first, second = make_user(role="rm"), make_user(role="rm")
    run(f"customer_number,name,owner_email\nO1,Owen,{first.email}\n")
    owned = customer("O1")
    follow_up = FollowUp(customer_id=owned.id, owner_id=first.id, due_on=utc_now().date())
    db.session.add(follow_up)
    db.session.commit()
    run(f"customer_number,name,owner_email\nO1,Owen,{second.email}\n")
    db.session.expire_all()
    assert db.session.get(FollowUp, follow_up.id).owner_id == second.id
    moved = db.session.scalars(
        select(AuditEvent).where(AuditEvent.action == "customer.reassigned")
    ).all()
    assert [(e.subject_id, e.before, e.after) for e in moved] == [
        (str(owned.id), {"owner_id": first.id}, {"owner_id": second.id})
    ]
