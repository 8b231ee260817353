"""The one CSV reader, for imports and history files alike: which encoding and separator a file
is in, and its records with the real line number of each, streamed, so memory stays bounded
whatever the file holds and one unreadable row is rejected alone, named by the line an editor
shows.

Excel and many CRMs write Windows-1252 (or Latin-1), others UTF-8 with or without a byte order
mark. The rule, in order: a byte order mark says it; a file that is valid UTF-8, or whose
non-ASCII lines are mostly valid UTF-8, is UTF-8 (the lines that are not are unreadable rows);
otherwise charset-normalizer chooses among the single-byte encodings CRMs use, preferring
Windows-1252 when several read the same. The separator is the one of ``, ; tab |`` that splits
the first lines into the same number of cells most often.

Only regular files are read: a FIFO or a device is refused before a byte is read, and so is a
file whose first bytes are not text. Limits keep a hostile file from holding the process: a
record (with its quoted line breaks) longer than :data:`MAX_RECORD_BYTES` or a header of more
than :data:`MAX_COLUMNS` columns stops the read with one clear line; a cell longer than
:data:`MAX_CELL_CHARS` makes its row unreadable, and only that row.
"""

from __future__ import annotations

import codecs
import csv
import io
import os
import re
import stat
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from charset_normalizer import from_bytes

from core.refusals import LeadbotError

#: What exports are written in, most likely first (ties go to the earlier one).
LEGACY_ENCODINGS = ("cp1252", "latin_1", "cp1250", "cp1251", "cp1257", "mac_roman")
SEPARATORS = ",;\t|"

#: A record longer than this (bytes, its quoted line breaks included) is not a row of a table.
MAX_RECORD_BYTES = 4 << 20
#: A cell longer than this (characters) makes its row unreadable.
MAX_CELL_CHARS = 65536
#: A header with more columns than this is refused.
MAX_COLUMNS = 1000
#: Bytes looked at for signs of a binary file (a spreadsheet, an archive, an image), and to
#: guess the separator.
SNIFF_BYTES = 65536
#: Files up to this size have their encoding detected from all their bytes; larger ones from
#: their lines that are not UTF-8, up to :data:`SAMPLE_BYTES`.
WHOLE_FILE_DETECTION = 4 << 20
SAMPLE_BYTES = 2 << 20
CHUNK_BYTES = 1 << 20

# The csv module's own limit on a field (131,072 characters by default) would stop the whole
# file at one long cell; the limits above decide instead.
csv.field_size_limit(max(csv.field_size_limit(), MAX_RECORD_BYTES))

_BOMS = (
    (codecs.BOM_UTF8, "utf-8-sig"),
    (codecs.BOM_UTF32_LE, "utf-32"),
    (codecs.BOM_UTF32_BE, "utf-32"),
    (codecs.BOM_UTF16_LE, "utf-16"),
    (codecs.BOM_UTF16_BE, "utf-16"),
)
_WIDE_BOMS = (codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)  # UTF-32's start with these too
# Control bytes that text files do not hold (tab, line feed, form feed and carriage return do).
_CONTROL_BYTES = bytes([*range(0, 9), 11, *range(14, 32), 127])


class CsvFileError(LeadbotError, ValueError):
    """The file as a whole cannot be read (not a regular file, not text, unknown encoding,
    unreadable header, a record past the limits, not CSV)."""


@dataclass(frozen=True)
class Record:
    line: int  # the physical line the record starts on (1 is the header)
    cells: list[str]
    # Why the row cannot be taken as it is: some of its bytes are not text in the file's
    # encoding, or a cell is longer than MAX_CELL_CHARS.
    unreadable: str | None = None


def _kind_problem(mode: int) -> str | None:
    if stat.S_ISREG(mode):
        return None
    if stat.S_ISDIR(mode):
        return "is a directory, not a CSV file"
    if stat.S_ISFIFO(mode):
        kind = "a FIFO (named pipe)"
    elif stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
        kind = "a device"
    elif stat.S_ISSOCK(mode):
        kind = "a socket"
    else:
        kind = "not a regular file"
    return f"is {kind}, not a text file; save the data as a CSV file and name that"


def file_problem(path: Path) -> str | None:
    """Why ``path`` cannot be read as a CSV file at all, in a few words; None when it can be
    opened (checked before anything else is done with it, and before a byte is read)."""
    try:
        info = path.stat()
    except FileNotFoundError:
        return "no such file"
    except PermissionError:
        return "cannot be read: permission denied"
    except OSError as exc:
        return f"cannot be read: {exc.strerror or exc}"
    problem = _kind_problem(info.st_mode)
    if problem:
        return problem
    if not os.access(path, os.R_OK):
        return "cannot be read: permission denied"
    return None


def open_binary(path: Path) -> BinaryIO:
    """``path`` opened for reading, only if it is a regular file (checked on the opened file,
    which a FIFO cannot block: it is opened without waiting for a writer)."""
    problem = file_problem(path)
    if problem:
        raise CsvFileError(problem)
    flags = os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_NOCTTY", 0)
    try:
        descriptor = os.open(path, flags)
    except OSError as exc:
        raise CsvFileError(f"cannot be read: {exc.strerror or exc}") from None
    try:
        problem = _kind_problem(os.fstat(descriptor).st_mode)
        if problem:
            raise CsvFileError(problem)
        os.set_blocking(descriptor, True)
        return open(descriptor, "rb")
    except BaseException:
        os.close(descriptor)
        raise


def refuse_binary(head: bytes) -> None:
    """:class:`CsvFileError` when the first bytes of a file are not text: text never holds NUL
    bytes (except UTF-16 and UTF-32, which start with a byte order mark) and holds few control
    characters."""
    if head.startswith(_WIDE_BOMS):
        return
    controls = len(head) - len(head.translate(None, _CONTROL_BYTES))
    if b"\x00" in head or controls > max(8, len(head) // 100):
        kind = "a spreadsheet or archive" if head.startswith(b"PK\x03\x04") else "binary data"
        raise CsvFileError(f"is not a CSV file: it is not text (it holds {kind}; save it as CSV)")


def read_file(path: Path) -> bytes:
    """The bytes of a (small) CSV file, or :class:`CsvFileError` saying in a few words why not."""
    with open_binary(path) as handle:
        try:
            data = handle.read()
        except OSError as exc:
            raise CsvFileError(f"cannot be read: {exc.strerror or exc}") from None
    refuse_binary(data[:SNIFF_BYTES])
    return data


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
    if _mostly_utf8(data.splitlines()):
        return "utf-8", "mostly valid UTF-8"
    return _legacy(data)


def _legacy(data: bytes) -> tuple[str, str]:
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


def _utf8(line: bytes) -> bool:
    try:
        line.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True


def _mostly_utf8(lines: Iterable[bytes]) -> bool:
    """More lines with well-formed non-ASCII UTF-8 than lines that are not UTF-8: a UTF-8 file
    with a few damaged rows (text in a legacy encoding almost never forms valid UTF-8)."""
    good = bad = 0
    for line in lines:
        if line.isascii():
            continue
        if _utf8(line):
            good += 1
        else:
            bad += 1
    return good > bad


def detect_stream(handle: BinaryIO, size: int) -> tuple[str, str]:
    """:func:`detect_encoding` for an open file, reading it once in pieces: a large file's
    legacy encoding is told from a sample of its lines that are not UTF-8."""
    head = handle.read(SNIFF_BYTES)
    for bom, name in _BOMS:
        if head.startswith(bom):
            return name, "byte order mark"
    if size <= WHOLE_FILE_DETECTION:
        return detect_encoding(head + handle.read(WHOLE_FILE_DETECTION))
    handle.seek(0)
    good = bad = 0
    sample = bytearray()
    while piece := handle.readline(CHUNK_BYTES):
        if piece.isascii():
            continue
        if _utf8(piece):
            good += 1
            continue
        bad += 1
        if len(sample) < SAMPLE_BYTES:
            sample += piece
    if not bad:
        return "utf-8", "valid UTF-8"
    if good > bad:
        return "utf-8", "mostly valid UTF-8"
    return _legacy(bytes(sample))


def _ascii_compatible(encoding: str) -> bool:
    """Line breaks, commas and quotes are single ASCII bytes (not so in UTF-16 or UTF-32)."""
    try:
        return b'\n\r,"'.decode(encoding) == '\n\r,"'
    except UnicodeDecodeError:
        return False


class _TooLong(Exception):
    pass


def _chunks(handle: BinaryIO) -> Iterator[bytes]:
    while chunk := handle.read(CHUNK_BYTES):
        yield chunk


def _byte_lines(chunks: Iterable[bytes]) -> Iterator[bytes]:
    """Physical lines with their breaks (``\\n``, ``\\r\\n`` or a lone ``\\r``, as an editor
    counts them), never holding more than one over-long line's worth of bytes."""
    carry = b""
    for chunk in chunks:
        pieces = (carry + chunk).splitlines(keepends=True)
        # The last piece may go on in the next chunk (a \r may be followed by its \n).
        carry = pieces.pop() if pieces and not pieces[-1].endswith(b"\n") else b""
        for piece in pieces:
            if len(piece) > MAX_RECORD_BYTES:
                raise _TooLong
            yield piece
        if len(carry) > MAX_RECORD_BYTES:
            raise _TooLong
    if carry:
        yield carry


def _text_lines(chunks: Iterable[bytes], encoding: str) -> Iterator[str]:
    decoder = codecs.getincrementaldecoder(encoding)("strict")
    carry = ""
    final = False
    iterator = iter(chunks)
    while not final:
        chunk = next(iterator, None)
        final = chunk is None
        text = carry + decoder.decode(chunk or b"", final=final)
        pieces = text.splitlines(keepends=True)
        carry = pieces.pop() if pieces and not final and not pieces[-1].endswith("\n") else ""
        for piece in pieces:
            if len(piece) > MAX_RECORD_BYTES:
                raise _TooLong
            yield piece
        if len(carry) > MAX_RECORD_BYTES:
            raise _TooLong


def _lines(chunks: Iterable[bytes], encoding: str) -> Iterator[tuple[str, str | None]]:
    """Each physical line as text with its line break, and why it is unreadable (or None). An
    unreadable line is decoded with U+FFFD for the bad bytes: quotes and commas are ASCII in
    every encoding read this way, so the CSV structure around it stays intact."""
    if not _ascii_compatible(encoding):
        count = 0
        try:
            for piece in _text_lines(chunks, encoding):
                count += 1
                yield piece, None
        except UnicodeDecodeError:
            raise CsvFileError(f"line {count + 1} is not {encoding} text") from None
        return
    for number, raw in enumerate(_byte_lines(chunks)):
        # A byte order mark belongs to the first line only.
        codec = "utf-8" if number and encoding == "utf-8-sig" else encoding
        try:
            yield raw.decode(codec), None
        except UnicodeDecodeError as exc:
            column = len(raw[: exc.start].decode(codec, errors="replace")) + 1
            why = f"byte 0x{raw[exc.start]:02x} at column {column} is not {encoding} text"
            yield raw.decode(codec, errors="replace"), why


def _mib(size: int) -> str:
    return f"{size / (1 << 20):g} MiB"


def records(
    source: bytes | Iterable[bytes],
    encoding: str,
    separator: str = ",",
    *,
    max_columns: int = MAX_COLUMNS,
) -> Iterator[Record]:
    """The CSV records of ``source`` (bytes, or pieces of them) in ``encoding``, header first,
    blank lines skipped. A record spanning several lines (a quoted field with line breaks)
    starts where its first line does; it is unreadable when any of its lines is (the reason
    names that line) or when a cell is longer than :data:`MAX_CELL_CHARS`."""
    chunks: Iterable[bytes] = [source] if isinstance(source, bytes) else source
    problems: dict[int, str] = {}
    # Lines consumed by the records before the current one, and the length of the current one.
    done = 0
    pending = [0]
    count = [0]

    def numbered() -> Iterator[str]:
        try:
            for number, (text, why) in enumerate(_lines(chunks, encoding), start=1):
                count[0] = number
                if why:
                    problems[number] = why
                pending[0] += len(text)
                if pending[0] > MAX_RECORD_BYTES:
                    raise CsvFileError(
                        f"the record starting on line {done + 1} is longer than "
                        f"{_mib(MAX_RECORD_BYTES)} (a quote without its closing quote, or not "
                        "a CSV file)"
                    )
                # A byte order mark the codec keeps (utf-8 or utf-16-le named with
                # --encoding, say) is not part of the first header.
                yield text.removeprefix("\ufeff") if number == 1 else text
        except _TooLong:
            raise CsvFileError(
                f"line {count[0] + 1} is longer than {_mib(MAX_RECORD_BYTES)} "
                "(not a CSV file of rows)"
            ) from None

    reader = csv.reader(numbered(), delimiter=separator)
    header = True
    while True:
        try:
            cells = next(reader)
        except StopIteration:
            return
        except csv.Error as exc:
            raise CsvFileError(f"line {done + 1} is not valid CSV: {exc}") from None
        start, done = done + 1, reader.line_num
        pending[0] = 0
        bad = [(n, problems.pop(n)) for n in range(start, done + 1) if n in problems]
        if not cells:
            continue
        if header:
            header = False
            if len(cells) > max_columns:
                raise CsvFileError(
                    f"the header has {len(cells)} columns; at most {max_columns} are read "
                    "(leave out the columns that do not describe a lead)"
                )
        why = f"line {bad[0][0]}: {bad[0][1]}" if bad else None
        if why is None:
            for index, cell in enumerate(cells):
                if len(cell) > MAX_CELL_CHARS:
                    why = (
                        f"line {start}: column {index + 1} holds {len(cell)} characters "
                        f"(at most {MAX_CELL_CHARS})"
                    )
                    break
        yield Record(start, cells, why)


def sniff_separator(sample: str) -> str:
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


@dataclass(frozen=True)
class CsvFile:
    """A regular, textual file with its encoding and separator found; :meth:`records` reads it
    (again) from the start, a piece at a time."""

    path: Path
    size: int
    encoding: str
    encoding_source: str  # "given", "byte order mark", "valid UTF-8", "detected", ...
    separator: str
    empty: bool

    def records(self, *, max_columns: int = MAX_COLUMNS) -> Iterator[Record]:
        with open_binary(self.path) as handle:
            yield from records(
                _chunks(handle), self.encoding, self.separator, max_columns=max_columns
            )


def open_csv(path: Path, encoding: str | None = None) -> CsvFile:
    """``path`` checked (a regular file, text), its encoding (``encoding`` when given, else
    detected) and its separator; :class:`CsvFileError` in a few words when it cannot be read."""
    with open_binary(path) as handle:
        try:
            size = os.fstat(handle.fileno()).st_size
            head = handle.read(SNIFF_BYTES)
            refuse_binary(head)
            if encoding:
                found = (encoding_name(encoding), "given")
            else:
                handle.seek(0)
                found = detect_stream(handle, size)
        except OSError as exc:
            raise CsvFileError(f"cannot be read: {exc.strerror or exc}") from None
    sample = head.decode(found[0], errors="replace").removeprefix("\ufeff")
    return CsvFile(
        path,
        size,
        found[0],
        found[1],
        sniff_separator(sample),
        empty=not head.strip(),
    )


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
