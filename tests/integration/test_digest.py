"""The daily digest's numbers against a seeded week, on both engines, and once per day."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, date, datetime, timedelta
from statistics import median

import pytest
from sqlalchemy import func, select

from core.models import Lead, Outbox, StageTransition
from core.services.digest import digest_day, digest_numbers, queue_digest
from tests.factories import story


def at(day, hour, minute=0):
    return datetime(2026, 11, day, hour, minute, tzinfo=UTC)


@pytest.fixture
def week(db):
    """Mon 16 - Sun 22 Nov 2026, plus one lead three weeks earlier for the chart."""
    with db.transaction() as s:
        story(
            s,
            "emea",
            ("mql", "system", at(16, 9)),
            ("sal", "U0REP1", at(16, 9, 30)),
            ("sql", "U0REP1", at(18, 10)),
            ("sqo", "U0REP1", at(20, 15)),
        )
        story(s, "emea", ("mql", "system", at(16, 10)), ("sal", "U0REP2", at(17, 10)))
        story(
            s,
            "emea",
            ("mql", "system", at(17, 8)),
            ("unqualified", "U0REP1", at(17, 9), "Competitor: uses a rival"),
        )
        story(
            s,
            "na",
            ("pql", "system", at(17, 12)),
            ("nurture", "U0REP3", at(17, 13), "Not ready yet"),
        )
        story(
            s,
            "na",
            ("mql", "system", at(17, 14)),
            ("unqualified", "U0REP3", at(17, 15), "Competitor"),
        )
        story(s, "emea", ("mql", "system", at(19, 12)))
        story(s, "na", ("pql", "system", at(20, 10)), ("sal", "U0REP3", at(20, 11)))
        story(s, None, ("mql", "system", at(22, 20)))
        story(s, "na", ("mql", "system", at(1, 10)), ("sal", "U0REP3", at(1, 10, 5)))


def expected(db, day: date):
    """The same numbers, straight from the stage transitions."""
    since = datetime.combine(day, datetime.min.time(), tzinfo=UTC)
    until = since + timedelta(days=1)
    with db.transaction() as s:
        rows = s.execute(
            select(StageTransition).where(StageTransition.at >= since, StageTransition.at < until)
        ).scalars()
        moves = list(rows)
        accepted = [m for m in moves if m.to_stage == "sal"]
        waits = []
        for move in accepted:
            entry = s.scalars(
                select(StageTransition)
                .where(
                    StageTransition.lead_id == move.lead_id,
                    StageTransition.to_stage.in_(("mql", "pql")),
                    StageTransition.at <= move.at,
                )
                .order_by(StageTransition.at.desc())
            ).first()
            waits.append((move.at - entry.at).total_seconds())
        unrouted = s.scalar(
            select(func.count())
            .select_from(Lead)
            .where(Lead.stage.in_(("mql", "pql")), Lead.team.is_(None))
        )
    rejected = Counter(
        (m.reason or "").split(":")[0]
        for m in moves
        if m.from_stage in ("mql", "pql") and m.to_stage in ("nurture", "unqualified")
    )
    return {
        "mql": sum(m.to_stage == "mql" for m in moves),
        "pql": sum(m.to_stage == "pql" for m in moves),
        "accepted": len(accepted),
        "rejected": sum(rejected.values()),
        "top": sorted(rejected.items(), key=lambda kv: (-kv[1], kv[0])),
        "median": median(waits) if waits else None,
        "unrouted": unrouted,
    }


@pytest.mark.parametrize("day", [16, 17, 18, 19, 20, 21, 22])
def test_digest_numbers_match_the_database_for_each_day_of_the_week(db, config, week, day):
    with db.transaction() as s:
        numbers = digest_numbers(s, config, date(2026, 11, day))
    want = expected(db, date(2026, 11, day))
    got = {
        "mql": numbers.mql,
        "pql": numbers.pql,
        "accepted": numbers.accepted,
        "rejected": numbers.rejected,
        "top": sorted(map(tuple, numbers.top_rejections), key=lambda kv: (-kv[1], kv[0])),
        "median": numbers.median_accept_seconds,
        "unrouted": numbers.unrouted,
    }
    assert got == want


def test_the_seeded_week_in_detail(db, config, week):
    with db.transaction() as s:
        monday = digest_numbers(s, config, date(2026, 11, 16))
        tuesday = digest_numbers(s, config, date(2026, 11, 17))
        thursday = digest_numbers(s, config, date(2026, 11, 19))
    assert (monday.mql, monday.accepted, monday.median_accept_seconds) == (2, 1, 1800)
    assert monday.breaches == 1  # accepted a day later
    assert (tuesday.mql, tuesday.pql, tuesday.rejected) == (2, 1, 3)
    assert tuesday.top_rejections[0] == ("Competitor", 2)
    assert tuesday.median_accept_seconds == 86400
    assert thursday.breaches == 1 and thursday.unrouted == 1  # still waiting
    series = thursday.series
    assert (series["first_day"], series["days"]) == ("2026-10-21", 30)
    assert len(series["mql_pql"]) == 30 and series["mql_pql"][-1] == 1  # Thu 19
    assert sum(series["mql_pql"]) == 7 and sum(series["sal"]) == 3  # 1 Nov counts too
    assert sum(series["sql"]) == 1 and sum(series["sqo"]) == 0  # SQO on Fri 20: not yet


def test_queued_once_per_day_however_often_it_runs(db, config, week):
    now = datetime(2026, 11, 23, 8, 0, tzinfo=UTC)
    assert digest_day(now) == date(2026, 11, 22)
    with db.transaction() as s:
        assert queue_digest(s, config, now) is True
    with db.transaction() as s:
        assert queue_digest(s, config, now + timedelta(hours=5)) is False
    with db.transaction() as s:
        assert queue_digest(s, config, now + timedelta(days=1)) is True
        rows = s.scalars(select(Outbox).where(Outbox.kind == "digest").order_by(Outbox.id)).all()
        assert [(r.kind, r.dedupe_key) for r in rows] == [
            ("digest", "digest:2026-11-22"),
            ("digest", "digest:2026-11-23"),
        ]
        assert rows[0].payload["mql"] == 1 and rows[0].payload["unrouted"] == 1
