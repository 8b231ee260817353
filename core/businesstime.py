"""Business-time arithmetic for SLAs: pure functions of instants, a team's hours and its zone.

Every instant going in must be timezone-aware (any offset); every instant coming out is UTC.

The model, in one place:

- A business day is a local date whose weekday is in ``hours.days``. Its *window* runs from the
  moment the team's wall clock first reads ``hours.start`` on that date to the moment it first
  reads ``hours.end``; the window includes its opening and excludes its closing.
- ``m``/``h`` durations count real elapsed time inside windows. Wall-clock hours are what bound a
  window, so on a DST-change date a 09:00-18:00 window is still 09:00-18:00 local; only a window
  that contains the change itself is shorter (spring forward) or longer (fall back) in real time.
- ``d`` durations count business days and keep the local wall-clock time.
- A wall-clock time that occurs twice (fall back) means its first occurrence (zoneinfo
  ``fold=0``). A wall-clock time that the clock skips (spring forward) means the moment of the
  jump, which is when the clock first reads that time or later: 02:30 on 2026-03-29 in
  Europe/Berlin is 03:00 CEST. (``fold=0`` read through UTC would give 03:30, which can fall
  after a closing time earlier than 03:30 and is not monotonic in the wall-clock time.)
"""

from __future__ import annotations

import functools
import math
from collections.abc import Iterator
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from core.config import BusinessHours, Duration, WorkspaceConfig

# Adding business time walks calendar days and gives up after this many, so it terminates for
# any input; no SLA or snooze is anywhere near ten years of business time away.
HORIZON_DAYS = 10 * 366

_ONE_DAY = timedelta(days=1)

#: The clock of leads with no team (unrouted): Mon-Fri 09:00-18:00 UTC.
DEFAULT_HOURS = BusinessHours()
UTC_ZONE = ZoneInfo("UTC")


def hours_of(config: WorkspaceConfig, team: str | None) -> tuple[BusinessHours, ZoneInfo]:
    """Business hours and zone a lead's SLA clock runs in: its team's, else DEFAULT_HOURS in UTC."""
    found = config.team(team)
    return (found.business_hours, found.zone) if found else (DEFAULT_HOURS, UTC_ZONE)


def add_business_time(
    start: datetime, duration: Duration, hours: BusinessHours, zone: ZoneInfo
) -> datetime:
    """The instant (UTC) at which ``duration`` of business time has elapsed after ``start``.

    ``m``/``h``: the first instant by which that many business minutes have passed; a start outside
    business hours starts counting at the next opening, and a duration that runs out exactly at a
    closing is due at that closing. ``d``: see ``add_business_days``.
    """
    if duration.unit == "d":
        return add_business_days(start, duration.amount, hours, zone)
    return add_business_minutes(start, duration.minutes, hours, zone)


def add_business_minutes(
    start: datetime, minutes: int, hours: BusinessHours, zone: ZoneInfo
) -> datetime:
    """The instant (UTC) at which ``minutes`` business minutes have elapsed after ``start``
    (``start`` itself for zero)."""
    cursor = _utc(start, "start")
    if minutes < 0:
        raise ValueError(f"minutes must not be negative (got {minutes})")
    remaining = timedelta(minutes=minutes)
    if not remaining:
        return cursor
    for _, opening, closing in _windows(_local_date(cursor, zone) - _ONE_DAY, hours, zone):
        if closing <= cursor:
            continue
        begin = max(opening, cursor)
        if remaining <= closing - begin:
            return begin + remaining
        remaining -= closing - begin
        cursor = closing
    raise ValueError(
        f"{minutes} business minutes from {start.isoformat()} is beyond the horizon "
        f"of {HORIZON_DAYS} days"
    )


def add_business_days(start: datetime, days: int, hours: BusinessHours, zone: ZoneInfo) -> datetime:
    """The same local wall-clock time ``days`` business days later (UTC).

    A start outside business hours first moves to the next opening, so ``1d`` from Saturday noon
    is Tuesday at opening (Mon-Fri). Zero days gives that anchor. If the wall-clock time does not
    fall inside the target day's window (only when a clock change shortens or removes it), the
    result is the next business moment after it.
    """
    if days < 0:
        raise ValueError(f"days must not be negative (got {days})")
    anchor, anchor_day = _next_business(_utc(start, "start"), hours, zone)
    if days == 0:
        return anchor
    clock = anchor.astimezone(zone).time()
    weekdays = hours.weekdays
    weeks, rest = divmod(days, len(weekdays))
    try:
        # every run of 7 consecutive dates holds exactly len(weekdays) business days
        target = anchor_day + timedelta(weeks=weeks)
        while rest:
            target += _ONE_DAY
            if target.weekday() in weekdays:
                rest -= 1
        due = _reach(target, clock, zone)
    except OverflowError:
        raise ValueError(
            f"{days} business days from {start.isoformat()} is beyond the calendar"
        ) from None
    return due if is_business_time(due, hours, zone) else next_business_moment(due, hours, zone)


def business_time_between(
    start: datetime, end: datetime, hours: BusinessHours, zone: ZoneInfo
) -> timedelta:
    """Business time elapsed from ``start`` to ``end``; zero when ``end`` is not after ``start``."""
    first, last = _utc(start, "start"), _utc(end, "end")
    total = timedelta()
    if last <= first:
        return total
    first_day = _local_date(first, zone) - _ONE_DAY
    days = (_local_date(last, zone) - first_day).days + 2
    for _, opening, closing in _windows(first_day, hours, zone, days):
        overlap = min(closing, last) - max(opening, first)
        if overlap > timedelta():
            total += overlap
    return total


def is_business_time(at: datetime, hours: BusinessHours, zone: ZoneInfo) -> bool:
    """Whether ``at`` is inside a window (an opening is, a closing is not)."""
    instant = _utc(at, "at")
    today = _local_date(instant, zone)
    for day, opening, closing in _windows(today - _ONE_DAY, hours, zone):
        if day > today + _ONE_DAY or opening > instant:
            return False
        if instant < closing:
            return True
    return False


def next_business_moment(at: datetime, hours: BusinessHours, zone: ZoneInfo) -> datetime:
    """``at`` (in UTC) if it is business time, else the next opening."""
    return _next_business(_utc(at, "at"), hours, zone)[0]


# --- internals -------------------------------------------------------------------------------


def _utc(value: datetime, name: str) -> datetime:
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError(f"{name} must be timezone-aware (got naive {value.isoformat()})")
    return value.astimezone(UTC)


def _local_date(instant: datetime, zone: ZoneInfo) -> date:
    return instant.astimezone(zone).date()


def _wall(instant: datetime, zone: ZoneInfo) -> datetime:
    return instant.astimezone(zone).replace(tzinfo=None)


@functools.lru_cache(maxsize=8192)  # pure; every lead's SLA maths asks about the same few days
def _reach(day: date, clock: time, zone: ZoneInfo) -> datetime:
    """The first instant (UTC) at which the wall clock in ``zone`` reads ``day`` ``clock`` or
    later: the first occurrence of a repeated time, the jump itself for a skipped one."""
    wall = datetime.combine(day, clock)
    instant = wall.replace(tzinfo=zone).astimezone(UTC)
    if _wall(instant, zone) == wall:
        return instant
    # Skipped: fold=1 reads it with the offset after the jump (an instant before the jump),
    # fold=0 with the offset before it (an instant after). Jumps fall on whole seconds: search.
    before = math.floor(wall.replace(tzinfo=zone, fold=1).timestamp())
    after = math.ceil(instant.timestamp())
    while after - before > 1:
        middle = (before + after) // 2
        if _wall(datetime.fromtimestamp(middle, UTC), zone) >= wall:
            after = middle
        else:
            before = middle
    return datetime.fromtimestamp(after, UTC)


def _windows(
    first_day: date, hours: BusinessHours, zone: ZoneInfo, days: int = HORIZON_DAYS
) -> Iterator[tuple[date, datetime, datetime]]:
    """``(day, opening, closing)`` of each non-empty window on the ``days`` dates from
    ``first_day`` (fewer at the end of the calendar), in order."""
    weekdays = hours.weekdays
    day = first_day
    try:
        for _ in range(days):
            if day.weekday() in weekdays:
                opening = _reach(day, hours.start, zone)
                closing = _reach(day, hours.end, zone)
                if opening < closing:
                    yield day, opening, closing
            day += _ONE_DAY
    except OverflowError:
        return


def _next_business(
    instant: datetime, hours: BusinessHours, zone: ZoneInfo
) -> tuple[datetime, date]:
    """The next business moment at or after ``instant`` and the business day it belongs to."""
    for day, opening, closing in _windows(_local_date(instant, zone) - _ONE_DAY, hours, zone):
        if instant < closing:
            return max(opening, instant), day
    raise ValueError(f"no business hours after {instant.isoformat()} within the horizon")
