"""CSV import: aliases, rejects file, idempotence, dry run; the service on both engines and the
command as a user runs it."""

from __future__ import annotations

import csv
import os
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy import select

from core.models import Lead
from core.services.imports import import_csv, map_headers
from tests.integration.conftest import row_counts

ROOT = Path(__file__).resolve().parents[2]
NOW = datetime(2026, 11, 23, 10, 0, tzinfo=UTC)

CSV = """E-Mail Address,First Name,Last Name,Company Name,Job Title,Employees,Country,Favourite Colour
ada@acme.de,Ada,Lovelace,Acme,VP Engineering,500,DE,blue
grace@navy.mil,Grace,Hopper,US Navy,Rear Admiral,100000,US,
not-an-email,Bad,Row,Nowhere,,,,
alan@bletchley.uk,Alan,Turing,Bletchley,Cryptanalyst,many,GB,
ADA@acme.de,,,,,,,green
linus@kernel.org,Linus,,Linux Foundation,Fellow,150,Finland,
"""


def write_csv(tmp_path: Path, text: str = CSV) -> Path:
    path = tmp_path / "leads.csv"
    path.write_text(text, encoding="utf-8")
    return path


def test_headers_are_matched_by_alias():
    mapping = map_headers(
        ["E-Mail Address", "Company Name", "job_title", "EMPLOYEES", "Favourite Colour"]
    )
    assert mapping == {
        "E-Mail Address": "email",
        "Company Name": "company",
        "job_title": "title",
        "EMPLOYEES": "company_size",
        "Favourite Colour": "properties.Favourite Colour",
    }


def test_import_good_and_bad_rows_then_again(db, config, tmp_path):
    path = write_csv(tmp_path)
    report = import_csv(db, path, config=config, now=NOW)
    assert (report.imported, report.updated, report.rejected, report.merged) == (2, 0, 3, 1)
    assert report.summary() == "imported 2, updated 0, rejected 3"
    with report.rejects_path.open() as handle:
        rejects = list(csv.DictReader(handle))
    assert [r["E-Mail Address"] for r in rejects] == [
        "not-an-email",
        "alan@bletchley.uk",
        "linus@kernel.org",
    ]
    assert "line 4: email:" in rejects[0]["reason"]
    assert "line 5: company_size:" in rejects[1]["reason"]
    assert "line 7: country:" in rejects[2]["reason"]
    with db.transaction() as s:
        ada = s.scalars(select(Lead).where(Lead.email == "ada@acme.de")).one()
        assert (ada.company, ada.company_size, ada.properties) == (
            "Acme",
            500,
            {"Favourite Colour": "green"},
        )
        assert (ada.grade, ada.company_key, ada.name_key) == ("A", "acme", "ada lovelace")
    before = row_counts(db)

    again = import_csv(db, path, config=config, now=NOW)
    assert again.summary() == "imported 0, updated 0, rejected 3"
    assert again.unchanged == 2
    assert row_counts(db) == before


def test_changed_file_updates(db, config, tmp_path):
    import_csv(db, write_csv(tmp_path), config=config, now=NOW)
    changed = write_csv(tmp_path, "email,title\nada@acme.de,CTO\nnew@example.com,Engineer\n")
    report = import_csv(db, changed, config=config, now=NOW)
    assert report.summary() == "imported 1, updated 1, rejected 0" and report.rejects_path is None


def test_dry_run_writes_nothing(db, config, tmp_path):
    before = row_counts(db)
    report = import_csv(db, write_csv(tmp_path), config=config, now=NOW, dry_run=True)
    assert report.summary() == "imported 2, updated 0, rejected 3"
    assert row_counts(db) == before


def test_the_command_prints_the_summary_last(tmp_path):
    path = write_csv(tmp_path)
    env = {
        **os.environ,
        "LEADBOT_DATABASE_URL": f"sqlite:///{tmp_path / 'cli.db'}",
        "LEADBOT_CONFIG": str(ROOT / "leadbot.example.toml"),
    }

    def run(*args):
        return subprocess.run(
            [sys.executable, "-m", "bot", *args],
            capture_output=True,
            text=True,
            env=env,
            timeout=120,
        )

    assert run("db", "upgrade").returncode == 0
    first = run("import", str(path))
    assert first.returncode == 0, first.stderr
    assert first.stdout.splitlines()[-1] == "imported 2, updated 0, rejected 3"
    assert (tmp_path / "leads.rejects.csv").exists()
    second = run("import", str(path))
    assert second.stdout.splitlines()[-1] == "imported 0, updated 0, rejected 3"
    missing = run("import", str(tmp_path / "nope.csv"))
    assert missing.returncode == 2 and "no such file" in missing.stderr
    folder = run("import", str(tmp_path))
    assert folder.returncode == 2 and "is a directory, not a CSV file" in folder.stderr
    workbook = tmp_path / "leads.xlsx"
    workbook.write_bytes(b"PK\x03\x04\x14\x00\x06\x00" + bytes(64))
    binary = run("import", str(workbook))
    assert binary.returncode == 2 and "spreadsheet or archive; save it as CSV" in binary.stderr
    assert [line for line in binary.stderr.splitlines() if line.strip()] == [
        binary.stderr.strip()
    ]  # one line, no traceback
    no_email = tmp_path / "no_email.csv"
    no_email.write_text("name,company\nx,y\n")
    refused = run("import", str(no_email))
    assert refused.returncode == 2 and "no e-mail column" in refused.stderr


def test_a_reason_column_in_the_file_is_kept_and_stale_rejects_are_removed(db, config, tmp_path):
    path = write_csv(tmp_path, "email,reason\nnot-an-email,webinar\nok@example.com,trade fair\n")
    report = import_csv(db, path, config=config, now=NOW)
    with report.rejects_path.open() as handle:
        rows = list(csv.DictReader(handle))
    assert rows[0]["reason"] == "webinar" and rows[0]["reject_reason"].startswith("line 2: email")
    path.write_text("email\nok@example.com\n")
    again = import_csv(db, path, config=config, now=NOW)
    assert again.rejected == 0 and not (tmp_path / "leads.rejects.csv").exists()


def test_a_row_that_would_overflow_properties_is_rejected_alone(db, config, tmp_path):
    wide = ",".join(f"c{i}" for i in range(30))
    first = write_csv(tmp_path, f"email,{wide}\nw@example.com," + ",".join("x" * 30) + "\n")
    assert import_csv(db, first, config=config, now=NOW).imported == 1
    other = ",".join(f"d{i}" for i in range(30))
    second = write_csv(
        tmp_path,
        f"email,{other}\nw@example.com,"
        + ",".join("y" * 30)
        + "\nnew@example.com,"
        + ",".join("z" * 30)
        + "\n",
    )
    report = import_csv(db, second, config=config, now=NOW)
    assert report.summary() == "imported 1, updated 0, rejected 1"
    with report.rejects_path.open() as handle:
        assert "at most 50" in next(iter(csv.DictReader(handle)))["reason"]


def test_cli_errors_are_one_line(tmp_path):
    env = {
        **os.environ,
        "LEADBOT_DATABASE_URL": f"sqlite:///{tmp_path / 'fresh.db'}",
        "LEADBOT_CONFIG": str(ROOT / "leadbot.example.toml"),
    }

    def run(*args):
        return subprocess.run(
            [sys.executable, "-m", "bot", *args],
            capture_output=True,
            text=True,
            env=env,
            timeout=120,
        )

    created = run("api-key", "create", "web")  # a fresh database: no `db upgrade` first
    assert created.returncode == 0, created.stderr
    assert run("api-key", "revoke", "web").returncode == 0
    again = run("api-key", "create", "web")  # the name is free again after a revoke
    assert again.returncode == 0, again.stderr
    listed = run("api-key", "list").stdout
    assert "web (revoked #1)" in listed and listed.count("active") == 1
    latin = tmp_path / "latin.csv"
    latin.write_bytes("email,company\nm@example.com,Müller GmbH\n".encode("latin-1"))
    refused = run("import", str(latin), "--encoding", "klingon")
    assert (
        refused.returncode == 2
        and "unknown encoding 'klingon'" in refused.stderr
        and "Traceback" not in refused.stderr
    )
    folder = run("config", "check", str(tmp_path))
    assert (
        folder.returncode == 1
        and "cannot be read" in folder.stderr
        and "Traceback" not in folder.stderr
    )
