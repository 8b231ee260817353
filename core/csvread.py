"""Reading a CSV export as text: which encoding it is in, and its records with the real line
number of each, so one unreadable row is rejected alone and named by the line an editor shows.

Excel and many CRMs write Windows-1252 (or Latin-1), others UTF-8 with or without a byte order
mark. The rule, in order: a byte order mark says it; a file that is valid UTF-8, or whose
non-ASCII lines are mostly valid UTF-8, is UTF-8 (the lines that are not are unreadable rows);
otherwise charset-normalizer chooses among the single-byte encodings CRMs use, preferring
Windows-1252 when several read the same.
"""

from __future__ import annotations

import codecs
import csv
import os
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from charset_normalizer import from_bytes

#: What exports are written in, most likely first (ties go to the earlier one).
LEGACY_ENCODINGS = ("cp1252", "latin_1", "cp1250", "cp1251", "cp1257", "mac_roman")

_BOMS = (
    (codecs.BOM_UTF8, "utf-8-sig"),
    (codecs.BOM_UTF32_LE, "utf-32"),
    (codecs.BOM_UTF32_BE, "utf-32"),
    (codecs.BOM_UTF16_LE, "utf-16"),
    (codecs.BOM_UTF16_BE, "utf-16"),
)
# After each \n, and after a \r that no \n follows: the line breaks an editor counts.
_LINE_BREAK = re.compile(rb"(?<=\n)|(?<=\r)(?!\n)")


class CsvFileError(ValueError):
    """The file as a whole cannot be read (unknown encoding, unreadable header, not CSV)."""


@dataclass(frozen=True)
class Record:
    line: int  # the physical line the record starts on (1 is the header)
    cells: list[str]
    unreadable: str | None = None  # why some of its bytes are not text in the file's encoding


#: Bytes looked at for signs of a binary file (a spreadsheet, an archive, an image).
SNIFF_BYTES = 65536
_WIDE_BOMS = (codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)  # UTF-32's start with these too


def file_problem(path: Path) -> str | None:
    """Why ``path`` cannot be read as a CSV file at all, in a few words; None when it can be
    opened (checked before anything else is done with it)."""
    if path.is_dir():
        return "is a directory, not a CSV file"
    if not path.exists():
        return "no such file"
    if not os.access(path, os.R_OK):
        return "cannot be read: permission denied"
    return None


def read_file(path: Path) -> bytes:
    """The bytes of a CSV file, or :class:`CsvFileError` saying in a few words why not: no such
    file, a directory, no permission, or binary data (text never holds NUL bytes, except in
    UTF-16 and UTF-32, which start with a byte order mark)."""
    problem = file_problem(path)
    if problem:
        raise CsvFileError(problem)
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise CsvFileError(f"cannot be read: {exc.strerror or exc}") from None
    if b"\x00" in data[:SNIFF_BYTES] and not data.startswith(_WIDE_BOMS):
        kind = "a spreadsheet or archive" if data.startswith(b"PK\x03\x04") else "binary data"
        raise CsvFileError(f"is not a CSV file (it holds {kind}; save it as CSV)")
    return data


def decode(data: bytes) -> tuple[str, str]:
    """The whole file as text and its encoding (by :func:`detect_encoding`), for readers that
    take a file as a whole: bytes that are not text in it read as U+FFFD."""
    encoding, _ = detect_encoding(data)
    return data.decode(encoding, errors="replace"), encoding


def encoding_name(name: str) -> str:
    """The codec's canonical name, or :class:`CsvFileError` for a name Python does not know."""
    try:
        return codecs.lookup(name).name
    except LookupError:
        raise CsvFileError(f"unknown encoding {name!r} (try utf-8, cp1252 or latin-1)") from None


def detect_encoding(data: bytes) -> tuple[str, str]:
    """``(encoding, how it was found)`` for the bytes of a whole file."""
    for bom, name in _BOMS:
        if data.startswith(bom):
            return name, "byte order mark"
    try:
        data.decode("utf-8")
    except UnicodeDecodeError:
        pass
    else:
        return "utf-8", "valid UTF-8"
    if _mostly_utf8(data):
        return "utf-8", "mostly valid UTF-8"
    matches = from_bytes(data, cp_isolation=list(LEGACY_ENCODINGS))
    if not matches:
        return "utf-8", "no other encoding fits"
    least = min(match.chaos for match in matches)
    # charset-normalizer groups the encodings that give the same text; take the likeliest name.
    names = {
        name
        for match in matches
        if match.chaos - least < 0.01
        for name in match.could_be_from_charset
        if name in LEGACY_ENCODINGS
    }
    return min(names, key=LEGACY_ENCODINGS.index), "detected"


def _mostly_utf8(data: bytes) -> bool:
    """More lines with well-formed non-ASCII UTF-8 than lines that are not UTF-8: a UTF-8 file
    with a few damaged rows (text in a legacy encoding almost never forms valid UTF-8)."""
    good = bad = 0
    for line in data.splitlines():
        if line.isascii():
            continue
        try:
            line.decode("utf-8")
        except UnicodeDecodeError:
            bad += 1
        else:
            good += 1
    return good > bad


def _ascii_compatible(encoding: str) -> bool:
    """Line breaks, commas and quotes are single ASCII bytes (not so in UTF-16 or UTF-32)."""
    try:
        return b'\n\r,"'.decode(encoding) == '\n\r,"'
    except UnicodeDecodeError:
        return False


def _lines(data: bytes, encoding: str) -> Iterator[tuple[str, str | None]]:
    """Each physical line as text with its line break, and why it is unreadable (or None). An
    unreadable line is decoded with U+FFFD for the bad bytes: quotes and commas are ASCII in
    every encoding read this way, so the CSV structure around it stays intact."""
    if not _ascii_compatible(encoding):
        try:
            text = data.decode(encoding)
        except UnicodeDecodeError as exc:
            line = data[: exc.start].decode(encoding, errors="replace").count("\n") + 1
            raise CsvFileError(f"line {line} is not {encoding} text") from None
        yield from ((piece, None) for piece in text.splitlines(keepends=True))
        return
    for number, raw in enumerate(piece for piece in _LINE_BREAK.split(data) if piece):
        # A byte order mark belongs to the first line only.
        codec = "utf-8" if number and encoding == "utf-8-sig" else encoding
        try:
            yield raw.decode(codec), None
        except UnicodeDecodeError as exc:
            column = len(raw[: exc.start].decode(codec, errors="replace")) + 1
            why = f"byte 0x{raw[exc.start]:02x} at column {column} is not {encoding} text"
            yield raw.decode(codec, errors="replace"), why


def records(data: bytes, encoding: str) -> Iterator[Record]:
    """The CSV records of ``data`` in ``encoding``, header first, blank lines skipped. A record
    spanning several lines (a quoted field with line breaks) starts where its first line does;
    it is unreadable when any of its lines is, and the reason names that line."""
    problems: dict[int, str] = {}

    def numbered() -> Iterator[str]:
        for number, (text, why) in enumerate(_lines(data, encoding), start=1):
            if why:
                problems[number] = why
            # A byte order mark the codec keeps (utf-8 or utf-16-le named with --encoding, say)
            # is not part of the first header.
            yield text.removeprefix("\ufeff") if number == 1 else text

    reader = csv.reader(numbered())
    done = 0  # lines consumed by the records before this one
    while True:
        try:
            cells = next(reader)
        except StopIteration:
            return
        except csv.Error as exc:
            raise CsvFileError(f"line {done + 1} is not valid CSV: {exc}") from None
        start, done = done + 1, reader.line_num
        bad = [(n, problems.pop(n)) for n in range(start, done + 1) if n in problems]
        if cells:
            yield Record(start, cells, f"line {bad[0][0]}: {bad[0][1]}" if bad else None)


#: Column headers a lead field is recognised by, in imports and in history files alike.
HEADER_ALIASES: dict[str, tuple[str, ...]] = {
    "email": ("email", "e-mail", "email address", "e-mail address", "mail", "work email"),
    "first_name": ("first name", "firstname", "given name", "first"),
    "last_name": ("last name", "lastname", "surname", "family name", "last"),
    "title": ("title", "job title", "position", "role"),
    "company": (
        "company",
        "company name",
        "organization",
        "organisation",
        "account",
        "account name",
    ),
    "company_size": ("company size", "employees", "number of employees", "headcount", "size"),
    "industry": ("industry", "sector"),
    "country": ("country", "country code"),
    "phone": ("phone", "phone number", "telephone", "mobile"),
    "source": ("source", "lead source"),
    "campaign": ("campaign", "campaign name"),
}


def header_key(header: str) -> str:
    return re.sub(r"[\s_\-]+", " ", header.strip().lower()).strip()


_LOOKUP = {header_key(alias): name for name, aliases in HEADER_ALIASES.items() for alias in aliases}


def lead_field(header: str) -> str | None:
    """The lead field a column of this header fills (the same for imports and histories)."""
    return _LOOKUP.get(header_key(header))
