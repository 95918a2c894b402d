"""The CSV import driver: a batch is saved whole or not at all, and the outcome says which."""

from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from portal.core.audit import Actor, AuditEvent, record_event
from portal.core.csvfiles import CellError, Column
from portal.core.imports import Batch, CsvImporter, Limits, RowRefused, import_csv

ACTOR = Actor.system("test-driver")


class Notes(CsvImporter[tuple[str, int]]):
    """Saves each row as a `note` audit event; 13 is refused by "the database", 99 breaks."""

    columns = (Column("key", required=True, aliases=("键",)), Column("value"))
    counters = ("saved", "repeated")
    audit_action = "note.imported"
    audit_subject = "note_import"
    limits = Limits(batch_rows=2)

    def clean(self, values: dict[str, str]) -> tuple[str, int]:
        key, value = values["key"].strip(), values.get("value", "").strip()
        if not value.isdigit():
            errors = [CellError("value", "not a number.")]
            if not key:
                errors.insert(0, CellError("key", "missing (required)."))
            raise RowRefused(errors)
        return key, int(value)

    def store(self, batch: Batch[tuple[str, int]]) -> None:
        for row, (key, value) in batch.rows:
            first = batch.seen("key", key)
            if first is not None:
                batch.count("repeated")
                batch.note(row, "key", f"already on row {first}.")
                continue
            if value == 99:
                raise RuntimeError("disk on fire")
            record_event(self.actor, "note", "note", key, after={"value": value})
            batch.remember("key", key, row)
            batch.count("saved")
        if any(value == 13 for _, (_, value) in batch.rows):
            raise IntegrityError("INSERT", {}, Exception("unlucky\nDETAIL: 13"))


def run(text: str) -> Any:
    return import_csv(Notes(ACTOR), text.encode("utf-8"), "notes.csv")


def saved(db) -> list[str]:
    db.session.expire_all()
    query = select(AuditEvent.subject_id).where(AuditEvent.action == "note").order_by(AuditEvent.id)
    return list(db.session.scalars(query))


def test_rows_are_cleaned_stored_counted_and_reported_in_file_order(db) -> None:
    outcome = run("键,value,extra\na,1,x\n,x,\nb,2,\na,1,\n")

    assert outcome.fatal_error is None and outcome.encoding == "utf-8"
    assert outcome.counts == {"rows_total": 4, "saved": 2, "repeated": 1, "rows_failed": 1}
    assert [(e["row"], e["column"], e["error"]) for e in outcome.errors] == [
        (1, "extra", "not a known column; ignored."),
        (3, "key", "missing (required)."),
        (3, "value", "not a number."),
        (5, "key", "already on row 2."),
    ]
    assert saved(db) == ["a", "b"]
    event = db.session.scalar(select(AuditEvent).where(AuditEvent.action == "note.imported"))
    assert (event.subject_type, event.subject_id, event.actor_label) == (
        "note_import",
        "notes.csv",
        "test-driver",
    )
    assert event.after == {"filename": "notes.csv", "encoding": "utf-8", **outcome.counts} | {
        "fatal_error": None
    }


def test_a_batch_the_database_refuses_is_retried_row_by_row(db) -> None:
    outcome = run("key,value\na,1\nb,13\nc,3\nb,4\n")

    assert saved(db) == ["a", "c", "b"]
    assert [(e["row"], e["column"], e["error"]) for e in outcome.errors] == [
        (3, "", "the database refused the row (unlucky)."),
    ]
    # b's refused row left nothing to remember: row 5 is the first b that was saved.
    assert outcome.counts == {"rows_total": 4, "saved": 3, "repeated": 0, "rows_failed": 1}


def test_an_error_stops_the_import_and_reports_only_the_committed_batches(db) -> None:
    outcome = run("key,value\na,1\nb,2\nc,3\nd,99\ne,5\n")

    assert outcome.fatal_error.startswith("The import stopped after an internal error")
    assert saved(db) == ["a", "b"]  # c, in d's batch, was not kept
    assert outcome.counts == {"rows_total": 2, "saved": 2, "repeated": 0, "rows_failed": 0}
    assert db.session.scalar(select(AuditEvent).where(AuditEvent.action == "note.imported"))


@pytest.mark.parametrize(
    ("text", "fatal"),
    [
        ("value\n1\n", "Missing required column: key."),
        ("key,value\n" + "a,1\n" * 4, "The file has more than 3 rows"),
    ],
)
def test_a_file_refused_whole_saves_nothing_and_is_still_recorded(
    db, monkeypatch, text: str, fatal: str
) -> None:
    monkeypatch.setattr(Notes, "limits", Limits(max_rows=3))

    outcome = run(text)

    assert outcome.fatal_error.startswith(fatal) and saved(db) == []
    assert outcome.counts["rows_total"] == 0
    assert db.session.scalar(select(AuditEvent).where(AuditEvent.action == "note.imported"))


def test_a_row_with_more_values_than_the_header_is_refused(db) -> None:
    outcome = run("key,value\na,1,surplus\nb,2\n")

    assert [(e["row"], e["column"]) for e in outcome.errors] == [(2, "")]
    assert "more values than the header" in outcome.errors[0]["error"]
    assert saved(db) == ["b"]
