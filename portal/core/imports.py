"""The one driver of CSV imports: every room's import runs through `import_csv`.

What the driver does, the same for every import
    It reads the file (`portal.core.csvfiles`: size and row limits, encoding — UTF-8 with or
    without a BOM, GBK/GB18030, UTF-16 with a BOM —, delimiter, the whole file parsed before
    anything is saved), maps its header to the importer's columns (required columns, aliases,
    unknown columns noted on row 1), refuses a row with more values than the header (or, for
    an importer with `complete_rows`, fewer), splits the rows into batches of
    `limits.batch_rows`, collects row errors (row as a spreadsheet shows it, column, message)
    without stopping, reports progress, and produces the `ImportOutcome`: counts, errors,
    encoding, fatal error. It ends by recording the import: one audit event
    (`audit_action` on `audit_subject`), in a transaction of its own, also when the file was
    refused or the import stopped.

A batch is all or nothing
    Each batch is stored in one `transaction()`: it commits whole, or leaves nothing. Its
    counts, its errors and what it remembered enter the outcome only once it has committed, so
    the outcome says what is saved. A batch that the database refuses (one of `refusals`:
    a duplicate key another process added meanwhile, a row changed under a version) is retried
    row by row: the rows the database refuses are reported (`refusal`), the others saved. Any
    other error stops the import: the outcome reports the batches committed before it and
    `INTERNAL_ERROR` as its fatal error. An importer never commits or rolls back; a use case
    it calls from `store` runs in a savepoint of the batch's transaction (see
    `portal.core.transaction`), so a row can be refused alone by catching its error.

Adding an importer: subclass `CsvImporter` and supply three things
    1. Its columns: `columns` (`Column(name, description, required, aliases)`), and the names
       of its `counters` (the driver keeps `rows_total` and `rows_failed` itself), with
       `audit_action` and `audit_subject` for the audit event.
    2. `clean(values) -> T`: one row's cells, `values` {column name: the cell as written}
       for the columns of the file's header, turned into a value of the importer's own, or
       refused by raising `CellError(column, message)` (one reason) or `RowRefused(errors)`
       (several). No database writes: it runs outside the batch's transaction.
    3. `store(batch)`: save `batch.rows`, the (row number, value) pairs that `clean` passed,
       in as few statements as it can (look things up for the whole batch, insert in bulk),
       and tell the driver what happened with `batch.count(counter, n)`,
       `batch.refuse(row, column, message)` (the row is failed) and
       `batch.note(row, column, message)` (a remark, the row not failed). A key met again
       later in the file is found with `batch.seen(kind, key)` once `batch.remember(kind, key,
       value)` has kept it; what a batch remembers is forgotten if it does not commit.

    Optional: `limits` (`Limits`: bytes, rows, errors kept, batch size), `strict` CSV parsing,
    `complete_rows`, `refusals` and `refusal(error)`, `finish(outcome)` to keep the outcome in
    a record of the importer's own (it returns the audit event's subject id) and
    `summary(outcome)` for the event's data. Then a use case of the room makes the importer
    for its actor and options and returns `import_csv(importer, source, filename, ...)`, or a
    report of its own built from that outcome; its CLI command passes it to
    `portal.core.cli.run_import`.
"""

import logging
from abc import ABC, abstractmethod
from collections.abc import Callable, Hashable
from dataclasses import dataclass, field
from typing import IO, Any, ClassVar, Generic, TypeVar

import psycopg
from flask_babel import lazy_gettext as _l
from sqlalchemy.exc import DataError, IntegrityError
from sqlalchemy.orm.exc import StaleDataError

from portal.core.audit import Actor, record_event
from portal.core.csvfiles import (
    INTERNAL_ERROR,
    TOO_MANY_VALUES,
    UNKNOWN_COLUMN,
    CellError,
    Column,
    FatalImportError,
    RowErrors,
    header_names,
    map_header,
    parse,
    read_text,
)
from portal.core.transaction import transaction

log = logging.getLogger(__name__)

T = TypeVar("T")
Progress = Callable[[int, int], None]

# What the database may refuse although the checks passed (COPY raises psycopg's own errors).
DATABASE_REFUSALS: tuple[type[Exception], ...] = (
    IntegrityError,
    DataError,
    StaleDataError,
    psycopg.IntegrityError,
    psycopg.DataError,
)
ROWS_TOTAL = "rows_total"
ROWS_FAILED = "rows_failed"


@dataclass(frozen=True)
class Limits:
    max_bytes: int = 50 * 1024 * 1024  # a 100,000-row customer file with every column: ~25 MB
    max_rows: int = 200_000
    max_errors: int = 10_000  # the errors listed; more are counted in a last line
    batch_rows: int = 1_000


class RowRefused(Exception):
    """A row is refused for several reasons at once, each a `CellError`, reported in order."""

    def __init__(self, errors: list[CellError]) -> None:
        super().__init__(errors)
        self.errors = errors


Memory = dict[str, dict[Hashable, Any]]  # kind → key → what a row remembered


class Batch(Generic[T]):
    """One batch of cleaned rows while it is stored: what it counts, refuses, notes and
    remembers stays with it and enters the import's outcome only when it commits."""

    def __init__(self, size: int, counters: tuple[str, ...], memory: Memory) -> None:
        self.size = size  # the file's rows in it, refused ones included
        self.rows: list[tuple[int, T]] = []
        self.counts = dict.fromkeys(counters, 0)
        self.reports: list[tuple[int, str, Any]] = []  # (row, column, message), refusals and notes
        self.failed: set[int] = set()
        self.learned: Memory = {}  # what its rows remembered, kept once it commits
        self._memory = memory

    def count(self, counter: str, n: int = 1) -> None:
        if counter not in self.counts:
            raise KeyError(f"{counter!r} is not one of the importer's counters")
        self.counts[counter] += n

    def refuse(self, row: int, column: str, message: Any) -> None:
        """The row is not imported, for this reason (a row may be refused for several)."""
        self.failed.add(row)
        self.reports.append((row, column, message))

    def note(self, row: int, column: str, message: Any) -> None:
        """A remark on a row that is not a refusal (such as a duplicate skipped)."""
        self.reports.append((row, column, message))

    def seen(self, kind: str, key: Hashable) -> Any:
        """What an earlier row of the file left under `key` with `remember`, or None."""
        learned = self.learned.get(kind)
        if learned is not None and key in learned:
            return learned[key]
        return self._memory.get(kind, {}).get(key)

    def remember(self, kind: str, key: Hashable, value: Any) -> None:
        self.learned.setdefault(kind, {})[key] = value


@dataclass
class ImportOutcome:
    """What an import did: its counts (`rows_total`, the importer's counters, `rows_failed`),
    the errors and notes in file order, and the fatal error that refused or stopped it."""

    filename: str
    counts: dict[str, int]
    encoding: str | None = None
    errors: list[dict[str, Any]] = field(default_factory=list)
    fatal_error: str | None = None

    def summary(self) -> dict[str, Any]:
        """The outcome as the audit event keeps it."""
        return {
            "filename": self.filename,
            "encoding": self.encoding,
            **self.counts,
            "fatal_error": self.fatal_error,
        }


class CsvImporter(ABC, Generic[T]):
    """What one import supplies to `import_csv` (see the module docstring); made for one run."""

    columns: ClassVar[tuple[Column, ...]]
    counters: ClassVar[tuple[str, ...]] = ()
    audit_action: ClassVar[str]
    audit_subject: ClassVar[str]
    limits: ClassVar[Limits] = Limits()
    strict: ClassVar[bool] = False  # refuse the file at a quote never closed or text after one
    complete_rows: ClassVar[bool] = False  # refuse a row with fewer values than the header
    refusals: ClassVar[tuple[type[Exception], ...]] = DATABASE_REFUSALS

    def __init__(self, actor: Actor) -> None:
        self.actor = actor

    @abstractmethod
    def clean(self, values: dict[str, str]) -> T:
        """One row's value, or CellError / RowRefused saying why the row is refused."""

    @abstractmethod
    def store(self, batch: Batch[T]) -> None:
        """Save the batch's rows in the batch's transaction, counting and refusing on `batch`."""

    def refusal(self, error: Exception) -> Any:
        """Why the database refused a row (one of `refusals`), as the error report says it."""
        reason = str(getattr(error, "orig", None) or error).splitlines()[0]
        return _l("the database refused the row (%(reason)s).", reason=reason)

    def finish(self, outcome: ImportOutcome) -> Any:
        """Keep the outcome where the importer keeps it, if anywhere, in the transaction that
        records the import; the id of the audit event's subject."""
        return outcome.filename[-64:]

    def summary(self, outcome: ImportOutcome) -> dict[str, Any]:
        """The audit event's data."""
        return outcome.summary()


def import_csv(
    importer: CsvImporter[Any],
    source: bytes | IO[bytes],
    filename: str,
    *,
    progress: Progress | None = None,
) -> ImportOutcome:
    """Import the CSV file `source` with `importer` (see the module docstring) and record it.

    `progress(done, total)` is told after each batch how many of the file's data rows are done.
    """
    run = _Run(importer, (filename or "upload.csv")[-255:])
    try:
        run.read(source, progress)
    except FatalImportError as error:
        run.outcome.fatal_error = str(error.args[0])
    except Exception:
        # Whatever went wrong, the rows committed so far are reported, never left unexplained.
        log.exception("%s of %s stopped", type(importer).__name__, run.outcome.filename)
        run.outcome.fatal_error = str(INTERNAL_ERROR)
    run.outcome.errors = run.errors.listed()
    with transaction():
        subject_id = importer.finish(run.outcome)
        record_event(
            importer.actor,
            importer.audit_action,
            importer.audit_subject,
            subject_id,
            after=importer.summary(run.outcome),
        )
    return run.outcome


class _Run:
    """One import under way: the file's header, the outcome so far, what the file taught."""

    def __init__(self, importer: CsvImporter[Any], filename: str) -> None:
        self.importer = importer
        counts = dict.fromkeys((ROWS_TOTAL, *importer.counters, ROWS_FAILED), 0)
        self.outcome = ImportOutcome(filename=filename, counts=counts)
        self.errors = RowErrors(importer.limits.max_errors)
        self.memory: Memory = {}
        self.positions: dict[str, int] = {}
        self.width = 0

    def read(self, source: bytes | IO[bytes], progress: Progress | None) -> None:
        importer, limits = self.importer, self.importer.limits
        text, self.outcome.encoding = read_text(source, limits.max_bytes)
        csv_file = parse(text, max_rows=limits.max_rows, strict=importer.strict)
        required = [column.name for column in importer.columns if column.required]
        self.positions, unknown = map_header(
            csv_file.header, header_names(importer.columns), required
        )
        self.width = len(csv_file.header)
        for name in unknown:
            self.errors.add(1, name[:60], UNKNOWN_COLUMN)
        for rows in csv_file.batches(limits.batch_rows, progress):
            self.import_batch(rows)

    def import_batch(self, rows: list[tuple[int, list[str]]]) -> None:
        batch: Batch[Any] = Batch(len(rows), self.importer.counters, self.memory)
        for number, cells in rows:
            try:
                batch.rows.append((number, self.importer.clean(self.values(cells))))
            except CellError as error:
                batch.refuse(number, error.column, error.message)
            except RowRefused as refused:
                for error in refused.errors:
                    batch.refuse(number, error.column, error.message)
        if batch.rows:
            try:
                # No conflicts to translate: a stale row is one of `refusals`, retried row by row.
                with transaction(conflicts=()):
                    self.importer.store(batch)
            except self.importer.refusals as error:
                self.refused(rows, error)
                return
        self.merge(batch)

    def refused(self, rows: list[tuple[int, list[str]]], error: Exception) -> None:
        if len(rows) > 1:
            # Something the checks did not foresee (such as another process adding the same
            # key meanwhile): find the rows the database refuses, import the others.
            log.warning(
                "import batch at row %d failed (%s); retrying row by row",
                rows[0][0],
                type(error).__name__,
            )
            for row in rows:
                self.import_batch([row])
            return
        batch: Batch[Any] = Batch(1, self.importer.counters, self.memory)
        batch.refuse(rows[0][0], "", self.importer.refusal(error))
        self.merge(batch)

    def values(self, cells: list[str]) -> dict[str, str]:
        if any(cell.strip() for cell in cells[self.width :]):
            raise CellError("", TOO_MANY_VALUES)
        if self.importer.complete_rows and len(cells) < self.width:
            raise CellError(
                "",
                _l(
                    "the row has %(count)d values but the header has %(width)d columns.",
                    count=len(cells),
                    width=self.width,
                ),
            )
        count = len(cells)
        return {
            name: cells[index] if index < count else "" for name, index in self.positions.items()
        }

    def merge(self, batch: Batch[Any]) -> None:
        counts = self.outcome.counts
        for name, n in batch.counts.items():
            counts[name] += n
        counts[ROWS_TOTAL] += batch.size
        counts[ROWS_FAILED] += len(batch.failed)
        for row, column, message in sorted(batch.reports, key=lambda report: report[0]):
            self.errors.add(row, column, message)
        for kind, learned in batch.learned.items():
            self.memory.setdefault(kind, {}).update(learned)
