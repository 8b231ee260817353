import math
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from core.config import Scoring
from core.lifecycle import Stage
from core.scoring import ScoredEvent, decay, decide, grade_of, score_lead

NOW = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)


def ev(kind: str, days_ago: float = 0) -> ScoredEvent:
    return ScoredEvent(kind, NOW - timedelta(days=days_ago))


@pytest.mark.parametrize(
    ("fit", "grade"),
    [(100, "A"), (75, "A"), (74.9, "B"), (50, "B"), (25, "C"), (24, "D"), (0, "D")],
)
def test_grades(fit, grade):
    assert grade_of(fit) == grade


def test_fit_rules_sum_and_explain(config):
    lead = {"title": "Head of Sales", "company_size": 200, "country": "fr"}
    score = score_lead(config.scoring, lead, [], NOW)
    assert score.fit == 80 and score.grade == "A"
    rules = {r.rule: r.points for r in score.reasons_for("fit")}
    assert rules == {
        "title contains 'head of'": 30,
        "company_size at least 200": 30,
        "country is 'FR'": 20,
    }


def test_fit_is_clipped_and_the_clip_is_a_reason(config):
    score = score_lead(config.scoring, {"title": "Student intern"}, [], NOW)
    assert score.fit == 0
    assert math.fsum(r.points for r in score.reasons_for("fit")) == 0
    assert any(r.rule == "clipped to 0" for r in score.reasons)


def test_fit_rule_on_a_property():
    scoring = Scoring.model_validate(
        {"fit": [{"field": "properties.plan", "equals": "Enterprise", "points": 40}]}
    )
    assert score_lead(scoring, {"properties": {"plan": "enterprise"}}, [], NOW).fit == 40
    assert score_lead(scoring, {"properties": {}}, [], NOW).fit == 0


def test_engagement_decays_by_half_life(config):
    fresh = score_lead(config.scoring, {}, [ev("webinar_attended")], NOW).engagement
    old = score_lead(config.scoring, {}, [ev("webinar_attended", days_ago=30)], NOW).engagement
    assert fresh == 15 and old == pytest.approx(7.5)


def test_unknown_and_future_events_score_nothing(config):
    score = score_lead(config.scoring, {}, [ev("mystery"), ev("demo_request", days_ago=-1)], NOW)
    assert score.engagement == 0 and score.reasons == ()


def test_engagement_never_below_zero(config):
    score = score_lead(config.scoring, {}, [ev("unsubscribe"), ev("page_view")], NOW)
    assert score.engagement == 0
    assert math.fsum(r.points for r in score.reasons_for("engagement")) == pytest.approx(0)


def test_reasons_sorted_by_weight(config):
    score = score_lead(config.scoring, {"title": "VP"}, [ev("page_view"), ev("demo_request")], NOW)
    weights = [abs(r.points) for r in score.reasons]
    assert weights == sorted(weights, reverse=True)
    assert score.reasons[0].as_dict() == {"rule": "engagement: demo_request x1", "points": 50}


def test_decide_mql_by_engagement(config):
    lead = {"title": "Director", "company_size": 10}  # fit 30 -> C, allowed
    events = [
        ev("content_download"),
        ev("webinar_attended"),
        ev("pricing_page_view"),
        ev("webinar_attended"),
    ]
    score = score_lead(config.scoring, lead, events, NOW)
    decision = decide(config.scoring, score, events, NOW)
    assert decision.stage is Stage.MQL
    assert decision.rule == "engagement 50.0 >= mql_threshold 50 with grade C"


def test_decide_needs_the_grade(config):
    events = [ev("webinar_attended")] * 4
    score = score_lead(config.scoring, {"title": "Engineer"}, events, NOW)  # grade D
    assert score.engagement >= 50
    assert decide(config.scoring, score, events, NOW).stage is None


def test_hand_raiser_qualifies_at_once_if_recent(config):
    lead = {"title": "VP Sales"}
    recent = [ev("demo_request", days_ago=2)]
    assert decide(
        config.scoring, score_lead(config.scoring, lead, recent, NOW), recent, NOW
    ).rule == ("hand-raiser demo_request with grade C")
    stale = [ev("demo_request", days_ago=31)]
    assert (
        decide(config.scoring, score_lead(config.scoring, lead, stale, NOW), stale, NOW).stage
        is None
    )


def test_pql_by_product_usage_regardless_of_grade(config):
    events = [
        ev("trial_started"),
        ev("invited_teammate"),
        ev("feature_used"),
        ev("feature_used"),
        ev("feature_used"),
    ]
    score = score_lead(config.scoring, {}, events, NOW)
    decision = decide(config.scoring, score, events, NOW)
    assert score.product == 40 and decision.stage is Stage.PQL


# --- properties --------------------------------------------------------------------------------

event_types = st.sampled_from(
    [
        "page_view",
        "pricing_page_view",
        "email_click",
        "content_download",
        "webinar_attended",
        "demo_request",
        "unsubscribe",
        "trial_started",
        "feature_used",
        "invited_teammate",
        "unknown_thing",
    ]
)
ages = st.floats(min_value=0, max_value=3650, allow_nan=False)
events_st = st.lists(st.builds(ev, event_types, ages), max_size=60)
scorings = st.builds(
    lambda half_life, pts: Scoring.model_validate(
        {
            "half_life_days": half_life,
            "events": {
                "page_view": pts[0],
                "pricing_page_view": pts[1],
                "email_click": pts[2],
                "content_download": pts[3],
                "webinar_attended": pts[4],
                "demo_request": pts[5],
                "unsubscribe": pts[6],
            },
            "product_events": {
                "trial_started": pts[7],
                "feature_used": pts[8],
                "invited_teammate": pts[9],
            },
            "fit": [
                {"field": "title", "contains": ["vp"], "points": pts[10] % 101},
                {"field": "company_size", "at_least": 100, "points": -(pts[11] % 101)},
            ],
        }
    ),
    st.floats(min_value=0.01, max_value=3650, allow_nan=False),
    st.lists(st.integers(min_value=-1000, max_value=1000), min_size=12, max_size=12),
)
leads_st = st.fixed_dictionaries(
    {
        "title": st.one_of(st.none(), st.text(max_size=30), st.just("VP Sales")),
        "company_size": st.one_of(st.none(), st.integers(min_value=1, max_value=10**9)),
    }
)


@settings(max_examples=200, deadline=None)
@given(scorings, leads_st, events_st, st.floats(min_value=0, max_value=1000, allow_nan=False))
def test_engagement_never_increases_as_time_passes(scoring, lead, events, later_days):
    before = score_lead(scoring, lead, events, NOW)
    after = score_lead(scoring, lead, events, NOW + timedelta(days=later_days))
    assert after.engagement <= before.engagement + 1e-9 * max(1.0, before.engagement)
    assert after.product <= before.product + 1e-9 * max(1.0, before.product)


@settings(max_examples=200, deadline=None)
@given(scorings, leads_st, events_st, st.randoms())
def test_event_order_does_not_matter(scoring, lead, events, rnd):
    shuffled = list(events)
    rnd.shuffle(shuffled)
    a, b = score_lead(scoring, lead, events, NOW), score_lead(scoring, lead, shuffled, NOW)
    assert (a.fit, a.grade, a.engagement, a.product) == (b.fit, b.grade, b.engagement, b.product)
    assert decide(scoring, a, events, NOW) == decide(scoring, b, shuffled, NOW)


@settings(max_examples=200, deadline=None)
@given(scorings, leads_st, events_st)
def test_reasons_add_up_and_everything_is_finite(scoring, lead, events):
    score = score_lead(scoring, lead, events, NOW)
    for axis, total in (
        ("fit", score.fit),
        ("engagement", score.engagement),
        ("product", score.product),
    ):
        assert math.isfinite(total) and total >= 0
        parts = math.fsum(r.points for r in score.reasons_for(axis))
        assert parts == pytest.approx(total, rel=1e-9, abs=1e-6)
    assert 0 <= score.fit <= 100
    assert all(math.isfinite(r.points) for r in score.reasons)


@given(
    st.floats(min_value=-1000, max_value=1000),
    st.floats(min_value=0, max_value=1e6),
    st.floats(min_value=0.01, max_value=3650),
)
def test_decay_shrinks_towards_zero(points, days, half_life):
    value = decay(points, timedelta(days=days), half_life)
    assert math.isfinite(value) and abs(value) <= abs(points)
