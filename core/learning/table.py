"""Reading a history file: any encoding (as :mod:`core.csvread` reads an import), a BOM or
none, commas, semicolons or tabs."""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass, field
from pathlib import Path

from core import csvread

#: Characters read to guess the separator; a header and a few rows are enough.
SNIFF_BYTES = 65536
SEPARATORS = ",;\t|"


class TableError(Exception):
    """The file cannot be read as a table; the message is one line for a person."""


@dataclass
class Table:
    headers: list[str]
    rows: list[list[str]]
    encoding: str
    separator: str
    warnings: list[str] = field(default_factory=list)

    def column(self, name: str) -> int:
        """Index of the column called ``name`` (exact, else ignoring case and spaces)."""
        if name in self.headers:
            return self.headers.index(name)
        wanted = name.strip().casefold()
        for index, header in enumerate(self.headers):
            if header.strip().casefold() == wanted:
                return index
        shown = ", ".join(repr(header) for header in self.headers[:12])
        more = f" and {len(self.headers) - 12} more" if len(self.headers) > 12 else ""
        raise TableError(f"no column {name!r} (the columns are {shown}{more})")

    def values(self, index: int) -> list[str]:
        return [row[index] for row in self.rows]


def _separator(sample: str) -> str:
    """The separator that splits the first lines into the same number (> 1) of cells most
    often, quotes respected; ties go to the one giving more columns, then to the comma."""
    lines = sample.splitlines()[:-1] or sample.splitlines()  # the last line may be cut off
    best, best_key = ",", (0, 0, 0)
    for rank, sep in enumerate(reversed(SEPARATORS)):
        try:
            widths = [
                len(r) for r in csv.reader(io.StringIO("\n".join(lines[:200])), delimiter=sep)
            ]
        except csv.Error:
            continue
        if not widths or widths[0] < 2:
            continue
        agreeing = sum(1 for width in widths if width == widths[0])
        key = (agreeing, widths[0], rank)
        if key > best_key:
            best, best_key = sep, key
    return best


def read_table(path: Path) -> Table:
    """The file as a header and rows of strings, every row as long as the header."""
    try:
        text, encoding = csvread.decode(csvread.read_file(path))
    except csvread.CsvFileError as exc:
        raise TableError(str(exc)) from None
    if not text.strip():
        raise TableError("is empty")
    separator = _separator(text[:SNIFF_BYTES])
    try:
        records = list(csv.reader(io.StringIO(text, newline=""), delimiter=separator))
    except csv.Error as exc:
        raise TableError(f"is not a readable CSV file ({exc})") from exc
    records = [record for record in records if any(cell.strip() for cell in record)]
    if not records:
        raise TableError("is empty")
    headers = [header.strip() for header in records[0]]
    if len(headers) < 2:
        raise TableError(
            "is not a CSV table: its header has one column (separate columns with , ; or tab)"
        )
    headers = _unique(headers)
    width = len(headers)
    rows: list[list[str]] = []
    ragged = 0
    for record in records[1:]:
        if len(record) != width:
            ragged += 1
            record = (record + [""] * width)[:width]
        rows.append(record)
    if not rows:
        raise TableError("has a header but no rows")
    table = Table(headers, rows, encoding, separator)
    if ragged:
        table.warnings.append(
            f"{ragged} row(s) had a different number of cells than the header; "
            "missing cells count as blank, extra cells were ignored"
        )
    return table


def _unique(headers: list[str]) -> list[str]:
    """Blank or repeated headers get a number, so every column has its own name."""
    seen: dict[str, int] = {}
    out = []
    for index, header in enumerate(headers):
        name = header or f"column {index + 1}"
        if name in seen:
            seen[name] += 1
            name = f"{name} ({seen[name]})"
        else:
            seen[name] = 1
        out.append(name)
    return out
