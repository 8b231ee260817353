"""Reading a history file with :mod:`core.csvread`, the reader of imports: any encoding, a BOM
or none, commas, semicolons, tabs or bars."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from core import csvread
from core.refusals import LeadbotError

#: Cells a history may hold (rows times columns): the backtest keeps them all in memory.
MAX_CELLS = 5_000_000


class TableError(LeadbotError):
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


def read_table(path: Path) -> Table:
    """The file as a header and rows of strings, every row as long as the header. A file wider
    than :data:`core.csvread.MAX_COLUMNS` columns, or holding more than :data:`MAX_CELLS`
    cells, is refused as soon as that is known."""
    try:
        source = csvread.open_csv(path)
        if source.empty:
            raise TableError("is empty")
        records = source.records()
        first = next((r for r in records if any(cell.strip() for cell in r.cells)), None)
        if first is None:
            raise TableError("is empty")
        headers = [header.strip() for header in first.cells]
        if len(headers) < 2:
            raise TableError(
                "is not a CSV table: its header has one column (separate columns with , ; or tab)"
            )
        headers = _unique(headers)
        width = len(headers)
        most = max(1, MAX_CELLS // width)
        rows: list[list[str]] = []
        ragged = too_long = 0
        for record in records:
            cells = record.cells
            if not any(cell.strip() for cell in cells):
                continue
            if len(rows) >= most:
                raise TableError(
                    f"has more than {most} rows of {width} columns; a history may hold at most "
                    f"{MAX_CELLS:,} cells (leave out columns, or take a sample of the rows)"
                )
            if len(cells) != width:
                ragged += 1
                cells = (cells + [""] * width)[:width]
            if any(len(cell) > csvread.MAX_CELL_CHARS for cell in cells):
                too_long += 1
                cells = ["" if len(cell) > csvread.MAX_CELL_CHARS else cell for cell in cells]
            rows.append(cells)
    except csvread.CsvFileError as exc:
        raise TableError(str(exc)) from None
    if not rows:
        raise TableError("has a header but no rows")
    table = Table(headers, rows, source.encoding, source.separator)
    if ragged:
        table.warnings.append(
            f"{ragged} row(s) had a different number of cells than the header; "
            "missing cells count as blank, extra cells were ignored"
        )
    if too_long:
        table.warnings.append(
            f"{too_long} row(s) had a cell longer than {csvread.MAX_CELL_CHARS} characters; "
            "such cells count as blank"
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
