"""Choosing a rep: smooth weighted round robin, away and capped reps, account owners, and
Slack statuses that mean away. Pure functions, table-driven and property-tested."""

from collections import Counter
from datetime import UTC, datetime

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from core.config import DEFAULT_AWAY_STATUSES
from core.routing import Candidate, choose_rep, status_means_away

NOW = datetime(2026, 11, 2, 9, 0, tzinfo=UTC)


def run(candidates, n, rotation=None):
    """``n`` choices in a row, feeding each returned rotation into the next; the picks."""
    state = dict(rotation or {})
    picks = []
    for _ in range(n):
        choice = choose_rep(candidates, state)
        state = choice.rotation
        picks.append(choice.rep)
    return picks


def test_weights_two_one_one_give_a_b_c_a():
    reps = [Candidate("A", 2), Candidate("B", 1), Candidate("C", 1)]
    assert run(reps, 8) == ["A", "B", "C", "A", "A", "B", "C", "A"]


def test_away_and_capped_reps_are_skipped_and_named():
    reps = [
        Candidate("A", 1, away="away until 2026-11-06"),
        Candidate("B", 1, max_open=2, open_leads=2),
        Candidate("C", 1, max_open=3, open_leads=2),
    ]
    choice = choose_rep(reps, {})
    assert choice.rep == "C" and choice.reason == "round robin"
    assert dict(choice.skipped) == {
        "A": "away until 2026-11-06",
        "B": "at their cap (2 open of 2)",
    }


def test_nobody_available_chooses_nobody_and_keeps_the_rotation():
    reps = [Candidate("A", away="away"), Candidate("B", max_open=1, open_leads=1)]
    choice = choose_rep(reps, {"A": 0.5, "B": -0.5})
    assert choice.rep is None and choice.rotation == {"A": 0.5, "B": -0.5}
    assert [rep for rep, _ in choice.skipped] == ["A", "B"]


def test_account_owner_wins_without_moving_the_rotation():
    reps = [Candidate("A"), Candidate("B")]
    choice = choose_rep(reps, {"A": 1.0, "B": -1.0}, account_owner="B")
    assert (choice.rep, choice.reason) == ("B", "account owner")
    assert choice.rotation == {"A": 1.0, "B": -1.0}


def test_unavailable_account_owner_falls_back_to_the_rotation():
    reps = [Candidate("A"), Candidate("B", away="away")]
    assert choose_rep(reps, {}, account_owner="B").rep == "A"
    assert choose_rep(reps, {}, account_owner="U0ELSE").reason == "round robin"


def test_a_rep_removed_from_the_config_leaves_the_rotation():
    choice = choose_rep([Candidate("A")], {"A": 0.0, "GONE": 3.0})
    assert set(choice.rotation) == {"A"}


weights = st.lists(st.integers(min_value=1, max_value=5), min_size=1, max_size=6)


@settings(max_examples=200, deadline=None)
@given(weights=weights, n=st.integers(min_value=1, max_value=120))
def test_every_prefix_stays_within_one_of_the_weighted_share(weights, n):
    reps = [Candidate(f"R{i}", w) for i, w in enumerate(weights)]
    counts = Counter(run(reps, n))
    total = sum(weights)
    for i, w in enumerate(weights):
        assert abs(counts[f"R{i}"] - n * w / total) < 1 + 1e-9


@settings(max_examples=200, deadline=None)
@given(
    weights=weights,
    window=st.integers(min_value=1, max_value=12),
    n=st.integers(min_value=12, max_value=80),
)
def test_no_window_strays_two_or_more_from_its_share(weights, window, n):
    # Each prefix is within one of its share, so any stretch between two prefixes is within two.
    reps = [Candidate(f"R{i}", w) for i, w in enumerate(weights)]
    picks = run(reps, n)
    total = sum(weights)
    for start in range(n - window + 1):
        counts = Counter(picks[start : start + window])
        for i, w in enumerate(weights):
            assert abs(counts[f"R{i}"] - window * w / total) < 2


def test_two_one_one_any_eight_in_a_row_within_share_plus_one():
    reps = [Candidate("A", 2), Candidate("B", 1), Candidate("C", 1)]
    picks = run(reps, 400)
    for start in range(len(picks) - 7):
        counts = Counter(picks[start : start + 8])
        assert counts["A"] <= 4 + 1 and counts["B"] <= 2 + 1 and counts["C"] <= 2 + 1
    assert Counter(picks) == {"A": 200, "B": 100, "C": 100}


@settings(max_examples=100, deadline=None)
@given(
    weights=weights,
    away=st.lists(st.booleans(), min_size=6, max_size=6),
    n=st.integers(min_value=1, max_value=60),
)
def test_only_available_reps_are_chosen_and_sum_of_state_is_kept(weights, away, n):
    reps = [Candidate(f"R{i}", w, away="away" if away[i] else None) for i, w in enumerate(weights)]
    picks = run(reps, n)
    available = {c.id for c in reps if c.away is None}
    assert set(picks) <= (available or {None})
    if available:
        assert None not in picks


@pytest.mark.parametrize(
    ("text", "emoji", "expiration", "away"),
    [
        ("Vacation", "", 0, True),
        ("On holiday until Monday", "", 0, True),
        ("OOO", "", 0, True),
        ("", ":palm_tree:", 0, True),
        ("", ":face_with_thermometer:", 0, True),
        ("sick", "", int(NOW.timestamp()) + 3600, True),
        ("sick", "", int(NOW.timestamp()) - 1, False),  # expired
        ("In a meeting", ":calendar:", 0, False),
        ("Looking at the zoo", "", 0, False),  # "ooo" is not a word there
        ("", "", 0, False),
    ],
)
def test_slack_status_means_away(text, emoji, expiration, away):
    why = status_means_away(text, emoji, expiration, DEFAULT_AWAY_STATUSES, NOW)
    assert (why is not None) == away
    if away:
        assert why.startswith("away (Slack status")
