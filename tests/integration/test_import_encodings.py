"""CSV exports as CRMs and Excel write them: Windows-1252, Latin-1, UTF-8 with a byte order
mark, damaged rows. Accents survive, and an unreadable row is rejected alone, named by its real
line. The service on both engines, the command as a subprocess."""

from __future__ import annotations

import codecs
import csv
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import select

from core.csvread import detect_encoding, records
from core.models import Lead
from core.services.imports import ImportError_, import_csv
from tests.commands import environment, leadbot

NOW = datetime(2026, 11, 23, 10, 0, tzinfo=UTC)
HEADER = "Email,First Name,Last Name,Company,Notes\n"
PEOPLE = [
    ("renee", "Renée", "Müller-Lüdenscheidt", "Bäckerei Süß & Söhne"),
    ("helene", "Hélène", "Dupré", "Société Générale"),
    ("jose", "José", "Núñez", "Compañía Ibérica"),
    ("francois", "François", "Lefèvre", "Crème Brûlée SARL"),
]


def export(n: int = 4) -> str:
    rows = [
        f"{PEOPLE[i % 4][0]}{i}@acme.de,{PEOPLE[i % 4][1]},{PEOPLE[i % 4][2]},{PEOPLE[i % 4][3]},"
        for i in range(n)
    ]
    return HEADER + "\n".join(rows) + "\n"


def leads(db) -> dict[str, Lead]:
    with db.transaction() as s:
        return {lead.email: lead for lead in s.scalars(select(Lead))}


def rejects(path: Path) -> list[dict[str, str]]:
    with path.with_name(path.stem + ".rejects.csv").open(encoding="utf-8", newline="") as f:
        return list(csv.DictReader(f))


@pytest.mark.parametrize(
    ("encoding", "expected"),
    [("cp1252", "cp1252"), ("latin-1", "cp1252"), ("utf-8-sig", "utf-8-sig"), ("utf-8", "utf-8")],
)
def test_an_export_keeps_its_accents(db, config, tmp_path, encoding, expected):
    path = tmp_path / "crm.csv"
    path.write_bytes(export().encode(encoding))
    report = import_csv(db, path, config=config, now=NOW)
    assert (report.imported, report.rejected, report.encoding) == (4, 0, expected)
    stored = leads(db)
    assert stored["renee0@acme.de"].first_name == "Renée"
    assert stored["renee0@acme.de"].company == "Bäckerei Süß & Söhne"
    assert stored["helene1@acme.de"].last_name == "Dupré"
    assert stored["jose2@acme.de"].last_name == "Núñez"
    assert stored["francois3@acme.de"].company == "Crème Brûlée SARL"


def test_windows_1252_only_characters(db, config, tmp_path):
    path = tmp_path / "excel.csv"
    text = "email,company,notes\nq@acme.de,„Quote“ – Ltd,costs 5 € • Œuvre\n"  # noqa: RUF001
    path.write_bytes(text.encode("cp1252"))
    report = import_csv(db, path, config=config, now=NOW)
    assert report.encoding == "cp1252" and report.imported == 1
    lead = leads(db)["q@acme.de"]
    assert lead.company == "„Quote“ – Ltd" and lead.properties == {"notes": "costs 5 € • Œuvre"}  # noqa: RUF001


@pytest.mark.parametrize(
    ("text", "encoding", "expected"),
    [
        ("email,name\nl@acme.pl,Łukasz Wójcik, Zażółć gęślą jaźń\n" * 3, "cp1250", "cp1250"),
        ("email,name\ni@acme.ru,Иван Петров, ООО Ромашка\n" * 3, "cp1251", "cp1251"),  # noqa: RUF001
        ("email,name\nm@acme.de,Müller\n", "utf-16", "utf-16"),
    ],
)
def test_other_encodings_are_detected(text, encoding, expected):
    assert detect_encoding(text.encode(encoding))[0] == expected


@pytest.mark.parametrize(
    ("encoding", "bom", "given"),
    [
        ("utf-8", codecs.BOM_UTF8, None),
        ("utf-8", codecs.BOM_UTF8, "utf-8"),  # "CSV UTF-8" from Excel, named by the operator
        ("utf-16-le", codecs.BOM_UTF16_LE, "utf-16-le"),
    ],
    ids=["detected", "utf-8 named", "utf-16-le named"],
)
def test_the_bom_is_not_part_of_the_first_header(db, config, tmp_path, encoding, bom, given):
    path = tmp_path / "bom.csv"
    path.write_bytes(bom + "E-Mail,Company\nb@acme.de,Café\n".encode(encoding))
    report = import_csv(db, path, config=config, now=NOW, encoding=given)
    assert report.columns == {"E-Mail": "email", "Company": "company"}
    assert leads(db)["b@acme.de"].company == "Café"


def test_bad_bytes_at_the_end_of_a_2000_row_file(db, config, tmp_path):
    lines = export(2000).encode("utf-8").split(b"\n")
    for number in range(1992, 2002):  # physical lines; line 1 is the header
        lines[number - 1] = (
            lines[number - 1].replace("é".encode(), b"\xe9").replace("ü".encode(), b"\xfc")
            + b"\xff"
        )
    path = tmp_path / "big.csv"
    path.write_bytes(b"\n".join(lines))
    report = import_csv(db, path, config=config, now=NOW)
    assert (report.imported, report.rejected, report.encoding) == (1990, 10, "utf-8")
    refused = rejects(path)
    assert [row["reason"].split(":")[0] for row in refused] == [
        f"line {n}" for n in range(1992, 2002)
    ]
    assert "is not utf-8 text" in refused[0]["reason"]
    assert refused[0]["Email"].startswith(PEOPLE[1990 % 4][0])  # the row's readable cells kept
    assert len(leads(db)) == 1990


def test_a_stray_byte_at_line_50_after_quoted_line_breaks(db, config, tmp_path):
    rows = export(60).split("\n")
    # Two quoted notes span three lines each: every later row starts 2 or 4 lines further on.
    rows[2] = rows[2] + '"first\nsecond\nthird"'
    rows[9] = rows[9] + '"a, b\n""quoted""\nc"'
    text = "\n".join(rows).encode("utf-8")
    physical = text.split(b"\n")
    assert physical[49].startswith(b"renee44@")  # line 50 of the file, its 45th data row
    physical[49] = physical[49].replace("Renée".encode(), b"Ren\x92e")
    physical[55] = b"not-an-email,,,,"  # line 56
    path = tmp_path / "stray.csv"
    path.write_bytes(b"\n".join(physical))
    report = import_csv(db, path, config=config, now=NOW)
    assert (report.imported, report.rejected) == (58, 2)
    reasons = [row["reason"] for row in rejects(path)]
    assert reasons[0] == "line 50: byte 0x92 at column 20 is not utf-8 text"
    assert reasons[1].startswith("line 56: email:")
    notes = leads(db)["renee8@acme.de"].properties  # the 9th data row, on lines 12 to 14
    assert notes == {"Notes": 'a, b\n"quoted"\nc'}


def test_records_start_on_their_own_line():
    data = b'a,b\n1,"x\ny"\n\n2,z\r\n3,"\r\n"\n4,w'
    assert [(r.line, r.cells) for r in records(data, "utf-8")] == [
        (1, ["a", "b"]),
        (2, ["1", "x\ny"]),
        (5, ["2", "z"]),
        (6, ["3", "\r\n"]),
        (8, ["4", "w"]),
    ]


def test_encoding_can_be_forced(db, config, tmp_path):
    path = tmp_path / "forced.csv"
    path.write_bytes(export().encode("cp1252"))
    report = import_csv(db, path, config=config, now=NOW, encoding="utf-8")
    assert (report.encoding, report.encoding_source) == ("utf-8", "given")
    assert (report.imported, report.rejected) == (0, 4)  # every row has an accent
    assert [r["reason"][:7] for r in rejects(path)] == ["line 2:", "line 3:", "line 4:", "line 5:"]
    with pytest.raises(ImportError_, match="unknown encoding"):
        import_csv(db, path, config=config, now=NOW, encoding="no-such-codec")


def test_an_unreadable_header_is_refused_as_a_whole(db, config, tmp_path):
    path = tmp_path / "header.csv"
    path.write_bytes(b"E\xffmail,Company\n" + "a@acme.de,Café\n".encode() * 3)
    with pytest.raises(ImportError_, match="header"):
        import_csv(db, path, config=config, now=NOW, encoding="utf-8")


def test_the_command_says_how_it_read_the_file(tmp_path):
    path = tmp_path / "excel.csv"
    path.write_bytes(export().encode("cp1252"))
    env = environment(LEADBOT_DATABASE_URL=f"sqlite:///{tmp_path / 'cli.db'}")
    result = leadbot("import", str(path), env=env, timeout=120)
    assert result.returncode == 0, result.stderr
    assert "read as cp1252 (detected)" in result.stdout
    assert result.stdout.strip().splitlines()[-1] == "imported 4, updated 0, rejected 0"
