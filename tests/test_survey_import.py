"""Past survey answers import through the shared driver: good rows land once, bad ones are named."""

import csv
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import func, select

from portal.core.audit import Actor, AuditEvent
from portal.core.extensions import db
from portal.surveys.importer import Mapping, import_survey_responses, programme_score
from portal.surveys.models import ScoreGroup, SurveyAnswer, SurveyProgramme
from portal.surveys.scores import score
from tests.factories import make_customer, make_programme

DATA = Path(__file__).parent / "data"  # see PROVENANCE.md
LEGACY = DATA / "survey_responses_legacy.csv"
CSAT_CUSTOMERS = DATA / "survey_responses_csat_customers.csv"
ACTOR = Actor.system("test-survey-import")


def invoke(runner, path: Path, *options: str):
    return runner.invoke(args=["import", "survey-responses", str(path), "--quiet", *options])


def answers(programme_name: str) -> list[SurveyAnswer]:
    return list(
        db.session.scalars(
            select(SurveyAnswer)
            .join(SurveyProgramme, SurveyProgramme.id == SurveyAnswer.programme_id)
            .where(SurveyProgramme.name == programme_name)
            .order_by(SurveyAnswer.answered_at, SurveyAnswer.id)
        )
    )


def programme(name: str) -> SurveyProgramme | None:
    return db.session.scalar(select(SurveyProgramme).where(SurveyProgramme.name == name))


def answers_count() -> int:
    return db.session.scalar(select(func.count()).select_from(SurveyAnswer)) or 0


def run(data: bytes, name: str = "Old tool", **options):
    return import_survey_responses(ACTOR, data, "answers.csv", programme=name, **options)


def test_an_export_lands_its_good_rows_names_the_bad_ones_and_imports_once(
    runner, tmp_path
) -> None:
    errors_path = tmp_path / "refused.csv"

    result = invoke(runner, LEGACY, "--programme", "Old NPS", "--errors-out", str(errors_path))

    assert result.exit_code == 0, result.output
    assert "14 rows; 10 answers imported, 0 already present, 4 skipped." in result.output, (
        result.output
    )
    assert "(created, inactive, trigger 'imported')" in result.output
    # 4 promoters, 1 passive, 5 detractors: NPS −10 with the margin score() gives.
    expected = score("nps", 4, 1, 5)
    assert f"NPS -10.0 ± {expected.margin:.1f} over 10 answers (small sample)." in result.output
    with errors_path.open(encoding="utf-8-sig", newline="") as handle:
        refused = [row for row in csv.DictReader(handle) if row["row"] != "1"]
    assert [(r["row"], r["column"]) for r in refused] == [
        ("7", "score"),
        ("10", "date"),
        ("11", "score"),
        ("14", "score"),
    ]
    assert "no score" in refused[0]["error"]
    assert "'31/02/2018 11:00' is not a date as yyyy-mm-dd or dd/mm/yyyy" in refused[1]["error"]
    assert "11 is outside the NPS scale, 0 to 10" in refused[2]["error"]
    assert "'seven' is not a whole number" in refused[3]["error"]

    created = programme("Old NPS")
    assert (created.metric, created.trigger, created.active) == ("nps", "imported", False)
    rows = answers("Old NPS")
    assert len(rows) == 10
    assert {a.source for a in rows} == {"import"}
    assert len({a.import_key for a in rows}) == 10
    groups = [a.score_group for a in rows]
    assert (groups.count(ScoreGroup.HIGH), groups.count(ScoreGroup.MIDDLE)) == (4, 1)
    assert programme_score(created.id, "nps") == expected
    by_comment = {a.comment: a for a in rows}
    # Day first: 03/04/2018 09:05 in the firm's zone (Asia/Shanghai) is 3 April, 01:05 UTC.
    chinese = by_comment["客服很耐心，办理很快"]
    assert chinese.answered_at.replace(tzinfo=UTC) == datetime(2018, 4, 3, 1, 5, tzinfo=UTC)
    assert (chinese.score, chinese.locale) == (9, "zh_Hans")
    assert by_comment["利息太高，催收电话太多"].score_group == ScoreGroup.LOW
    # A date alone is noon in the firm's zone; quotes inside a quoted comment are kept.
    late_fee = by_comment['Late fee charged, "again"']
    assert late_fee.answered_at.replace(tzinfo=UTC) == datetime(2018, 2, 10, 4, tzinfo=UTC)
    assert late_fee.locale == "en"
    assert sum(a.comment == "Great" for a in rows) == 2  # identical rows both import

    again = invoke(runner, LEGACY, "--programme", "Old NPS")

    assert again.exit_code == 0, again.output
    assert "0 answers imported, 10 already present, 4 skipped." in again.output
    assert len(answers("Old NPS")) == 10
    events = db.session.scalars(
        select(AuditEvent.action).where(AuditEvent.subject_id == str(created.id))
    ).all()
    assert sorted(events) == [
        "survey.answers_imported",
        "survey.answers_imported",
        "survey.programme_created",
    ]


def test_a_third_identical_row_is_new_but_the_first_two_are_known(db) -> None:
    header = "date,score,comment\n"
    row = "2018-03-20 10:31,10,Great\n"
    assert run((header + row * 2).encode()).imported == 2

    report = run((header + row * 3).encode())

    assert (report.imported, report.present) == (1, 2)
    assert len(answers("Old tool")) == 3


def test_chinese_headers_link_customers_copy_their_segment_and_warn_on_unknown_numbers(
    db,
) -> None:
    known = make_customer(number="DEMO-C1", segment="affluent")
    other = make_customer(number="DEMO-C2", segment="mass")

    report = run(CSAT_CUSTOMERS.read_bytes(), "Old CSAT", metric="csat")

    assert (report.rows_total, report.imported, report.skipped, report.warnings) == (5, 4, 1, 1)
    errors = [(e["row"], e["column"], e["error"]) for e in report.errors]
    assert errors == [
        (4, "customer", "no customer with the number NOPE-999; imported without a customer."),
        (6, "score", "6 is outside the CSAT scale, 1 to 5."),
    ]
    rows = answers("Old CSAT")
    assert [(a.score, a.customer_id, a.segment, a.locale) for a in rows] == [
        (5, known.id, "affluent", "zh_Hans"),
        (1, other.id, "mass", "en"),
        (4, None, None, "en"),
        (3, known.id, "affluent", "zh_Hans"),  # "demo-c1": numbers are matched upper-cased
    ]
    assert [a.score_group for a in rows] == [1, -1, 1, 0]
    assert report.result == score("csat", 2, 1, 1)


@pytest.mark.parametrize("encoding", ["gb18030", "utf-16"])
def test_a_file_saved_as_gbk_or_utf16_reads_the_same(db, encoding) -> None:
    make_customer(number="DEMO-C1")
    make_customer(number="DEMO-C2")
    data = CSAT_CUSTOMERS.read_text(encoding="utf-8").encode(encoding)

    report = run(data, "Old CSAT", metric="csat")

    assert report.encoding == encoding
    assert (report.imported, report.skipped) == (4, 1)
    assert answers("Old CSAT")[0].comment == "办理很快，很满意"


def test_named_columns_and_month_first_dates(db) -> None:
    data = (
        b"when,how likely,why,date\n"
        b"04/13/2018 10:00,8,Fine,ignored\n"
        b"03/04/2018 10:00,3,Slow,ignored\n"
    )
    mapping = Mapping(date="When", score="How likely", comment="why")

    report = run(data, mapping=mapping, day_first=False)

    assert (report.imported, report.skipped) == (2, 0), report.errors
    assert [(e["row"], e["column"]) for e in report.errors] == [(1, "date")]  # noted, unused
    days = [a.answered_at.date().isoformat() for a in answers("Old tool")]
    assert days == ["2018-03-04", "2018-04-13"]

    day_first = run(data.replace(b"Fine", b"Other"), "Day first", mapping=mapping)

    assert (day_first.imported, day_first.skipped) == (1, 1)
    assert day_first.errors[1]["row"] == 2
    assert "dd/mm/yyyy" in day_first.errors[1]["error"]


def test_long_comments_future_dates_and_unknown_languages_are_refused_by_row(db) -> None:
    data = (
        "date,score,comment,language\n"
        f"2018-01-01,9,{'x' * 2_001},\n"
        f"2018-01-01,9,{'y' * 2_000},\n"
        "2999-01-01,9,From the future,\n"
        "2018-01-02,9,Unknown language,fr\n"
    ).encode()

    report = run(data)

    assert report.imported == 1
    assert [(e["row"], e["column"]) for e in report.errors] == [
        (2, "comment"),
        (4, "date"),
        (5, "language"),
    ]
    assert "2,001 characters" in report.errors[0]["error"]
    assert "in the future" in report.errors[1]["error"]


def test_a_programme_of_another_metric_is_refused_before_anything_is_read(runner) -> None:
    make_programme(name="Ticket CSAT", metric="csat")

    result = invoke(runner, LEGACY, "--programme", "Ticket CSAT", "--metric", "nps")

    assert result.exit_code == 1
    assert "The programme Ticket CSAT measures CSAT, not NPS" in result.output
    assert answers_count() == 0


def test_an_existing_programme_reads_the_file_on_its_own_scale(runner) -> None:
    make_programme(name="Ticket CSAT", metric="csat")

    result = invoke(runner, CSAT_CUSTOMERS, "--programme", "Ticket CSAT")

    assert result.exit_code == 0, result.output
    assert "4 answers imported" in result.output
    assert "created" not in result.output


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"", "The file is empty."),
        (b"date,score\n", "The file has a header but no rows; nothing to import."),
        (
            "日期,评论\n2018-01-01,好\n".encode(),
            "Missing required column: score.",
        ),
        (
            "date,score\n2018-01-01,9\n".encode("utf-16-le"),
            "cannot be read as UTF-8 or GBK text",
        ),
        (b"PK\x03\x04binary", "This is an Excel workbook"),
    ],
    ids=["empty", "header-only", "no-score-column", "utf16-without-bom", "xlsx"],
)
def test_a_file_that_cannot_be_imported_says_why_saves_nothing_and_exits_1(
    runner, tmp_path, content, message
) -> None:
    source = tmp_path / "answers.csv"
    source.write_bytes(content)

    result = invoke(runner, source, "--programme", "Never made")

    assert result.exit_code == 1
    assert message in result.output
    assert programme("Never made") is None
    assert answers_count() == 0


def test_one_column_named_for_two_roles_is_refused(runner) -> None:
    result = invoke(
        runner, LEGACY, "--programme", "P", "--score-column", "x", "--comment-column", "X"
    )

    assert result.exit_code == 1
    assert "Name a different, non-empty column for each role." in result.output
    assert programme("P") is None


def test_a_new_ces_programme_takes_the_seven_point_scale(db) -> None:
    report = run(b"date,score\n2018-01-01,7\n2018-01-02,1\n2018-01-03,8\n", "Effort", metric="ces")

    assert (report.imported, report.skipped) == (2, 1)
    assert programme("Effort").metric == "ces"
    assert [a.score_group for a in answers("Effort")] == [1, -1]


def test_the_imported_history_is_what_the_programmes_results_page_shows(
    runner, client, login_as
) -> None:
    assert invoke(runner, LEGACY, "--programme", "Old NPS").exit_code == 0
    created = programme("Old NPS")
    login_as("lead")

    page = client.get(f"/surveys/programmes/{created.id}/results").get_data(as_text=True)

    expected = score("nps", 4, 1, 5)
    assert f"−10.0 ± {expected.margin:.1f}" in page  # all answers: an imported programme's view
    assert "invitations do not apply" in page.lower()
    assert "small" in page.lower()
