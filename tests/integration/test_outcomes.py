"""What sales made of marketing's leads, per source, campaign and rule: against counts taken
straight from a seeded history, on both engines; and the pure parts' edge cases."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from core.services.outcomes import (
    MIN_BASE,
    WEEK_MIN_VERDICTS,
    Handoff,
    Share,
    outcomes,
    summarize,
    week_lines,
)
from tests.factories import story
from tests.histories import SINCE, UNTIL, expected_groups, expected_rules, seed_history


@pytest.fixture
def history(db):
    with db.transaction() as s:
        return seed_history(s)


def shares(report):
    return {
        "sources": {
            g.name: {
                "handoffs": g.handoffs,
                "accepted": (g.accepted.count, g.accepted.total),
                "sql": (g.sql.count, g.sql.total),
                "rejections": dict(g.rejections),
            }
            for g in report.sources
        },
        "campaigns": {
            g.name: {
                "handoffs": g.handoffs,
                "accepted": (g.accepted.count, g.accepted.total),
                "sql": (g.sql.count, g.sql.total),
                "rejections": dict(g.rejections),
            }
            for g in report.campaigns
        },
        "rules": {r.rule: (r.bad_fit.count, r.bad_fit.total) for r in report.rules},
    }


def wanted(handoffs):
    def plain(groups):
        return {
            name: {**values, "rejections": dict(values["rejections"])}
            for name, values in groups.items()
        }

    return {
        "sources": plain(expected_groups(handoffs, "source")),
        "campaigns": plain(expected_groups(handoffs, "campaign")),
        "rules": expected_rules(handoffs),
    }


@pytest.mark.parametrize("team", [None, "emea"])
def test_report_matches_the_seeded_history(db, config, history, team):
    planned = history.only(team)
    with db.transaction() as s:
        report = outcomes(s, config, since=SINCE, until=UNTIL, team=team)
    assert report.handoffs == len(planned)
    decided = [h for h in planned if h.verdict]
    assert report.decided == len(decided)
    bad = sum(h.reason == "Bad fit" for h in decided)
    assert (report.bad_fit.count, report.bad_fit.total) == (bad, len(decided))
    got = shares(report)
    want = wanted(planned)
    assert got["sources"] == want["sources"]
    assert got["campaigns"] == want["campaigns"]
    # Every scoring event type is listed, even one that scored no lead; fit rules as they hit.
    assert {rule: n for rule, n in got["rules"].items() if n[1]} == want["rules"]
    assert {"page_view event", "invited_teammate event"} <= set(got["rules"])
    for rule in report.rules:
        if rule.lift is not None:
            assert rule.lift == pytest.approx(
                (rule.bad_fit.count / rule.bad_fit.total) / (bad / len(decided))
            )


def test_the_planted_misfire_comes_first(db, config, history):
    with db.transaction() as s:
        report = outcomes(s, config, since=SINCE, until=UNTIL)
    assert report.rules[0].rule == "title contains 'student'"
    assert report.rules[0].lift is not None and report.rules[0].lift > 2
    lifts = [r.lift for r in report.rules if r.lift is not None]
    assert lifts == sorted(lifts, reverse=True)


def test_a_window_without_handoffs(db, config, history):
    with db.transaction() as s:
        report = outcomes(
            s, config, since=UNTIL + timedelta(days=30), until=UNTIL + timedelta(days=31)
        )
    assert (report.handoffs, report.decided, report.sources) == (0, 0, [])
    assert all(r.bad_fit.total == 0 and r.lift is None for r in report.rules)


def at(day, hour):
    return datetime(2026, 11, day, hour, tzinfo=UTC)


def test_verdict_after_the_window_and_leadbot_moves_are_not_verdicts(db, config):
    with db.transaction() as s:
        story(s, "emea", ("mql", "system", at(10, 9)), ("sal", "U0REP1", at(12, 9)))
        story(s, "emea", ("mql", "system", at(10, 9)), ("nurture", "system", at(10, 12), "stale"))
        report = outcomes(s, config, since=at(9, 0), until=at(11, 0))
    assert (report.handoffs, report.decided) == (2, 0)
    (group,) = report.sources
    assert (group.accepted.count, group.accepted.total, group.rejections) == (0, 0, ())


# --- pure parts ---------------------------------------------------------------------------------


def handoff(verdict=None, reason=None, source="ads", rules=(), sql=False):
    return Handoff(
        lead_id=1,
        at=at(10, 9),
        source=source,
        campaign=None,
        verdict=verdict,
        reason=reason,
        reached_sql=sql,
        scored_by=frozenset(rules),
    )


def report_of(handoffs):
    return summarize(handoffs, since=at(1, 0), until=at(30, 0))


def test_small_counts_give_no_rate_and_no_lift():
    assert Share(1, 1).rate is None and Share(0, MIN_BASE - 1).rate is None
    assert Share(2, MIN_BASE).rate == pytest.approx(2 / MIN_BASE)
    many = [handoff("accepted") for _ in range(8)] + [handoff("rejected", "Bad fit")] * 2
    one = [handoff("rejected", "Bad fit", rules=["title contains 'vp'"])]
    report = report_of(many + one)
    (rule,) = report.rules
    assert (rule.bad_fit.count, rule.bad_fit.total, rule.bad_fit.rate, rule.lift) == (
        1,
        1,
        None,
        None,
    )


def test_no_lift_when_nothing_was_rejected_as_a_bad_fit():
    report = report_of([handoff("accepted", rules=["x"]) for _ in range(10)])
    assert report.bad_fit == Share(0, 10) and report.rules[0].lift is None


def week(n_good_source, n_bad_source, misfires):
    """``misfires`` Bad fit rejections of leads a rule scored, the rest accepted."""
    good = [handoff("accepted", source="webinar") for _ in range(n_good_source)]
    bad = [
        handoff("rejected", "Bad fit", source="list", rules=["title contains 'student'"])
        for _ in range(misfires)
    ] + [
        handoff("accepted", source="list", rules=["title contains 'student'"])
        for _ in range(n_bad_source - misfires)
    ]
    return report_of(good + bad)


def test_week_lines_name_the_worst_rule_and_the_best_and_worst_source():
    lines = week_lines(week(7, 6, 4))
    assert lines.worst_rule is not None and lines.worst_rule.rule == "title contains 'student'"
    assert lines.best_source is not None and lines.best_source.name == "webinar"
    assert lines.worst_source is not None and lines.worst_source.name == "list"


def test_week_lines_say_nothing_with_too_few_verdicts():
    report = week(3, 6, 4)
    assert report.decided == 9 < WEEK_MIN_VERDICTS
    assert week_lines(report) == week_lines(report).__class__(9, None, None, None)


def test_week_lines_need_enough_of_each_rule_and_source():
    # Only one source with enough verdicts: no best and worst; one misfire: no worst rule.
    lines = week_lines(week(12, 4, 1))
    assert lines.best_source is None and lines.worst_source is None
    assert lines.worst_rule is None
