"""Bulk upsert of leads from a CSV file, in chunks, with a rejects file for the rows that fail.

Headers are matched without regard to case, spaces, dashes or underscores, through aliases
("E-mail", "Email Address", "Company Name", ...). Columns that name no lead field go into
``properties``. Rows for the same e-mail are merged in file order (later non-empty values win)
before anything is written, so importing a file twice changes nothing the second time.
"""

from __future__ import annotations

import csv
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from core import csvread
from core.config import WorkspaceConfig, key_path
from core.db import Database, with_retry
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


class ImportError_(Exception):
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
) -> tuple[list[str], Iterator[Row], tuple[str, str]]:
    """The header, the rows with the line each starts on, and ``(encoding, how it was found)``:
    ``encoding`` when given, else detected (see :mod:`core.csvread`)."""
    try:
        data = csvread.read_file(path)
        found = (
            (csvread.encoding_name(encoding), "given")
            if encoding
            else csvread.detect_encoding(data)
        )
        records = csvread.records(data, found[0])
        header = next(records, None)
    except csvread.CsvFileError as exc:
        raise ImportError_(str(exc)) from exc
    if header is None:
        raise ImportError_("the file is empty")
    if header.unreadable:
        raise ImportError_(
            f"the header is not readable as {found[0]} ({header.unreadable}); "
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

    return headers, rows(), found


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
    row is rejected (a stale one from an earlier run is removed). Rows whose bytes are not text
    in the file's encoding are rejected alone, with the line that holds them."""
    headers, rows, (report_encoding, how) = read_rows(path, encoding)
    mapping = map_headers(headers)
    report = ImportReport(columns=mapping, encoding=report_encoding, encoding_source=how)
    reason = "reject_reason" if "reason" in headers else "reason"
    rejects: list[dict[str, str]] = []
    good: dict[str, dict[str, Any]] = {}
    last_row: dict[str, tuple[int, dict[str | None, Any]]] = {}
    for line, row, unreadable in rows:
        if unreadable:
            rejects.append({**_cells(row, headers), reason: unreadable})
            continue
        if None in row:  # more cells than headers
            rejects.append({**_cells(row, headers), reason: f"line {line}: too many cells"})
            continue
        data = _row_to_lead(row, mapping)
        try:
            if len(data.get("properties", {})) > MAX_PROPERTIES:
                raise ValueError(f"more than {MAX_PROPERTIES} extra columns")
            email = normalize_email(LeadIn.model_validate(data).email)
            merged = _merge(good[email], data) if email in good else data
            LeadIn.model_validate(merged)
        except ValidationError as exc:
            rejects.append({**_cells(row, headers), reason: f"line {line}: {_reason(exc)}"})
            continue
        except ValueError as exc:
            rejects.append({**_cells(row, headers), reason: f"line {line}: {exc}"})
            continue
        if email in good:
            report.merged += 1
        good[email] = merged
        last_row[email] = (line, row)

    leads = [LeadIn.model_validate(data) for data in good.values()]
    done = 0
    for start in range(0, len(leads), CHUNK):
        chunk = leads[start : start + CHUNK]
        for lead, (outcome, why) in zip(
            chunk, _write(db, chunk, config=config, now=now, dry_run=dry_run), strict=True
        ):
            if outcome == "created":
                report.imported += 1
            elif outcome == "updated":
                report.updated += 1
            elif outcome == "unchanged":
                report.unchanged += 1
            else:
                at, row = last_row[normalize_email(lead.email)]
                rejects.append({**_cells(row, headers), reason: f"line {at}: {why}"})
        done += len(chunk)
        if progress:
            progress(done, len(leads))
    report.rejected = len(rejects)

    rejects_path = path.with_name(path.stem + ".rejects.csv")
    if rejects:
        report.rejects_path = rejects_path
        with rejects_path.open("w", newline="", encoding="utf-8") as handle:
            writer = csv.DictWriter(handle, fieldnames=[*headers, reason], extrasaction="ignore")
            writer.writeheader()
            writer.writerows(rejects)
    else:
        rejects_path.unlink(missing_ok=True)
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
