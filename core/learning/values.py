"""What a cell of a history means: missing, a number, a time, or a category."""

from __future__ import annotations

import math
import re
from datetime import UTC, datetime
from functools import lru_cache
from typing import Any

#: Answers that mean "nobody said": forms' placeholders and spreadsheets' blanks.
MISSING_WORDS = frozenset(
    {
        "",
        "select",
        "-- select --",
        "--select--",
        "please select",
        "n/a",
        "na",
        "#n/a",
        "none",
        "null",
        "nil",
        "nan",
        "-",
        "--",
        "?",
        "unknown",
        "not provided",
        "not specified",
        "not available",
        "(blank)",
        "(none)",
        "(empty)",
    }
)

_SPACE = re.compile(r"\s+")
_NUMBER = re.compile(r"^[+-]?(\d+([.,]\d*)?|[.,]\d+)([eE][+-]?\d+)?$")
_TIME_FORMATS = (
    "%Y-%m-%d %H:%M:%S",
    "%Y-%m-%d %H:%M",
    "%Y-%m-%d",
    "%Y/%m/%d",
    "%d.%m.%Y",
    "%d.%m.%Y %H:%M",
    "%m/%d/%Y",
    "%m/%d/%Y %H:%M",
    "%d/%m/%Y",
    "%d/%m/%Y %H:%M",
)


def is_missing(value: Any) -> bool:
    if value is None:
        return True
    if isinstance(value, float):
        return not math.isfinite(value)
    if isinstance(value, bool | int):
        return False
    return _text(str(value)) is None


@lru_cache(maxsize=1 << 16)
def _text(value: str) -> str | None:
    # Histories repeat the same few answers thousands of times: remember them.
    text = _SPACE.sub(" ", value).strip().casefold()
    return None if text in MISSING_WORDS else text


def category(value: Any) -> str | None:
    """The value as a category: trimmed, spaces collapsed, case folded; None when missing."""
    if value is None:
        return None
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        if not math.isfinite(value):
            return None
        if value.is_integer():
            value = int(value)
    return _text(str(value))


def number(value: Any) -> float | None:
    """The value as a finite number ("1,5" and "1.5" alike), else None."""
    if isinstance(value, bool) or is_missing(value):
        return None
    if isinstance(value, int | float):
        try:
            result = float(value)
        except OverflowError:  # an integer no float can hold: the model cannot read it
            return None
        return result if math.isfinite(result) else None
    return _number_text(str(value))


@lru_cache(maxsize=1 << 16)
def _number_text(value: str) -> float | None:
    text = value.strip().replace("\u00a0", "").replace(" ", "")
    if not _NUMBER.match(text):
        return None
    if "," in text and "." not in text:
        text = text.replace(",", ".")
    elif "," in text:
        return None
    try:
        result = float(text)
    except ValueError:
        return None
    return result if math.isfinite(result) else None


def timestamp(value: Any) -> float | None:
    """The value as seconds since the epoch (ISO-8601 and common spreadsheet dates), else None.
    Dates without a zone are taken as UTC."""
    if is_missing(value):
        return None
    if isinstance(value, datetime):
        moment = value
    else:
        text = str(value).strip()
        moment_or_none: datetime | None = None
        try:
            moment_or_none = datetime.fromisoformat(text.replace("Z", "+00:00"))
        except ValueError:
            for layout in _TIME_FORMATS:
                try:
                    moment_or_none = datetime.strptime(text, layout)
                    break
                except ValueError:
                    continue
        if moment_or_none is None:
            return None
        moment = moment_or_none
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.timestamp()
