"""Subscriber CSV files: read as a stream, written safe for spreadsheets (pure; no I/O).

A file has a header row (``email`` required; ``name``, ``language``, ``format`` optional;
comma, semicolon or tab). A record is one physical line, read on its own: a line with a quote
left open, or with a cell too long to read, is a problem row with its line number, and the
lines around it are read as usual. :class:`SubscriberCsv` reads the lines one at a time, so a
file of a million rows never sits in memory: rows come out as they are read, problems are
kept (the first :data:`KEPT_PROBLEMS` of them, and a count), and duplicates are found by an
8-byte digest of each address rather than the address itself.
"""

from __future__ import annotations

import csv
import hashlib
import io
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass

from newsletter.errors import AddressError
from newsletter.subscribers.addresses import SubscriberRow, check_subscriber

KNOWN_COLUMNS = ("email", "name", "language", "format")
KEPT_PROBLEMS = 1_000  # problems kept to report; more are counted
UNTERMINATED_QUOTE = "unterminated quote: a quoted cell must end on the line it starts on"
_HEADER_HINT = "the first row must name the columns: email,name,language,format"


@dataclass(frozen=True)
class CsvProblem:
    """A row of an import that was not taken, and why."""

    line: int
    reason: str


@dataclass(frozen=True)
class ParsedCsv:
    rows: tuple[SubscriberRow, ...]
    problems: tuple[CsvProblem, ...]
    unknown_columns: tuple[str, ...]


def sniff_delimiter(header: str) -> str:
    """The delimiter of a CSV from its header line: a comma, or the semicolon that Excel in a
    Russian (or other comma-decimal) locale writes, or a tab."""
    counts = {d: header.count(d) for d in (",", ";", "\t")}
    best = max(counts, key=lambda d: counts[d])
    return best if counts[best] else ","


def _read_record(line: str, delimiter: str = ",") -> list[str]:
    """The cells of one physical line, or :class:`AddressError` if the line is not one whole
    CSV record: a quote it opens does not close on it, or a cell is longer than the csv
    module takes (:func:`csv.field_size_limit`, 131,072 characters unless changed)."""
    try:
        values = next(csv.reader((line,), delimiter=delimiter))
    except csv.Error as exc:
        limit = csv.field_size_limit()
        if len(line) > limit:
            raise AddressError(f"a cell is longer than {limit:,} characters") from None
        raise AddressError(f"not readable as CSV ({exc})") from None
    # Only a quoted cell still open at the end of the line takes in the line ending.
    if any("\n" in value or "\r" in value for value in values):
        raise AddressError(UNTERMINATED_QUOTE)
    return values


def _ended(lines: Iterable[str]) -> Iterator[str]:
    """``lines`` with a line ending on the last one too, so that a quote left open there is
    seen like any other."""
    for line in lines:
        yield line if line.endswith(("\n", "\r")) else line + "\n"


class SubscriberCsv:
    """The rows of a subscriber CSV, read one line at a time (iterate it once).

    ``lines`` are the file's physical lines with their endings (a text file opened with
    ``newline=""``, or :func:`physical_lines`). A missing column, or an empty cell, gives
    nothing: the row's field is ``None`` (see :class:`SubscriberRow`). Bad rows and
    duplicates of an earlier row are :attr:`problems`; unknown columns are named in
    :attr:`unknown_columns`. A cell that runs over a line break, even one closed on a later
    line, is a problem (no field of a subscriber can hold one); the lines it ran over are read
    as rows of their own. The header is read at once: a file without one raises
    :class:`AddressError`."""

    def __init__(self, lines: Iterable[str]) -> None:
        self._lines = _ended(lines)
        first = next(self._lines, None)
        if first is None:
            raise AddressError("the CSV file is empty", hint="its first row must name the columns")
        first = first.lstrip("\ufeff")
        self.delimiter = sniff_delimiter(first)
        try:
            header = [column.strip().lower() for column in _read_record(first, self.delimiter)]
        except AddressError as exc:
            raise AddressError(f"the CSV header on line 1 cannot be read: {exc.message}",
                               hint=_HEADER_HINT) from None
        if "email" not in header:
            raise AddressError(f"the CSV header {header} has no email column", hint=_HEADER_HINT)
        self.columns = len(header)
        self.index = {name: header.index(name) for name in KNOWN_COLUMNS if name in header}
        self.unknown_columns = tuple(c for c in header if c not in KNOWN_COLUMNS)
        self.problems: list[CsvProblem] = []
        self.problem_count = 0
        self._seen: dict[int, int] = {}  # 8-byte digest of an address: the line it was on

    def _problem(self, line: int, reason: str) -> None:
        self.problem_count += 1
        if len(self.problems) < KEPT_PROBLEMS:
            self.problems.append(CsvProblem(line, reason))

    def __iter__(self) -> Iterator[SubscriberRow]:
        for line, physical in enumerate(self._lines, start=2):
            try:
                values = _read_record(physical, self.delimiter)
            except AddressError as exc:
                self._problem(line, exc.message)
                continue
            if not any(v.strip() for v in values):
                continue
            if len(values) != self.columns:
                self._problem(line, f"{len(values)} fields, the header has {self.columns}")
                continue
            field = {column: values[position] for column, position in self.index.items()}
            try:
                row = check_subscriber(field.get("email", ""), field.get("name"),
                                       field.get("language"), field.get("format"))
            except AddressError as exc:
                self._problem(line, exc.message)
                continue
            digest = int.from_bytes(hashlib.blake2b(row.email.encode(), digest_size=8).digest())
            earlier = self._seen.setdefault(digest, line)
            if earlier != line:
                self._problem(line, f"{row.email} already on line {earlier}")
                continue
            yield row


def physical_lines(text: str) -> list[str]:
    """The lines of ``text`` with their endings (``\\n``, ``\\r\\n`` or ``\\r``)."""
    return io.StringIO(text, newline="").readlines()


def parse_subscriber_csv(text: str) -> ParsedCsv:
    """A whole CSV text read at once (:class:`SubscriberCsv`); for small files and tests."""
    reader = SubscriberCsv(physical_lines(text))
    rows = tuple(reader)
    return ParsedCsv(rows, tuple(reader.problems), reader.unknown_columns)


_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def spreadsheet_safe(value: str) -> str:
    """A cell that a spreadsheet will not run as a formula (OWASP CSV injection advice)."""
    return "'" + value if value.startswith(_FORMULA_START) else value


def export_csv(rows: Iterable[Sequence[str]], header: Sequence[str], *,
               delimiter: str = ",") -> Iterator[str]:
    """CSV lines, every cell made spreadsheet-safe; ``delimiter`` is what separates cells
    (";" for a spreadsheet in a locale whose decimal mark is a comma, e.g. Russian Excel)."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n", delimiter=delimiter)
    writer.writerow(header)
    yield buffer.getvalue()
    for row in rows:
        buffer.seek(0)
        buffer.truncate()
        writer.writerow([spreadsheet_safe(cell) for cell in row])
        yield buffer.getvalue()
