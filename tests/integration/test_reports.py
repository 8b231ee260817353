"""Funnel numbers against a seeded week, on both engines."""

from datetime import UTC, datetime

import pytest

from core.services.reports import funnel, reason_label
from tests.factories import story

SINCE = datetime(2026, 11, 16, 0, 0, tzinfo=UTC)  # Monday
UNTIL = datetime(2026, 11, 23, 0, 0, tzinfo=UTC)


def at(day, hour, minute=0):
    return datetime(2026, 11, day, hour, minute, tzinfo=UTC)


@pytest.fixture
def week(db):
    with db.transaction() as s:
        ids = {
            "fast": story(
                s,
                "emea",
                ("mql", "system", at(16, 9)),
                ("sal", "U0REP1", at(16, 9, 30)),
                ("sql", "U0REP1", at(18, 10)),
            ),
            "slow": story(s, "emea", ("mql", "system", at(16, 10)), ("sal", "U0REP2", at(17, 10))),
            "rival": story(
                s,
                "emea",
                ("mql", "system", at(18, 8)),
                ("unqualified", "U0REP1", at(18, 9), "Competitor: uses a rival"),
            ),
            "waiting": story(s, "emea", ("mql", "system", at(19, 12))),
            "product": story(s, "na", ("pql", "system", at(20, 10)), ("sal", "U0REP3", at(20, 11))),
            "unrouted": story(s, None, ("mql", "system", at(22, 20))),
            "before": story(s, "emea", ("mql", "system", at(9, 10)), ("sal", "U0REP1", at(9, 11))),
        }
    return ids


def test_whole_funnel(db, config, week):
    with db.transaction() as s:
        report = funnel(s, config, since=SINCE, until=UNTIL)
    assert report.entered == {"mql": 5, "pql": 1, "sal": 3, "sql": 1, "unqualified": 1}
    assert report.qualified == 6
    assert report.rate("sal", "qualified") == pytest.approx(0.5)
    assert report.rate("sql", "sal") == pytest.approx(1 / 3)
    assert report.rate("sqo", "sql") == 0
    assert sorted(report.accept_seconds) == [1800, 3600, 86400]
    assert report.median_accept_seconds == 3600
    # "slow" took a day (due Mon 15:00 Berlin); "waiting" is past Thu 16:00 Berlin + 4h.
    assert sorted(report.breaches) == sorted([week["slow"], week["waiting"]])
    assert report.top_rejections() == [("Competitor", 1)]
    assert report.unrouted == 1


def test_one_team(db, config, week):
    with db.transaction() as s:
        report = funnel(s, config, since=SINCE, until=UNTIL, team="na")
    assert report.entered == {"pql": 1, "sal": 1}
    assert report.breaches == [] and report.accept_seconds == [3600]


def test_empty_window(db, config, week):
    with db.transaction() as s:
        report = funnel(s, config, since=at(1, 0), until=at(2, 0))
    assert report.entered == {} and report.rate("sal", "qualified") is None
    assert report.median_accept_seconds is None


def test_reason_label():
    assert reason_label("Not ready yet: call in Q3") == "Not ready yet"
    assert reason_label("typed by hand") == "typed by hand"
    assert reason_label(None) == "no reason"
