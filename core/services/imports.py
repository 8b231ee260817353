"""Bulk upsert of leads from a CSV file, in chunks, with a rejects file for the rows that fail.

Headers are matched without regard to case, spaces, dashes or underscores, through aliases
("E-mail", "Email Address", "Company Name", ...). Columns that name no lead field go into
``properties``. Rows for the same e-mail are merged in file order (later non-empty values win)
before anything is written, so importing a file twice changes nothing the second time.
"""

from __future__ import annotations

import json
import os
import sqlite3
import tempfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import IO, Any

from pydantic import ValidationError

from core import csvread, csvwrite
from core.config import WorkspaceConfig, key_path
from core.db import Database, with_retry
from core.refusals import LeadbotError
from core.schemas import MAX_PROPERTIES, LeadIn
from core.services.intake import Outcome, normalize_email, upsert_many

CHUNK = 500

ALIASES = csvread.HEADER_ALIASES


@dataclass
class ImportReport:
    imported: int = 0
    updated: int = 0
    unchanged: int = 0
    rejected: int = 0
    merged: int = 0
    rejects_path: Path | None = None
    columns: dict[str, str] = field(default_factory=dict)
    encoding: str = "utf-8"
    encoding_source: str = "valid UTF-8"  # or "given", "byte order mark", "detected", ...

    def summary(self) -> str:
        return f"imported {self.imported}, updated {self.updated}, rejected {self.rejected}"


class ImportError_(LeadbotError):
    """The file as a whole cannot be imported (no e-mail column, not CSV, ...)."""


def map_headers(headers: list[str]) -> dict[str, str]:
    """CSV header -> lead field, or ``properties.<header>`` for the rest."""
    mapping: dict[str, str] = {}
    used: set[str] = set()
    for header in headers:
        name = csvread.lead_field(header)
        if name and name not in used:
            mapping[header] = name
            used.add(name)
        elif header.strip():
            mapping[header] = f"properties.{header.strip()}"
    if "email" not in used:
        raise ImportError_("no e-mail column (looked for: " + ", ".join(ALIASES["email"]) + ")")
    return mapping


def _row_to_lead(row: dict[str | None, Any], mapping: dict[str, str]) -> dict[str, Any]:
    data: dict[str, Any] = {}
    properties: dict[str, str] = {}
    for header, target in mapping.items():
        value = (row.get(header) or "").strip()
        if not value:
            continue
        if target.startswith("properties."):
            properties[target.removeprefix("properties.")] = value
        else:
            data[target] = value
    if properties:
        data["properties"] = properties
    return data


def _merge(earlier: dict[str, Any], later: dict[str, Any]) -> dict[str, Any]:
    merged = {**earlier, **{k: v for k, v in later.items() if k != "properties"}}
    if "properties" in earlier or "properties" in later:
        merged["properties"] = {**earlier.get("properties", {}), **later.get("properties", {})}
    return merged


def _reason(error: ValidationError) -> str:
    return "; ".join(
        f"{key_path(item['loc'])}: {item['msg'].removeprefix('Value error, ')}"
        for item in error.errors()
    )


Row = tuple[int, dict[str | None, Any], str | None]  # line, cells by header, why unreadable


def read_rows(
    path: Path, encoding: str | None = None
) -> tuple[list[str], Iterator[Row], csvread.CsvFile]:
    """The header, the rows (streamed) with the line each starts on, and the file as
    :func:`core.csvread.open_csv` found it: ``encoding`` when given, else detected, and the
    separator sniffed."""
    try:
        source = csvread.open_csv(path, encoding)
        if source.empty:
            raise ImportError_("the file is empty")
        records = source.records()
        header = next(records, None)
    except csvread.CsvFileError as exc:
        raise ImportError_(str(exc)) from exc
    if header is None:
        raise ImportError_("the file is empty")
    if header.unreadable:
        raise ImportError_(
            f"the header is not readable as {source.encoding} ({header.unreadable}); "
            "name the file's encoding with --encoding"
        )
    headers = header.cells

    def rows() -> Iterator[Row]:
        try:
            for record in records:
                cells: dict[str | None, Any] = dict(zip(headers, record.cells, strict=False))
                if len(record.cells) > len(headers):  # as csv.DictReader: extras under None
                    cells[None] = record.cells[len(headers) :]
                yield record.line, cells, record.unreadable
        except csvread.CsvFileError as exc:
            raise ImportError_(str(exc)) from exc

    return headers, rows(), source


class _Pending:
    """The valid rows merged by e-mail, kept in a private SQLite file next to nothing (a
    temporary directory) rather than in memory, so a file of any length imports in bounded
    memory; read back in the order each e-mail first appeared."""

    def __init__(self) -> None:
        self._dir = tempfile.TemporaryDirectory(prefix="leadbot-import-")
        self._db = sqlite3.connect(os.path.join(self._dir.name, "pending.db"))
        self._db.execute("PRAGMA journal_mode=OFF")
        self._db.execute("PRAGMA synchronous=OFF")
        self._db.execute(
            "CREATE TABLE pending (seq INTEGER PRIMARY KEY, email TEXT UNIQUE NOT NULL, "
            "data TEXT NOT NULL, line INTEGER NOT NULL, row TEXT NOT NULL)"
        )
        self.count = 0

    def get(self, email: str) -> dict[str, Any] | None:
        found = self._db.execute("SELECT data FROM pending WHERE email = ?", (email,)).fetchone()
        return None if found is None else dict(json.loads(found[0]))

    def put(self, email: str, data: dict[str, Any], line: int, row: list[str], new: bool) -> None:
        values = (json.dumps(data), line, json.dumps(row), email)
        if new:
            self._db.execute(
                "INSERT INTO pending (data, line, row, email) VALUES (?, ?, ?, ?)", values
            )
            self.count += 1
        else:
            self._db.execute(
                "UPDATE pending SET data = ?, line = ?, row = ? WHERE email = ?", values
            )

    def chunks(self, size: int) -> Iterator[list[tuple[dict[str, Any], int, list[str]]]]:
        last = 0
        while True:
            found = self._db.execute(
                "SELECT seq, data, line, row FROM pending WHERE seq > ? ORDER BY seq LIMIT ?",
                (last, size),
            ).fetchall()
            if not found:
                return
            last = found[-1][0]
            yield [(json.loads(data), line, json.loads(row)) for _, data, line, row in found]

    def close(self) -> None:
        self._db.close()
        self._dir.cleanup()


class _Rejects:
    """``<file>.rejects.csv``, created (0600, never through a link) at the first rejected row
    and written as rows come, cells neutralised against spreadsheet formulas."""

    def __init__(self, path: Path, fieldnames: list[str]) -> None:
        self.path = path
        self.count = 0
        self._fields = fieldnames
        self._handle: IO[str] | None = None
        self._writer: csvwrite.SafeWriter | None = None

    def add(self, row: dict[str, str]) -> None:
        if self._writer is None:
            try:
                self._handle = csvwrite.create_private(self.path)
            except csvwrite.UnsafeOutput as exc:
                raise ImportError_(f"rejected rows cannot be written: {exc}") from exc
            self._writer = csvwrite.SafeWriter(self._handle, self._fields)
        self._writer.writerow(row)
        self.count += 1

    def close(self) -> None:
        if self._handle is not None:
            self._handle.close()


def rejects_path_of(path: Path) -> Path:
    return path.with_name(path.stem + ".rejects.csv")


def import_csv(
    db: Database,
    path: Path,
    *,
    config: WorkspaceConfig,
    now: datetime,
    dry_run: bool = False,
    progress: Callable[[int, int], None] | None = None,
    encoding: str | None = None,
) -> ImportReport:
    """Validate every row, write the valid ones in chunks of :data:`CHUNK` (one transaction
    each; a dry run rolls back), and write ``<file>.rejects.csv`` with a reason column when any
    row is rejected (a stale one from an earlier run is removed; a link planted in its place is
    refused before anything is read). Rows whose bytes are not text in the file's encoding are
    rejected alone, with the line that holds them. The file is read as a stream: memory stays
    bounded whatever its length."""
    rejects_path = rejects_path_of(path)
    try:
        csvwrite.check_output(rejects_path)
    except csvwrite.UnsafeOutput as exc:
        raise ImportError_(f"rejected rows cannot be written: {exc}") from exc
    headers, rows, source = read_rows(path, encoding)
    mapping = map_headers(headers)
    report = ImportReport(
        columns=mapping, encoding=source.encoding, encoding_source=source.encoding_source
    )
    reason = "reject_reason" if "reason" in headers else "reason"
    rejects_path.unlink(missing_ok=True)
    rejects = _Rejects(rejects_path, [*headers, reason])
    pending = _Pending()
    try:
        for line, row, unreadable in rows:
            if unreadable:
                rejects.add({**_cells(row, headers), reason: unreadable})
                continue
            if None in row:  # more cells than headers
                rejects.add({**_cells(row, headers), reason: f"line {line}: too many cells"})
                continue
            data = _row_to_lead(row, mapping)
            try:
                if len(data.get("properties", {})) > MAX_PROPERTIES:
                    raise ValueError(f"more than {MAX_PROPERTIES} extra columns")
                email = normalize_email(LeadIn.model_validate(data).email)
                earlier = pending.get(email)
                merged = _merge(earlier, data) if earlier is not None else data
                LeadIn.model_validate(merged)
            except ValidationError as exc:
                rejects.add({**_cells(row, headers), reason: f"line {line}: {_reason(exc)}"})
                continue
            except ValueError as exc:
                rejects.add({**_cells(row, headers), reason: f"line {line}: {exc}"})
                continue
            if earlier is not None:
                report.merged += 1
            cells = _cells(row, headers)
            pending.put(email, merged, line, [cells[h] for h in headers], new=earlier is None)

        done = 0
        for chunk in pending.chunks(CHUNK):
            leads = [LeadIn.model_validate(data) for data, _, _ in chunk]
            outcomes = _write(db, leads, config=config, now=now, dry_run=dry_run)
            for (_, at, kept), (outcome, why) in zip(chunk, outcomes, strict=True):
                if outcome == "created":
                    report.imported += 1
                elif outcome == "updated":
                    report.updated += 1
                elif outcome == "unchanged":
                    report.unchanged += 1
                else:
                    rejects.add(
                        {**dict(zip(headers, kept, strict=True)), reason: f"line {at}: {why}"}
                    )
            done += len(chunk)
            if progress:
                progress(done, pending.count)
    finally:
        pending.close()
        rejects.close()
    report.rejected = rejects.count
    if rejects.count:
        report.rejects_path = rejects_path
    return report


def _cells(row: dict[str | None, Any], headers: list[str]) -> dict[str, str]:
    return {header: row.get(header) or "" for header in headers}


Outcomes = list[tuple[Outcome, str | None]]


class _DryRun(Exception):
    def __init__(self, outcomes: Outcomes) -> None:
        self.outcomes = outcomes


def _write(
    db: Database, chunk: list[LeadIn], *, config: WorkspaceConfig, now: datetime, dry_run: bool
) -> Outcomes:
    def work(session: Any) -> Outcomes:
        outcomes = upsert_many(session, chunk, config=config, now=now)
        if dry_run:
            raise _DryRun(outcomes)  # rolls the transaction back
        return outcomes

    try:
        return with_retry(db, work)
    except _DryRun as rolled_back:
        return rolled_back.outcomes
