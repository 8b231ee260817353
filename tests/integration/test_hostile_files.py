"""Hostile files given to `leadbot import` and `scoring backtest`: devices, FIFOs, endless lines,
wide headers, giant cells, planted links and spreadsheet formulas. Each is refused in one line
or confined to its row, and memory stays bounded whatever the file."""

from __future__ import annotations

import csv
import json
import os
import stat
import subprocess
import sys
from datetime import UTC, datetime

import pytest
from sqlalchemy import func, select

from core import csvread
from core.csvwrite import neutralise
from core.learning.table import TableError, read_table
from core.models import Lead
from core.services.imports import ImportError_, import_csv
from tests.commands import ROOT, environment, leadbot

NOW = datetime(2026, 11, 23, 10, 0, tzinfo=UTC)


def one_line(stderr: str) -> bool:
    return len([line for line in stderr.splitlines() if line.strip()]) == 1


@pytest.fixture
def cli_env(tmp_path):
    env = environment(LEADBOT_DATABASE_URL=f"sqlite:///{tmp_path / 'cli.db'}")
    assert leadbot("db", "upgrade", env=env).returncode == 0
    return env


@pytest.mark.parametrize("device", ["/dev/zero", "/dev/urandom"])
def test_a_device_is_refused_before_it_is_read(cli_env, device):
    result = leadbot("import", device, env=cli_env, timeout=60)
    assert result.returncode == 2
    assert "is a device, not a text file" in result.stderr and one_line(result.stderr)


def test_a_fifo_is_refused_without_waiting_for_a_writer(cli_env, tmp_path):
    fifo = tmp_path / "leads.csv"
    os.mkfifo(fifo)
    result = leadbot("import", str(fifo), env=cli_env, timeout=60)
    assert result.returncode == 2
    assert "is a FIFO (named pipe), not a text file" in result.stderr
    assert one_line(result.stderr)
    with pytest.raises(csvread.CsvFileError, match="FIFO"):
        csvread.open_csv(fifo)


def test_zeros_and_random_bytes_in_a_regular_file_are_not_text(tmp_path):
    zeros = tmp_path / "zeros.csv"
    zeros.write_bytes(bytes(1 << 20))
    noise = tmp_path / "noise.csv"
    noise.write_bytes(os.urandom(1 << 20))
    for path in (zeros, noise):
        with pytest.raises(csvread.CsvFileError, match="it is not text"):
            csvread.open_csv(path)


def test_control_characters_without_nul_are_not_text(tmp_path):
    path = tmp_path / "controls.csv"
    path.write_bytes(bytes(range(1, 32)) * 4000)
    with pytest.raises(csvread.CsvFileError, match="it is not text"):
        csvread.open_csv(path)


def test_an_endless_line_stops_the_import_with_one_clear_error(db, config, tmp_path):
    path = tmp_path / "leads.csv"
    with path.open("wb") as handle:
        handle.write(b"email,name\nada@acme.de,Ada\n")
        handle.write(b"x" * (csvread.MAX_RECORD_BYTES + 10))
    with pytest.raises(ImportError_, match=r"line 3 is longer than 4 MiB"):
        import_csv(db, path, config=config, now=NOW)


def test_an_open_quote_cannot_swallow_the_file(db, config, tmp_path):
    path = tmp_path / "leads.csv"
    with path.open("w") as handle:
        handle.write('email,name\nada@acme.de,"Ada\n')
        for _ in range(100_000):
            handle.write("grace@navy.mil,Grace Hopper of the United States Navy\n")
    with pytest.raises(ImportError_, match=r"record starting on line 2 is longer than"):
        import_csv(db, path, config=config, now=NOW)


def test_a_header_with_too_many_columns_is_refused(db, config, tmp_path):
    path = tmp_path / "wide.csv"
    headers = ["email", *(f"c{n}" for n in range(csvread.MAX_COLUMNS + 500))]
    path.write_text(",".join(headers) + "\nada@acme.de\n")
    with pytest.raises(ImportError_, match=r"the header has 1501 columns; at most 1000"):
        import_csv(db, path, config=config, now=NOW)


def test_one_giant_cell_rejects_its_row_alone(db, config, tmp_path):
    path = tmp_path / "leads.csv"
    giant = "y" * 300_000
    path.write_text(
        f"email,name\nada@acme.de,Ada\ngrace@navy.mil,{giant}\nalan@bletchley.uk,Alan\n"
    )
    report = import_csv(db, path, config=config, now=NOW)
    assert (report.imported, report.rejected) == (2, 1)
    assert report.rejects_path is not None
    with report.rejects_path.open() as handle:
        (rejected,) = list(csv.DictReader(handle))
    assert rejected["email"] == "grace@navy.mil"
    assert rejected["reason"] == "line 3: column 2 holds 300000 characters (at most 65536)"


def test_a_semicolon_file_imports_like_a_comma_file(db, config, tmp_path):
    path = tmp_path / "leads.csv"
    path.write_text("E-Mail;Company;Country\nada@acme.de;Acme, Inc.;DE\ngrace@navy.mil;Navy;US\n")
    report = import_csv(db, path, config=config, now=NOW)
    assert report.summary() == "imported 2, updated 0, rejected 0"
    with db.transaction() as session:
        ada = session.scalars(select(Lead).where(Lead.email == "ada@acme.de")).one()
        assert (ada.company, ada.country) == ("Acme, Inc.", "DE")


def test_a_history_and_an_import_read_the_same_separator(tmp_path):
    path = tmp_path / "history.csv"
    path.write_text("email|converted|visits\na@x.io|1|3\nb@x.io|0|4\n")
    assert csvread.open_csv(path).separator == "|"
    assert read_table(path).headers == ["email", "converted", "visits"]


FORMULAS = ['=HYPERLINK("http://evil","x")', "+cmd|' /C calc'!A0", "-2+3", "@SUM(A1)", "\t=1"]


def test_the_rejects_file_is_private_and_neutralises_formulas(db, config, tmp_path):
    path = tmp_path / "leads.csv"
    with path.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["email", "Company", "notes"])
        for formula in FORMULAS:
            writer.writerow(["not-an-email", formula, "\r=2"])
    report = import_csv(db, path, config=config, now=NOW)
    assert report.rejected == len(FORMULAS) and report.rejects_path is not None
    assert stat.S_IMODE(report.rejects_path.stat().st_mode) == 0o600
    with report.rejects_path.open(newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert [row["Company"] for row in rows] == ["'" + formula for formula in FORMULAS]
    assert {row["notes"] for row in rows} == {"'\r=2"}


def test_a_planted_link_for_the_rejects_file_is_refused_not_followed(db, config, tmp_path):
    target = tmp_path / "precious.txt"
    target.write_text("keep me\n")
    path = tmp_path / "leads.csv"
    path.write_text("email,name\nnot-an-email,x\nada@acme.de,Ada\n")
    (tmp_path / "leads.rejects.csv").symlink_to(target)
    with pytest.raises(ImportError_, match="is a symbolic link"):
        import_csv(db, path, config=config, now=NOW)
    assert target.read_text() == "keep me\n"
    with db.transaction() as session:
        assert session.scalar(select(func.count()).select_from(Lead)) == 0


@pytest.mark.parametrize(
    ("cell", "shown"),
    [("=1+1", "'=1+1"), ("Ada", "Ada"), ("", ""), ("+49 30 1234", "'+49 30 1234"), ("a=b", "a=b")],
)
def test_neutralise(cell, shown):
    assert neutralise(cell) == shown


def peak_rss_mib(*args: str, env: dict[str, str]) -> tuple[subprocess.CompletedProcess[str], float]:
    """Run ``leadbot ARGS`` and measure its peak resident memory."""
    probe = (
        "import resource, subprocess, sys\n"
        "done = subprocess.run(sys.argv[1:], capture_output=True, text=True)\n"
        "sys.stdout.write(done.stdout)\nsys.stderr.write(done.stderr)\n"
        "print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)\n"
        "sys.exit(done.returncode)\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", probe, sys.executable, "-m", "bot", *args],
        capture_output=True,
        text=True,
        timeout=600,
        cwd=ROOT,
        env={**env, "PYTHONPATH": str(ROOT)},
    )
    return result, int(result.stdout.splitlines()[-1]) / 1024


def test_a_large_file_of_rejected_rows_imports_in_bounded_memory(cli_env, tmp_path):
    path = tmp_path / "big.csv"
    filler = "z" * 900
    with path.open("w") as handle:
        handle.write("email,notes\n")
        for n in range(160_000):
            handle.write(f"not-an-email-{n},{filler}\n")
    assert path.stat().st_size > 140 << 20
    result, peak = peak_rss_mib("import", str(path), "--dry-run", env=cli_env)
    assert result.returncode == 0, result.stderr
    assert "imported 0, updated 0, rejected 160000" in result.stdout
    assert peak < 200, f"peak {peak:.0f} MiB"  # bounded: the budget is 300 MB whatever the file


def test_a_wide_history_is_refused_in_one_line(tmp_path):
    path = tmp_path / "wide.csv"
    headers = ["converted", *(f"c{n}" for n in range(20_000))]
    with path.open("w") as handle:
        handle.write(",".join(headers) + "\n")
        for n in range(200):
            handle.write(",".join([str(n % 2), *(str((n * k) % 7) for k in range(20_000))]) + "\n")
    with pytest.raises(TableError, match="the header has 20001 columns; at most 1000"):
        read_table(path)
    result = leadbot("scoring", "backtest", str(path), "--target", "converted", timeout=120)
    assert result.returncode == 2 and one_line(result.stderr)
    assert "at most 1000" in result.stderr


def test_a_history_with_many_levels_in_many_columns_is_reduced_not_refused(tmp_path):
    """Each column keeps at most the model's number of levels (the rest count as "other"), so
    120 columns of 40 values each train in bounded time and memory."""
    import random

    rng = random.Random(4)
    path = tmp_path / "levels.csv"
    with path.open("w") as handle:
        handle.write(",".join(["converted", *(f"c{n}" for n in range(120))]) + "\n")
        for n in range(800):
            cells = [f"v{rng.randrange(40)}" for _ in range(120)]
            handle.write(",".join([str(n % 2), *cells]) + "\n")
    result = leadbot("scoring", "backtest", str(path), "--target", "converted", "--json")
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert report["learned"]["auc"] is not None
