from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from core.businesstime import (
    add_business_days,
    add_business_minutes,
    add_business_time,
    business_time_between,
    is_business_time,
    next_business_moment,
)
from core.config import WEEKDAYS, BusinessHours, Duration

BERLIN = ZoneInfo("Europe/Berlin")
NEW_YORK = ZoneInfo("America/New_York")
DUBAI = ZoneInfo("Asia/Dubai")

OFFICE = BusinessHours()  # 09:00-18:00 Mon-Fri
GULF_WEEK = BusinessHours(days=["sun", "mon", "tue", "wed", "thu"])
NIGHT_SHIFT = BusinessHours(start="01:00", end="04:00", days=["sun", "mon"])
ONLY_THE_GAP = BusinessHours(start="02:00", end="03:00", days=["sun", "mon"])
ALL_DAY = BusinessHours(start="00:00", end="23:59", days=list(WEEKDAYS))


def local(text: str, zone: ZoneInfo, fold: int = 0) -> datetime:
    """The instant (in UTC: comparisons across zones treat repeated wall times as unequal)."""
    return datetime.fromisoformat(text).replace(tzinfo=zone, fold=fold).astimezone(UTC)


def utc(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


def wall(instant: datetime, zone: ZoneInfo) -> str:
    return instant.astimezone(zone).strftime("%Y-%m-%d %H:%M %Z")


# --- the example that must hold --------------------------------------------------------------


def test_friday_afternoon_lead_is_due_monday_noon_not_friday_night():
    due = add_business_time(local("2026-01-09 17:00", BERLIN), Duration.parse("4h"), OFFICE, BERLIN)
    assert due == utc("2026-01-12 11:00")
    assert due.tzinfo is UTC
    assert wall(due, BERLIN) == "2026-01-12 12:00 CET"


# --- table: 09:00-18:00 Mon-Fri in Berlin, January 2026 (Mon 5th ... Mon 12th) ----------------


@pytest.mark.parametrize(
    ("start", "duration", "due"),
    [
        ("2026-01-09 17:00", "4h", "2026-01-12 12:00"),  # 1h Friday, 3h Monday
        ("2026-01-05 07:30", "30m", "2026-01-05 09:30"),  # before opening
        ("2026-01-05 08:59", "540m", "2026-01-05 18:00"),
        ("2026-01-05 19:00", "1h", "2026-01-06 10:00"),  # after closing
        ("2026-01-10 12:00", "1h", "2026-01-12 10:00"),  # Saturday
        ("2026-01-11 23:59", "1m", "2026-01-12 09:01"),  # Sunday night
        ("2026-01-05 09:00", "9h", "2026-01-05 18:00"),  # exactly at opening, a full day
        ("2026-01-05 18:00", "1m", "2026-01-06 09:01"),  # exactly at closing
        ("2026-01-05 14:00", "4h", "2026-01-05 18:00"),  # ends exactly at closing
        ("2026-01-09 09:00", "9h", "2026-01-09 18:00"),  # Friday closing, not Monday 09:00
        ("2026-01-05 17:59", "2m", "2026-01-06 09:01"),
        ("2026-01-05 09:00", "10h", "2026-01-06 10:00"),
        ("2026-01-05 09:00", "45h", "2026-01-09 18:00"),
        ("2026-01-05 09:00", "46h", "2026-01-12 10:00"),
        ("2026-01-05 09:00", "10000h", "2030-04-09 10:00"),  # 222 weeks and 10h
        ("2026-01-07 10:00", "3d", "2026-01-12 10:00"),  # Thu, Fri, Mon
        ("2026-01-09 17:00", "1d", "2026-01-12 17:00"),
        ("2026-01-10 12:00", "1d", "2026-01-13 09:00"),  # from Monday's opening
        ("2026-01-05 06:00", "1d", "2026-01-06 09:00"),  # from Monday's opening
        ("2026-01-05 18:00", "1d", "2026-01-07 09:00"),  # from Tuesday's opening
        ("2026-01-05 10:00", "5d", "2026-01-12 10:00"),
        ("2026-01-05 10:00", "14d", "2026-01-23 10:00"),
        ("2026-01-05 09:00", "365d", "2027-05-31 09:00"),  # 73 weeks, summer time then
    ],
)
def test_office_hours_in_berlin(start, duration, due):
    result = add_business_time(local(start, BERLIN), Duration.parse(duration), OFFICE, BERLIN)
    assert result == local(due, BERLIN)
    assert result.tzinfo is UTC


@pytest.mark.parametrize(
    ("start", "duration", "due"),
    [
        ("2026-01-08 17:00", "4h", "2026-01-11 12:00"),  # Thursday -> Sunday
        ("2026-01-09 10:00", "1h", "2026-01-11 10:00"),  # Friday is the weekend
        ("2026-01-10 12:00", "30m", "2026-01-11 09:30"),  # so is Saturday
        ("2026-01-07 10:00", "3d", "2026-01-12 10:00"),  # Thu, Sun, Mon
        ("2026-01-08 10:00", "1d", "2026-01-11 10:00"),
        ("2026-01-10 12:00", "1d", "2026-01-12 09:00"),  # from Sunday's opening
        ("2026-01-04 09:00", "5d", "2026-01-11 09:00"),
    ],
)
def test_sunday_to_thursday_week_in_dubai(start, duration, due):
    result = add_business_time(local(start, DUBAI), Duration.parse(duration), GULF_WEEK, DUBAI)
    assert result == local(due, DUBAI)


def test_business_time_between_counts_only_open_hours():
    monday, friday_next = local("2026-01-05 00:00", BERLIN), local("2026-01-12 00:00", BERLIN)
    assert business_time_between(monday, friday_next, OFFICE, BERLIN) == timedelta(hours=45)
    assert business_time_between(
        local("2026-01-09 17:00", BERLIN), local("2026-01-12 12:00", BERLIN), OFFICE, BERLIN
    ) == timedelta(hours=4)
    assert business_time_between(friday_next, monday, OFFICE, BERLIN) == timedelta()
    assert business_time_between(monday, monday, OFFICE, BERLIN) == timedelta()


@pytest.mark.parametrize(
    ("at", "inside", "next_moment"),
    [
        ("2026-01-05 08:59", False, "2026-01-05 09:00"),
        ("2026-01-05 09:00", True, "2026-01-05 09:00"),  # an opening is business time
        ("2026-01-05 17:59", True, "2026-01-05 17:59"),
        ("2026-01-05 18:00", False, "2026-01-06 09:00"),  # a closing is not
        ("2026-01-09 18:30", False, "2026-01-12 09:00"),
        ("2026-01-11 12:00", False, "2026-01-12 09:00"),
    ],
)
def test_is_business_time_and_next_business_moment(at, inside, next_moment):
    instant = local(at, BERLIN)
    assert is_business_time(instant, OFFICE, BERLIN) is inside
    assert next_business_moment(instant, OFFICE, BERLIN) == local(next_moment, BERLIN)
    assert next_business_moment(instant, OFFICE, BERLIN).tzinfo is UTC


# --- DST: a normal office across the change weekend ------------------------------------------


@pytest.mark.parametrize(
    ("zone", "start", "duration", "due_wall", "due_utc"),
    [
        (BERLIN, "2026-03-27 16:00", "4h", "2026-03-30 11:00 CEST", "2026-03-30 09:00"),
        (BERLIN, "2026-10-23 16:00", "4h", "2026-10-26 11:00 CET", "2026-10-26 10:00"),
        (BERLIN, "2026-03-27 10:00", "1d", "2026-03-30 10:00 CEST", "2026-03-30 08:00"),
        (NEW_YORK, "2026-03-06 16:00", "4h", "2026-03-09 11:00 EDT", "2026-03-09 15:00"),
        (NEW_YORK, "2026-10-30 16:00", "4h", "2026-11-02 11:00 EST", "2026-11-02 16:00"),
        (NEW_YORK, "2026-10-30 10:00", "1d", "2026-11-02 10:00 EST", "2026-11-02 15:00"),
    ],
)
def test_office_hours_across_a_dst_weekend_keep_wall_clock_time(
    zone, start, duration, due_wall, due_utc
):
    due = add_business_time(local(start, zone), Duration.parse(duration), OFFICE, zone)
    assert wall(due, zone) == due_wall
    assert due == utc(due_utc)


def test_office_day_on_a_sunday_change_date_still_runs_nine_to_six():
    every_day = BusinessHours(days=list(WEEKDAYS))
    for day in ("2026-03-29", "2026-10-25"):
        start = local(f"{day} 00:00", BERLIN)
        assert next_business_moment(start, every_day, BERLIN) == local(f"{day} 09:00", BERLIN)
        due = add_business_time(start, Duration.parse("9h"), every_day, BERLIN)
        assert due == local(f"{day} 18:00", BERLIN)


# --- DST: hours that contain the change ------------------------------------------------------


@pytest.mark.parametrize(
    ("minutes", "due_wall", "due_utc"),
    [
        (0, "2026-03-29 01:00 CET", "2026-03-29 00:00"),
        (59, "2026-03-29 01:59 CET", "2026-03-29 00:59"),
        (60, "2026-03-29 03:00 CEST", "2026-03-29 01:00"),  # 02:00-03:00 never happens
        (90, "2026-03-29 03:30 CEST", "2026-03-29 01:30"),
        (120, "2026-03-29 04:00 CEST", "2026-03-29 02:00"),  # closing: the day had 2h
        (121, "2026-03-30 01:01 CEST", "2026-03-29 23:01"),
        (180, "2026-03-30 02:00 CEST", "2026-03-30 00:00"),
    ],
)
def test_berlin_spring_forward_inside_night_shift(minutes, due_wall, due_utc):
    due = add_business_minutes(local("2026-03-29 01:00", BERLIN), minutes, NIGHT_SHIFT, BERLIN)
    assert wall(due, BERLIN) == due_wall
    assert due == utc(due_utc)


@pytest.mark.parametrize(
    ("minutes", "due_utc", "fold"),
    [
        (60, "2026-10-25 00:00", 0),  # 02:00 CEST
        (90, "2026-10-25 00:30", 0),  # 02:30 CEST
        (120, "2026-10-25 01:00", 1),  # 02:00 CET, the second time round
        (150, "2026-10-25 01:30", 1),  # 02:30 CET
        (240, "2026-10-25 03:00", 0),  # 04:00 CET, closing: the day had 4h
        (241, "2026-10-26 00:01", 0),  # Monday 01:01 CET
    ],
)
def test_berlin_fall_back_inside_night_shift(minutes, due_utc, fold):
    start = local("2026-10-25 01:00", BERLIN)
    assert start == utc("2026-10-24 23:00")
    due = add_business_minutes(start, minutes, NIGHT_SHIFT, BERLIN)
    assert due == utc(due_utc)
    assert due.astimezone(BERLIN).fold == fold


@pytest.mark.parametrize(
    ("zone", "day", "hours", "length"),
    [
        (BERLIN, "2026-03-29", NIGHT_SHIFT, timedelta(hours=2)),
        (BERLIN, "2026-10-25", NIGHT_SHIFT, timedelta(hours=4)),
        (BERLIN, "2026-03-22", NIGHT_SHIFT, timedelta(hours=3)),
        (BERLIN, "2026-03-29", ONLY_THE_GAP, timedelta()),  # the whole window is skipped
        (BERLIN, "2026-10-25", ONLY_THE_GAP, timedelta(hours=2)),
        (NEW_YORK, "2026-03-08", NIGHT_SHIFT, timedelta(hours=2)),
        (NEW_YORK, "2026-11-01", NIGHT_SHIFT, timedelta(hours=4)),
        (NEW_YORK, "2026-03-08", ALL_DAY, timedelta(hours=22, minutes=59)),
        (NEW_YORK, "2026-11-01", ALL_DAY, timedelta(hours=24, minutes=59)),
        (NEW_YORK, "2026-11-02", ALL_DAY, timedelta(hours=23, minutes=59)),
    ],
)
def test_real_length_of_a_business_day_around_dst(zone, day, hours, length):
    start = local(f"{day} 00:00", zone)
    next_day = date.fromisoformat(day) + timedelta(days=1)
    end = local(f"{next_day} 00:00", zone)  # wall-clock midnight to midnight
    assert business_time_between(start, end, hours, zone) == length


def test_new_york_night_shift_counts_real_minutes_across_the_change():
    spring_open = local("2026-03-08 01:00", NEW_YORK)
    due = add_business_minutes(spring_open, 60, NIGHT_SHIFT, NEW_YORK)
    assert (due, wall(due, NEW_YORK)) == (utc("2026-03-08 07:00"), "2026-03-08 03:00 EDT")
    fall_open = local("2026-11-01 01:00", NEW_YORK)
    assert fall_open == utc("2026-11-01 05:00")
    due = add_business_minutes(fall_open, 60, NIGHT_SHIFT, NEW_YORK)
    assert (due, wall(due, NEW_YORK)) == (utc("2026-11-01 06:00"), "2026-11-01 01:00 EST")
    assert is_business_time(local("2026-11-01 03:59", NEW_YORK), NIGHT_SHIFT, NEW_YORK)
    assert not is_business_time(local("2026-11-01 04:00", NEW_YORK), NIGHT_SHIFT, NEW_YORK)


def test_instants_inside_a_shift_that_contains_the_change():
    assert is_business_time(local("2026-03-29 01:59", BERLIN), NIGHT_SHIFT, BERLIN)
    assert is_business_time(local("2026-03-29 03:00", BERLIN), NIGHT_SHIFT, BERLIN)
    assert not is_business_time(local("2026-03-29 04:00", BERLIN), NIGHT_SHIFT, BERLIN)
    second_half_past_two = local("2026-10-25 02:30", BERLIN, fold=1)
    assert second_half_past_two == utc("2026-10-25 01:30")
    assert is_business_time(second_half_past_two, NIGHT_SHIFT, BERLIN)
    assert not is_business_time(local("2026-03-29 02:30", BERLIN), ONLY_THE_GAP, BERLIN)
    assert next_business_moment(local("2026-03-29 00:00", BERLIN), ONLY_THE_GAP, BERLIN) == local(
        "2026-03-30 02:00", BERLIN
    )


@pytest.mark.parametrize(
    ("start", "fold", "hours", "due_utc", "why"),
    [
        ("2026-03-23 02:30", 0, NIGHT_SHIFT, "2026-03-29 01:00", "02:30 is skipped: the jump"),
        ("2026-03-23 02:30", 0, ONLY_THE_GAP, "2026-03-30 00:00", "no window: next opening"),
        ("2026-10-19 02:30", 0, NIGHT_SHIFT, "2026-10-25 00:30", "02:30 twice: the first"),
        ("2026-10-25 02:30", 1, NIGHT_SHIFT, "2026-10-26 01:30", "from the second 02:30"),
        ("2026-10-25 02:30", 1, ONLY_THE_GAP, "2026-10-26 01:30", "02:00 CEST-03:00 CET: 2h"),
    ],
)
def test_business_days_landing_on_a_skipped_or_repeated_time(start, fold, hours, due_utc, why):
    due = add_business_days(local(start, BERLIN, fold), 1, hours, BERLIN)
    assert due == utc(due_utc), why
    assert is_business_time(due, hours, BERLIN)


def test_clocks_that_change_at_midnight_or_skip_a_whole_day():
    santiago = ZoneInfo("America/Santiago")
    small_hours = BusinessHours(start="00:00", end="02:00", days=list(WEEKDAYS))
    # 2026-09-06 00:00 -04 becomes 01:00 -03: Sunday opens at the jump and has 1h
    sunday = local("2026-09-06 00:00", santiago)
    assert next_business_moment(local("2026-09-05 23:00", santiago), small_hours, santiago) == (
        sunday
    )
    assert wall(sunday, santiago) == "2026-09-06 01:00 -03"
    assert business_time_between(
        sunday, local("2026-09-07 00:00", santiago), small_hours, santiago
    ) == timedelta(hours=1)
    # 2026-04-05 00:00 -03 becomes Saturday 23:00 -04: Sunday still has its two hours
    assert business_time_between(
        local("2026-04-04 00:00", santiago),
        local("2026-04-06 00:00", santiago),
        small_hours,
        santiago,
    ) == timedelta(hours=4)

    apia = ZoneInfo("Pacific/Apia")  # Friday 2011-12-30 never happened there
    thursday = local("2011-12-29 17:00", apia)
    due = add_business_time(thursday, Duration.parse("4h"), OFFICE, apia)
    assert wall(due, apia) == "2012-01-02 12:00 +14"
    one, two = (add_business_time(thursday, Duration(n, "d"), OFFICE, apia) for n in (1, 2))
    assert is_business_time(one, OFFICE, apia) and is_business_time(two, OFFICE, apia)
    assert thursday < one < two


def test_zero_business_time_is_the_start_or_its_anchor():
    repeated = local("2026-10-25 02:30", BERLIN, fold=1)
    assert add_business_minutes(repeated, 0, NIGHT_SHIFT, BERLIN) == repeated
    assert add_business_days(repeated, 0, NIGHT_SHIFT, BERLIN) == repeated
    saturday = local("2026-01-10 12:00", BERLIN)
    assert add_business_minutes(saturday, 0, OFFICE, BERLIN) == saturday
    assert add_business_days(saturday, 0, OFFICE, BERLIN) == local("2026-01-12 09:00", BERLIN)


# --- refusals ---------------------------------------------------------------------------------


def test_naive_datetimes_are_refused():
    naive, aware = datetime(2026, 1, 5, 10), local("2026-01-05 10:00", BERLIN)
    calls = [
        lambda: add_business_time(naive, Duration.parse("4h"), OFFICE, BERLIN),
        lambda: add_business_time(naive, Duration.parse("1d"), OFFICE, BERLIN),
        lambda: business_time_between(naive, aware, OFFICE, BERLIN),
        lambda: business_time_between(aware, naive, OFFICE, BERLIN),
        lambda: is_business_time(naive, OFFICE, BERLIN),
        lambda: next_business_moment(naive, OFFICE, BERLIN),
    ]
    for call in calls:
        with pytest.raises(ValueError, match="timezone-aware"):
            call()


def test_negative_amounts_are_refused():
    start = local("2026-01-05 10:00", BERLIN)
    with pytest.raises(ValueError, match="negative"):
        add_business_minutes(start, -1, OFFICE, BERLIN)
    with pytest.raises(ValueError, match="negative"):
        add_business_days(start, -1, OFFICE, BERLIN)


def test_absurd_durations_stop_with_an_error_instead_of_looping():
    one_minute_a_week = BusinessHours(start="09:00", end="09:01", days=["mon"])
    start = local("2026-01-05 10:00", BERLIN)
    with pytest.raises(ValueError, match="horizon"):
        add_business_time(start, Duration(10000, "h"), one_minute_a_week, BERLIN)
    with pytest.raises(ValueError, match="calendar"):
        add_business_time(start, Duration(10**7, "d"), one_minute_a_week, BERLIN)
    due = add_business_time(start, Duration(1000, "d"), one_minute_a_week, BERLIN)
    assert due == local("2045-03-13 09:00", BERLIN)  # 1000 Mondays after the next one


# --- properties -------------------------------------------------------------------------------

ZONES = [
    "UTC",
    "Europe/Berlin",
    "America/New_York",
    "America/Santiago",  # changes at midnight
    "Asia/Kolkata",  # +05:30
    "Asia/Kathmandu",  # +05:45
    "Australia/Adelaide",  # +09:30 / +10:30
    "Australia/Lord_Howe",  # half-hour DST
    "America/St_Johns",
]
NO_DST = {"UTC", "Asia/Kolkata", "Asia/Kathmandu"}

zones = st.sampled_from(ZONES)


@st.composite
def business_hours(draw: st.DrawFn) -> BusinessHours:
    opening = draw(st.integers(0, 23 * 60 + 58))
    closing = draw(st.integers(opening + 1, 23 * 60 + 59))
    days = draw(st.sets(st.sampled_from(WEEKDAYS), min_size=1))
    return BusinessHours(
        start=time(opening // 60, opening % 60),
        end=time(closing // 60, closing % 60),
        days=sorted(days, key=WEEKDAYS.index),
    )


def weeks_of(hours: BusinessHours, weeks: int) -> int:
    """Nominal business minutes in ``weeks`` weeks: keeps generated durations well inside the
    horizon however narrow the hours are."""
    start, end = hours.start, hours.end
    daily = (end.hour - start.hour) * 60 + end.minute - start.minute
    return daily * len(hours.days) * weeks


def _instants(low: datetime, high: datetime) -> st.SearchStrategy[datetime]:
    return st.datetimes(min_value=low, max_value=high, timezones=st.just(UTC))


# anywhere, or in the months when these zones change their clocks (2026)
instants = st.one_of(
    _instants(datetime(2020, 1, 1), datetime(2035, 12, 31)),
    _instants(datetime(2026, 3, 1), datetime(2026, 4, 10)),
    _instants(datetime(2026, 9, 1), datetime(2026, 11, 10)),
)
fast = settings(deadline=None, max_examples=60)


def is_closing(at: datetime, hours: BusinessHours, zone: ZoneInfo) -> bool:
    tick = timedelta(microseconds=1)
    return is_business_time(at - tick, hours, zone) and not is_business_time(at, hours, zone)


@fast
@given(zone=zones, hours=business_hours(), start=instants, data=st.data())
def test_adding_minutes_elapses_exactly_that_much_business_time(zone, hours, start, data):
    tz = ZoneInfo(zone)
    amount = data.draw(st.integers(0, min(5000, weeks_of(hours, 40))), label="amount")
    due = add_business_time(start, Duration(amount, "m"), hours, tz)
    if amount % 60 == 0:
        assert add_business_time(start, Duration(amount // 60, "h"), hours, tz) == due
    assert due.tzinfo is UTC
    assert due >= start
    elapsed = timedelta(minutes=amount)
    assert business_time_between(start, due, hours, tz) == elapsed
    if amount:
        # the first such instant: a moment earlier not enough has elapsed
        tick = timedelta(microseconds=1)
        assert business_time_between(start, due - tick, hours, tz) < elapsed
        assert is_business_time(due, hours, tz) or is_closing(due, hours, tz)


@fast
@given(zone=zones, hours=business_hours(), start=instants, data=st.data())
def test_adding_minutes_composes_and_is_monotone(zone, hours, start, data):
    tz = ZoneInfo(zone)
    minutes = st.integers(0, min(3000, weeks_of(hours, 20)))
    a, b = data.draw(minutes, label="a"), data.draw(minutes, label="b")
    first = add_business_minutes(start, a, hours, tz)
    both = add_business_minutes(start, a + b, hours, tz)
    assert add_business_minutes(first, b, hours, tz) == both
    assert first <= both


@fast
@given(zone=zones, hours=business_hours(), start=instants, days=st.integers(0, 400))
def test_adding_days_lands_in_business_hours_at_the_same_wall_clock_time(zone, hours, start, days):
    tz = ZoneInfo(zone)
    anchor = next_business_moment(start, hours, tz)
    due = add_business_time(start, Duration(days, "d"), hours, tz)
    assert due.tzinfo is UTC
    assert due >= anchor >= start
    assert is_business_time(due, hours, tz)
    assert add_business_days(start, days + 1, hours, tz) >= due
    if days:
        assert due > anchor
    anchor_wall, due_wall = anchor.astimezone(tz), due.astimezone(tz)
    if zone in NO_DST or anchor_wall.time() == due_wall.time():
        assert anchor_wall.time() == due_wall.time()
        business_dates = [
            anchor_wall.date() + timedelta(days=n)
            for n in range(1, (due_wall.date() - anchor_wall.date()).days + 1)
        ]
        assert sum(d.weekday() in hours.weekdays for d in business_dates) == days


@fast
@given(zone=zones, hours=business_hours(), at=instants)
def test_next_business_moment_skips_only_closed_time(zone, hours, at):
    tz = ZoneInfo(zone)
    moment = next_business_moment(at, hours, tz)
    assert moment.tzinfo is UTC
    assert moment >= at
    assert is_business_time(moment, hours, tz)
    assert (moment == at) is is_business_time(at, hours, tz)
    assert business_time_between(at, moment, hours, tz) == timedelta()


@fast
@given(zone=zones, hours=business_hours(), start=instants, span=st.integers(0, 20 * 24 * 60))
def test_business_time_between_is_bounded_and_additive(zone, hours, start, span):
    tz = ZoneInfo(zone)
    end = start + timedelta(minutes=span)
    middle = start + timedelta(minutes=span // 3)
    total = business_time_between(start, end, hours, tz)
    assert timedelta() <= total <= end - start
    assert total == business_time_between(start, middle, hours, tz) + business_time_between(
        middle, end, hours, tz
    )
    assert business_time_between(end, start, hours, tz) == timedelta()
