"""Writing a CSV file that holds people's data (the rejects of an import, an export): created
anew for the owner alone, never through a link someone planted, and with every cell a
spreadsheet would run as a formula neutralised, as OWASP advises against CSV injection."""

from __future__ import annotations

import csv
import os
import stat
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import IO

#: What a spreadsheet takes as the start of a formula (or, tab and carriage return, as a cell
#: separator before one).
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


class UnsafeOutput(OSError):
    """The output path is a link, or not a plain file, or cannot be created."""


def neutralise(cell: str) -> str:
    """``cell`` as a spreadsheet shows it but never runs it: a leading apostrophe before a
    formula start."""
    return "'" + cell if cell.startswith(FORMULA_STARTS) else cell


def check_output(path: Path) -> None:
    """:class:`UnsafeOutput` when ``path`` exists as anything but a plain file of its own (a
    symbolic link is refused, never followed)."""
    try:
        info = path.lstat()
    except FileNotFoundError:
        return
    if stat.S_ISLNK(info.st_mode):
        raise UnsafeOutput(f"{path} is a symbolic link; remove it (it is not followed)")
    if not stat.S_ISREG(info.st_mode):
        raise UnsafeOutput(f"{path} exists and is not a plain file")


def create_private(path: Path) -> IO[str]:
    """``path`` created anew (it must not exist: a link planted there makes this fail rather
    than write through it), readable and writable by its owner alone, for UTF-8 text."""
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0)
    try:
        descriptor = os.open(path, flags, 0o600)
    except FileExistsError:
        raise UnsafeOutput(f"{path} already exists (it is not overwritten, nor followed)") from None
    except OSError as exc:
        raise UnsafeOutput(f"{path} cannot be created: {exc.strerror or exc}") from None
    return open(descriptor, "w", newline="", encoding="utf-8")


class SafeWriter:
    """A CSV writer of rows keyed by ``fieldnames``, every cell neutralised."""

    def __init__(self, handle: IO[str], fieldnames: Sequence[str]) -> None:
        self._fields = list(fieldnames)
        self._writer = csv.writer(handle)
        self._writer.writerow([neutralise(name) for name in self._fields])

    def writerow(self, row: Mapping[str, object]) -> None:
        self._writer.writerow([neutralise(str(row.get(name, "") or "")) for name in self._fields])

    def writerows(self, rows: Iterable[Mapping[str, object]]) -> None:
        for row in rows:
            self.writerow(row)
