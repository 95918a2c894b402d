"""Reading the CSV files people import, and reporting on them, the same way in every room.

A file is read whole (at most `max_bytes`), its encoding found (UTF-8 with or without a BOM,
GBK/GB18030 as Chinese Excel saves it, UTF-16 with a BOM), its delimiter guessed from the
header (comma, semicolon or tab) and then parsed once from end to end before anything is
imported, so that a file that is not valid CSV is refused whole with the row and line where it
breaks. Header names are matched ignoring case, surrounding spaces and the difference between
spaces, '-' and '_'. Row errors are kept as {"row", "column", "error"} dicts, capped, and can be
downloaded as CSV.
"""

import codecs
import csv
import io
import re
import unicodedata
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from itertools import islice
from typing import IO, Any

from flask_babel import lazy_gettext as _l


@dataclass(frozen=True)
class Column:
    name: str
    description: Any = ""  # a lazy string, translated where it is shown
    required: bool = False
    aliases: tuple[str, ...] = ()


class FatalImportError(Exception):
    """The file as a whole cannot be imported; nothing from it is written."""


class CellError(Exception):
    """A row is refused: the column to blame ("" for the row as a whole), and why."""

    def __init__(self, column: str, message: Any) -> None:
        super().__init__(column)
        self.column = column
        self.message = message


def header_key(text: str) -> str:
    text = unicodedata.normalize("NFKC", text).strip().lstrip("\ufeff").strip().lower()
    return re.sub(r"[\s\-]+", "_", text)


def header_names(columns: Iterable[Column]) -> dict[str, str]:
    """The `header_key` of every column's name and aliases → the column's name."""
    return {header_key(name): c.name for c in columns for name in (c.name, *c.aliases)}


def read_bytes(source: bytes | IO[bytes], max_bytes: int) -> bytes:
    data = source if isinstance(source, bytes) else source.read(max_bytes + 1)
    if len(data) > max_bytes:
        raise FatalImportError(
            _l(
                "The file is larger than %(mb)d MB; split it into smaller files.",
                mb=max_bytes // (1024 * 1024),
            )
        )
    if not data.strip():
        raise FatalImportError(_l("The file is empty."))
    return data


def decode(data: bytes) -> tuple[str, str]:
    """The text and the name of its encoding, or a fatal error saying why there is none."""
    if data.startswith((b"PK\x03\x04", b"\xd0\xcf\x11\xe0")):
        raise FatalImportError(
            _l("This is an Excel workbook, not a CSV file; save it as CSV (UTF-8) and retry.")
        )
    if data.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        try:
            return data.decode("utf-16"), "utf-16"
        except UnicodeDecodeError:
            pass
    elif b"\x00" not in data:
        for encoding, label in (("utf-8-sig", "utf-8"), ("gb18030", "gb18030")):
            try:
                text = data.decode(encoding)
            except UnicodeDecodeError:
                continue
            if label == "utf-8" and data.startswith(codecs.BOM_UTF8):
                label = "utf-8-sig"
            if _looks_like_text(text):
                return text, label
            break
    raise FatalImportError(
        _l(
            "The file cannot be read as UTF-8 or GBK text: it is binary data or in another "
            "encoding. Save it from Excel as CSV UTF-8 and retry."
        )
    )


def _looks_like_text(text: str) -> bool:
    sample = text[:65536]
    control = sum(
        1 for ch in sample if ch not in "\t\r\n" and unicodedata.category(ch) in ("Cc", "Co", "Cn")
    )
    return control <= len(sample) // 100


def sniff_delimiter(text: str) -> str:
    header = text.split("\n", 1)[0]
    return max((",", ";", "\t"), key=header.count)


_LINE = re.compile(r"[^\r\n]*(?:\r\n|\r|\n)|[^\r\n]+$")


def records(text: str, delimiter: str, *, strict: bool = False) -> Iterator[list[str]]:
    """The records of the file. `strict` refuses what a lenient reader would guess at: a quote
    never closed (which would swallow the rest of the file) or text after a closing quote."""
    # Lines are cut from the text as they are read: io.StringIO would hold a second copy of
    # the whole file, four bytes a character.
    lines = (match.group() for match in _LINE.finditer(text))
    return csv.reader(lines, delimiter=delimiter, strict=strict)


def count_records(text: str, delimiter: str, max_rows: int, *, strict: bool = False) -> int:
    """Data rows in the file, after checking that the whole of it parses as CSV."""
    count = -1
    reader = records(text, delimiter, strict=strict)
    line = 1  # where the record being read starts
    try:
        for count, _record in enumerate(reader):
            if count > max_rows:
                raise FatalImportError(
                    _l(
                        "The file has more than %(n)s rows; split it into smaller files.",
                        n=format(max_rows, ","),
                    )
                )
            line = reader.line_num + 1  # type: ignore[attr-defined]
    except csv.Error as error:
        row = count + 2
        if "unexpected end of data" in str(error):
            raise FatalImportError(
                _l(
                    "Row %(row)d (from line %(line)d) opens a quoted value that is never "
                    "closed, so the rest of the file would be read as one value. Nothing was "
                    "imported; fix the quotes and import the file again.",
                    row=row,
                    line=line,
                )
            ) from error
        raise FatalImportError(
            _l(
                "Row %(row)d (line %(line)d) is not valid CSV (%(error)s). Nothing was "
                "imported. A value with quotes, commas or line breaks must be in double quotes, "
                'each quote inside it doubled ("").',
                row=row,
                line=reader.line_num,  # type: ignore[attr-defined]
                error=str(error),
            )
        ) from error
    return max(count, 0)


@dataclass
class CsvFile:
    """A file that parsed as CSV from end to end: its header, then its data rows."""

    header: list[str]
    total: int  # data rows
    rows: Iterator[list[str]]

    def batches(
        self, size: int, progress: Callable[[int, int], None] | None = None
    ) -> Iterator[list[tuple[int, list[str]]]]:
        """The non-empty data rows as (row number as a spreadsheet shows it, cells), `size` at
        a time; `progress(done, total)` is told after each batch is handled."""
        filled = (
            (row, cells)
            for row, cells in enumerate(self.rows, start=2)
            if any(cell.strip() for cell in cells)
        )
        while batch := list(islice(filled, size)):
            yield batch
            if progress is not None:
                progress(batch[-1][0] - 1, self.total)
        if progress is not None:
            progress(self.total, self.total)


def read_text(source: bytes | IO[bytes], max_bytes: int) -> tuple[str, str]:
    """The text of the file and its encoding, or a fatal error saying why it has none."""
    return decode(read_bytes(source, max_bytes))


def parse(text: str, *, max_rows: int, strict: bool = False) -> CsvFile:
    """Check that the whole text is CSV and open it at its header, or say why it is not."""
    delimiter = sniff_delimiter(text)
    total = count_records(text, delimiter, max_rows, strict=strict)
    rows = records(text, delimiter, strict=strict)
    return CsvFile(next(rows), total, rows)


def map_header(
    cells: list[str], names: Mapping[str, str], required: Iterable[str]
) -> tuple[dict[str, int], list[str]]:
    """Column name → position, and the header cells that name no known column. `names` maps
    each `header_key` of a name or alias to its column's name."""
    positions: dict[str, int] = {}
    unknown: list[str] = []
    for index, cell in enumerate(cells):
        name = names.get(header_key(cell))
        if name is None:
            if cell.strip():
                unknown.append(cell.strip())
            continue
        if name in positions:
            raise FatalImportError(
                _l("The column %(name)s appears twice in the header.", name=name)
            )
        positions[name] = index
    missing = [name for name in required if name not in positions]
    if missing:
        found = ", ".join(c.strip()[:30] for c in cells[:12] if c.strip()) or "—"
        raise FatalImportError(
            _l(
                "Missing required column: %(missing)s. The first row must be the header "
                "(found: %(found)s).",
                missing=", ".join(missing),
                found=found,
            )
        )
    return positions, unknown


INTERNAL_ERROR = _l(
    "The import stopped after an internal error; the rows counted in this report were "
    "imported, the others were not. Try again, or tell an admin."
)
TOO_MANY_VALUES = _l(
    "the row has more values than the header has columns "
    "(a value containing a comma must be in quotes)."
)
UNKNOWN_COLUMN = _l("not a known column; ignored.")


class RowErrors:
    """The reasons rows were refused (or noted), in file order, at most `limit` of them."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.items: list[dict[str, Any]] = []
        self.left_out = 0

    def add(self, row: int | None, column: str, message: Any) -> None:
        if len(self.items) < self.limit:
            self.items.append({"row": row, "column": column, "error": str(message)})
        else:
            self.left_out += 1

    def listed(self) -> list[dict[str, Any]]:
        """The errors to report, with a last line counting those left out."""
        if not self.left_out:
            return list(self.items)
        note = _l(
            "Errors not listed: %(n)s more. Fix the errors above and import the file again.",
            n=format(self.left_out, ","),
        )
        return [*self.items, {"row": None, "column": "", "error": str(note)}]


def errors_csv(fatal_error: str | None, errors: Iterable[Mapping[str, Any]]) -> str:
    """The refused rows as CSV (row, column, error), with a BOM so that Excel reads UTF-8."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(["row", "column", "error"])
    if fatal_error:
        writer.writerow(["", "", csv_safe(fatal_error)])
    for error in errors:
        row = error.get("row")
        writer.writerow(
            [
                "" if row is None else row,
                csv_safe(error.get("column") or ""),
                csv_safe(str(error.get("error", ""))),
            ]
        )
    return "\ufeff" + out.getvalue()


def csv_safe(text: str) -> str:
    """Keep spreadsheet programs from running a cell as a formula (CSV injection)."""
    return "'" + text if text[:1] in ("=", "+", "-", "@", "\t", "\r") else text
