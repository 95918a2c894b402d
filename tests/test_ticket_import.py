"""Complaint CSV import: the CFPB sample lands whole and once; bad files and rows are located."""

import csv
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import func, select

from portal.core.audit import Actor, AuditEvent
from portal.core.calendars import end_of_day
from portal.core.extensions import db
from portal.core.imports import Limits
from portal.customers.models import CreditAccount
from portal.tickets import imports, services
from portal.tickets.events import events_of
from portal.tickets.imports import import_complaints
from portal.tickets.models import Ticket, TicketEvent
from tests.factories import make_customer, make_user

CFPB_SAMPLE = Path(__file__).parent / "data" / "cfpb_complaints_sample_212.csv"  # see PROVENANCE.md
CFPB_HEADER = (
    "Date received,Product,Sub-product,Issue,Sub-issue,Consumer complaint narrative,"
    "Company public response,Company,State,ZIP code,Tags,Consumer consent provided?,"
    "Submitted via,Date sent to company,Company response to consumer,Timely response?,"
    "Consumer disputed?,Complaint ID"
)
PORTAL_HEADER = "external_id,received_at,channel_code,business_code,cause_code,subject"
ACTOR = Actor.system("test-import")


def cfpb_row(complaint_id: str, narrative: str = "", response: str = "Closed with explanation"):
    quoted = '"' + narrative.replace('"', '""') + '"'
    return (
        f"2023-08-25,Credit card,General-purpose credit card or charge card,Fees or interest,"
        f",{quoted},,BANK,CA,94105,,Consent provided,Web,2023-08-25,{response},Yes,N/A,"
        f"{complaint_id}"
    )


def run(text: str | bytes, file_format: str = "portal"):
    data = text.encode("utf-8") if isinstance(text, str) else text
    return import_complaints(
        ACTOR, data, "complaints.csv", file_format=file_format, default_timezone="Asia/Shanghai"
    )


def tickets_count() -> int:
    return db.session.scalar(select(func.count()).select_from(Ticket)) or 0


def ticket(source: str, external_id: str) -> Ticket:
    return db.session.scalar(
        select(Ticket).where(Ticket.source == source, Ticket.external_id == external_id)
    )


def located(report) -> list[tuple[int | None, str, str]]:
    return [(e["row"], e["column"], e["error"]) for e in report.errors]


def test_the_cfpb_sample_imports_whole_and_once(app, runner, tmp_path) -> None:
    with CFPB_SAMPLE.open(newline="", encoding="utf-8") as handle:
        expected = {row["Complaint ID"]: row for row in csv.DictReader(handle)}
    errors_path = tmp_path / "errors.csv"

    result = runner.invoke(
        args=[
            "import",
            "complaints",
            str(CFPB_SAMPLE),
            "--format",
            "cfpb",
            "--errors-out",
            str(errors_path),
        ],
    )

    assert result.exit_code == 0, result.output
    assert result.stdout.splitlines() == [
        "Imported cfpb_complaints_sample_212.csv (cfpb, utf-8): 212 rows; 212 created, "
        "0 skipped as duplicates, 0 refused."
    ]
    assert "212/212" in result.stderr  # the progress bar
    assert errors_path.read_text(encoding="utf-8-sig").splitlines() == ["row,column,error"]
    tickets = {t.external_id: t for t in db.session.scalars(select(Ticket))}
    assert set(tickets) == set(expected) and len(tickets) == 212
    assert {(t.source, t.kind, t.profile) for t in tickets.values()} == {
        ("cfpb", "complaint", "US")  # the deployment runs the CN profile
    }
    assert app.config["COMPLAINT_PROFILE"] == "CN"
    for external_id, row in expected.items():
        assert tickets[external_id].original == row  # every CFPB field, as in the file
        assert tickets[external_id].description == row["Consumer complaint narrative"].strip()
    multi_line = next(
        row for row in expected.values() if "\n" in row["Consumer complaint narrative"]
    )
    story = tickets[multi_line["Complaint ID"]]
    assert story.description == multi_line["Consumer complaint narrative"].strip()
    assert story.description.count("\n") == multi_line["Consumer complaint narrative"].count("\n")

    # Mapped onto the taxonomy: "Web" is an online platform, credit reports are personal
    # financial information, improper use of a report is information security.
    assert (story.channel_code, story.business_code, story.cause_code) == ("A0304", "B06", "C11")
    assert story.subject == "Improper use of your report"
    assert story.product == (
        "Credit reporting, credit repair services, or other personal consumer reports / "
        "Credit reporting"
    )
    collection = tickets["7434989"]  # a referral about debt collection threats
    assert (collection.channel_code, collection.business_code, collection.cause_code) == (
        "A04",
        "B02",
        "C08",
    )
    received = datetime(2023, 8, 23, 4, 0, tzinfo=UTC)  # 12:00 in Shanghai

    # "In progress": open, in progress, on the US 60-day extension.
    in_progress = tickets["7446803"]
    assert (in_progress.status, in_progress.is_open, in_progress.extensions) == (
        "in_progress",
        True,
        1,
    )
    assert in_progress.received_at == received
    zone = ZoneInfo("Asia/Shanghai")
    assert in_progress.due_at == end_of_day(date(2023, 8, 23) + timedelta(days=60), zone)
    assert in_progress.company_response == "In progress"
    open_ids = {t.external_id for t in tickets.values() if t.is_open}
    assert open_ids == {
        i for i, row in expected.items() if row["Company response to consumer"] == "In progress"
    }
    assert len(open_ids) == 86

    # "Closed …": closed at the 15-day deadline (timely), with the company's public response.
    closed = tickets["7447496"]
    assert (closed.status, closed.is_open) == ("closed", False)
    assert closed.company_response == expected["7447496"]["Company response to consumer"]
    assert closed.resolution == "Company believes the complaint is the result of a misunderstanding"
    assert closed.closed_at == closed.resolved_at == closed.due_at
    assert closed.due_at == end_of_day(
        date.fromisoformat(expected["7447496"]["Date received"]) + timedelta(days=15), zone
    )
    untimely = tickets["7266471"]
    assert untimely.status == "closed" and untimely.closed_at > untimely.due_at
    without_public_response = next(
        t for t in tickets.values() if not t.is_open and not t.original["Company public response"]
    )
    assert without_public_response.resolution == without_public_response.company_response
    events = events_of(closed.id)
    assert [(e.action, e.reason) for e in reversed(events)] == [
        ("created", None),
        ("status", "imported"),
        ("resolution", None),
    ]
    assert events[1].data == {
        "from": "new",
        "to": "closed",
        "company_response": closed.company_response,
    }
    assert [e.action for e in reversed(events_of(in_progress.id))] == [
        "created",
        "status",
        "clock.extended",
    ]
    assert {e.actor_label for e in events} == {"cli:import complaints"}

    again = runner.invoke(args=["import", "complaints", str(CFPB_SAMPLE), "--format", "cfpb"])

    assert again.exit_code == 0, again.output
    assert "212 rows; 0 created, 212 skipped as duplicates, 0 refused." in again.stdout
    assert tickets_count() == 212
    runs = db.session.scalars(
        select(AuditEvent).where(AuditEvent.action == "ticket.imported").order_by(AuditEvent.id)
    ).all()
    assert [(r.after["created"], r.after["duplicates"]) for r in runs] == [(212, 0), (0, 212)]


def test_a_cfpb_file_missing_columns_is_refused_whole_in_one_line(runner, tmp_path) -> None:
    source = tmp_path / "cut.csv"
    header = CFPB_HEADER.replace("Issue,", "").replace(",Complaint ID", "")
    source.write_text(header + "\n" + "2023-08-25,Mortgage" + ",x" * 14 + "\n")

    result = runner.invoke(args=["import", "complaints", str(source), "--format", "cfpb"])

    assert result.exit_code == 1
    assert result.stdout == ""
    assert result.stderr.startswith("Error: Missing required column: Issue, Complaint ID.")
    assert len(result.stderr.strip().splitlines()) == 1
    assert tickets_count() == 0


def test_extra_cfpb_columns_are_ignored_and_noted(db) -> None:
    report = run(f"{CFPB_HEADER},Internal note\n{cfpb_row('9000001')},hello\n", file_format="cfpb")

    assert (report.created, report.failed, report.fatal_error) == (1, 0, None)
    assert located(report) == [(1, "Internal note", "not a known column; ignored.")]
    imported = ticket("cfpb", "9000001")
    assert "Internal note" not in imported.original and imported.original["State"] == "CA"
    assert (imported.business_code, imported.cause_code) == ("B0302", "C07")


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        (
            # The narrative's quote is never closed: it would swallow every row after it.
            f'{cfpb_row("1")}\n2023-08-25,Mortgage,,Issue,,"Unclosed narrative,,,,,,,,,,,,2\n'
            f"{cfpb_row('3')}\n",
            "Row 3 (from line 3) opens a quoted value that is never closed",
        ),
        (
            f'{cfpb_row("1")}\n{cfpb_row("2")}\n2023-08-25,"Mort"gage,,,,,,,,,,,,,,,,4\n',
            "Row 4 (line 4) is not valid CSV (',' expected after '\"').",
        ),
    ],
    ids=["unterminated-quote", "text-after-quote"],
)
def test_broken_quoting_refuses_the_file_with_row_and_line(runner, tmp_path, body, expected):
    source = tmp_path / "broken.csv"
    source.write_text(f"{CFPB_HEADER}\n{body}", encoding="utf-8")

    result = runner.invoke(
        args=["import", "complaints", str(source), "--format", "cfpb", "--quiet"]
    )

    assert result.exit_code == 1 and isinstance(result.exception, SystemExit)
    assert result.stderr.startswith(f"Error: {expected}")
    assert "Traceback" not in result.output and len(result.stderr.strip().splitlines()) == 1
    assert tickets_count() == 0  # nothing from the rows before the break either


def test_bad_cfpb_rows_are_refused_alone_and_the_rest_imports(db) -> None:
    report = run(
        f"{CFPB_HEADER}\n"
        f"{cfpb_row('1', 'fine')}\n"
        f"{cfpb_row('2', 'x' * 20_001)}\n"
        f"{cfpb_row('3', response='Shrugged')}\n"
        + cfpb_row("4").replace("2023-08-25,Credit", "25th August,Credit")
        + "\n"
        f"{cfpb_row('5')},surplus\n"
        f"{cfpb_row('1', 'the same complaint again')}\n"
        "2023-08-25,Mortgage\n",
        file_format="cfpb",
    )

    assert (report.rows_total, report.created, report.duplicates, report.failed) == (7, 1, 1, 5)
    assert located(report) == [
        (
            3,
            "Consumer complaint narrative",
            "At most 20000 characters, please (20001 given).",
        ),
        (4, "Company response to consumer", "'Shrugged' is not a CFPB company response."),
        (5, "Date received", "'25th August' is not a date as YYYY-MM-DD or MM/DD/YYYY."),
        (
            6,
            "",
            "the row has more values than the header has columns (a value containing a comma "
            "must be in quotes).",
        ),
        (7, "", "1 already appears on row 2; skipped."),
        (8, "", "the row has 2 values but the header has 18 columns."),
    ]
    assert [t.external_id for t in db.session.scalars(select(Ticket))] == ["1"]
    assert ticket("cfpb", "1").description == "fine"
    assert db.session.scalar(select(func.count()).select_from(TicketEvent)) == 3


def test_portal_rows_link_customers_accounts_and_assignees_and_name_bad_values(db) -> None:
    customer = make_customer(number="C-100")
    other = make_customer(number="C-200")
    account = CreditAccount(
        customer_id=customer.id, number="L-1", product="personal_loan", principal=1, balance=1
    )
    elsewhere = CreditAccount(
        customer_id=other.id, number="L-2", product="personal_loan", principal=1, balance=1
    )
    db.session.add_all([account, elsewhere])
    db.session.commit()
    handler = make_user(role="handler", email="hana@bank.example.com")
    make_user(role="rm", email="rm@bank.example.com")
    header = f"{PORTAL_HEADER},customer_number,account_number,assignee_email,severity,kind"
    codes = "A0303,B0302,C07"

    report = run(
        f"{header}\n"
        f"P1,2026-03-01,{codes},Late fee,c-100,l-1,Hana@bank.example.com,high,\n"
        f"P2,2026-03-01,A0303,B0302,C77,Unknown cause,,,,,\n"
        f"P3,2026-03-01,{codes},Nobody,C-999,,,,\n"
        f"P4,2026-03-01,{codes},Not theirs,C-100,L-2,,,\n"
        f"P5,2026-03-01,{codes},Not staff,,,rm@bank.example.com,,\n"
        f"P6,yesterday,{codes},Bad date,,,,,\n"
        f"P7,2026-03-01,{codes},,,,,,\n"
        f"P8,2026-03-01,{codes},Bad kind,,,,,rumour\n"
        f",2026-03-01,{codes},No id,,,,,\n"
    )

    assert (report.created, report.failed) == (1, 8)
    assert located(report) == [
        (3, "cause_code", "Unknown cause code 'C77'."),
        (4, "customer_number", "no customer with the number C-999."),
        (5, "account_number", "no account L-2 of this row's customer."),
        (
            6,
            "assignee_email",
            "no active complaint handler, lead or admin with the email rm@bank.example.com.",
        ),
        (
            7,
            "received_at",
            "'yesterday' is not an ISO 8601 date or date and time, such as 2026-03-01 or "
            "2026-03-01T09:30+08:00.",
        ),
        (8, "subject", "This field is required."),
        (9, "kind", "'rumour' is not a valid choice."),
        (10, "external_id", "missing (required)."),
    ]
    imported = ticket("portal-import", "P1")
    assert (imported.customer_id, imported.account_id, imported.assignee_id) == (
        customer.id,
        account.id,
        handler.id,
    )
    assert (imported.profile, imported.severity, imported.kind, imported.status) == (
        "CN",
        "high",
        "complaint",
        "new",
    )
    assert imported.received_at == datetime(2026, 3, 1, 4, 0, tzinfo=UTC)  # 12:00 Shanghai
    assert imported.original["customer_number"] == "c-100"


def test_portal_times_without_an_offset_are_in_the_deployment_zone(db) -> None:
    run(
        f"{PORTAL_HEADER}\n"
        "T1,2026-03-01T09:30,A0303,B0302,C07,Naive\n"
        "T2,2026-03-01T09:30:00-05:00,A0303,B0302,C07,With offset\n"
        "T3,2026-03-01 09:30Z,A0303,B0302,C07,UTC\n"
    )

    assert ticket("portal-import", "T1").received_at == datetime(2026, 3, 1, 1, 30, tzinfo=UTC)
    assert ticket("portal-import", "T2").received_at == datetime(2026, 3, 1, 14, 30, tzinfo=UTC)
    assert ticket("portal-import", "T3").received_at == datetime(2026, 3, 1, 9, 30, tzinfo=UTC)


def test_a_gbk_portal_file_from_chinese_excel_keeps_its_chinese_text(db) -> None:
    text = (
        f"{PORTAL_HEADER},description,product\r\n"
        "G1,2026-05-06,A01,B0302,C08,催收电话骚扰,凌晨两点接到催收电话，要求停止。,信用卡\r\n"
    )

    report = run(text.encode("gbk"))

    assert (report.encoding, report.created, report.errors) == ("gb18030", 1, [])
    imported = ticket("portal-import", "G1")
    assert (imported.subject, imported.description, imported.product) == (
        "催收电话骚扰",
        "凌晨两点接到催收电话，要求停止。",
        "信用卡",
    )


def test_html_and_script_text_is_stored_as_written(db) -> None:
    subject = "<b>Fee</b> & <script>alert('x')</script>"
    run(f'{PORTAL_HEADER},request\nH1,2026-03-01,A0303,B0302,C07,"{subject}",<img src=x>\n')

    imported = ticket("portal-import", "H1")
    assert (imported.subject, imported.request) == (subject, "<img src=x>")


def test_portal_file_imported_again_creates_nothing_new(runner, tmp_path) -> None:
    source = tmp_path / "portal.csv"
    source.write_text(
        f"{PORTAL_HEADER}\nR1,2026-03-01,A0303,B0302,C07,One\nR2,2026-03-02,A0303,B0302,C07,Two\n"
    )
    for expected in ("2 created, 0 skipped", "0 created, 2 skipped"):
        result = runner.invoke(args=["import", "complaints", str(source), "--format", "portal"])
        assert result.exit_code == 0, result.output
        assert f"2 rows; {expected} as duplicates, 0 refused." in result.stdout
    assert tickets_count() == 2


def test_cli_lists_twenty_row_errors_and_writes_all_of_them(runner, tmp_path) -> None:
    source = tmp_path / "bad.csv"
    source.write_text(
        f"{PORTAL_HEADER}\n" + "".join(f"B{i},2026-03-01,A0303,B0302,C77,S\n" for i in range(25))
    )
    errors_path = tmp_path / "errors.csv"

    result = runner.invoke(
        args=[
            "import",
            "complaints",
            str(source),
            "--format",
            "portal",
            "--quiet",
            "--errors-out",
            str(errors_path),
        ],
    )

    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert lines[0].endswith("25 rows; 0 created, 0 skipped as duplicates, 25 refused.")
    assert lines[1] == "  row 2, cause_code: Unknown cause code 'C77'."
    assert lines[21] == "  … and 5 more."
    written = errors_path.read_text(encoding="utf-8-sig").splitlines()
    assert len(written) == 26 and written[-1] == "26,cause_code,Unknown cause code 'C77'."


def test_a_portal_file_missing_columns_names_them(runner, tmp_path) -> None:
    source = tmp_path / "few.csv"
    source.write_text("external_id,subject\nX1,Hello\n")

    result = runner.invoke(args=["import", "complaints", str(source), "--format", "portal"])

    assert result.exit_code == 1
    assert result.stderr.startswith(
        "Error: Missing required column: received_at, channel_code, business_code, cause_code."
    )
    assert tickets_count() == 0


def test_an_internal_error_reports_only_the_rows_committed_before_it(db, monkeypatch) -> None:
    monkeypatch.setattr(imports.ComplaintImporter, "limits", Limits(batch_rows=2))
    real_create = services.create_ticket
    calls = []

    def failing_third(*args, **kwargs):
        calls.append(1)
        if len(calls) == 3:
            raise RuntimeError("disk on fire")
        return real_create(*args, **kwargs)

    monkeypatch.setattr(services, "create_ticket", failing_third)
    rows = "".join(f"I{i},2026-03-01,A0303,B0302,C07,S\n" for i in range(4))

    report = run(f"{PORTAL_HEADER}\n{rows}")

    assert report.fatal_error.startswith("The import stopped after an internal error")
    assert report.created == 2 and tickets_count() == 2
