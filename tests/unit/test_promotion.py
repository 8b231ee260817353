"""The promotion check: a candidate goes live only when, on the same holdout, the paired
bootstrap interval of its AUC difference to every competitor stays above zero."""

from __future__ import annotations

import random

import numpy as np
import pytest

from core.learning import metrics
from core.learning.promotion import Competitor, _grouped, decide, weighted_auc


def holdout(count: int, rate: float, seed: int = 1) -> tuple[list[int], list[float]]:
    """Labels and a hidden signal: positives are likelier where the signal is high."""
    rng = random.Random(seed)
    signal = [rng.random() for _ in range(count)]
    labels = [int(rng.random() < rate * 2 * s) for s in signal]
    return labels, signal


def noisy(signal: list[float], noise: float, seed: int) -> list[float]:
    rng = random.Random(seed)
    return [s + rng.gauss(0, noise) for s in signal]


def test_weighted_auc_with_unit_weights_is_the_plain_auc_ties_included():
    rng = random.Random(5)
    labels = [rng.randint(0, 1) for _ in range(300)]
    scores = [float(rng.randint(0, 6)) for _ in range(300)]  # many ties, like fit scores
    got = weighted_auc(
        np.ones((1, 300)), np.asarray(labels, dtype=float), _grouped(np.asarray(scores))
    )
    assert got[0] == pytest.approx(metrics.auc(labels, scores))
    # A resample that repeats a row counts it twice.
    weights = np.ones((1, 300))
    weights[0, 0] = 2
    doubled_labels = [*labels, labels[0]]
    doubled_scores = [*scores, scores[0]]
    assert weighted_auc(weights, np.asarray(labels, dtype=float), _grouped(np.asarray(scores)))[
        0
    ] == pytest.approx(metrics.auc(doubled_labels, doubled_scores))


def test_too_few_outcomes_keep_it_in_shadow_and_say_how_many():
    labels, signal = holdout(150, 0.3)
    decision = decide(labels, signal, [Competitor("the rules", [0.0] * 150)])
    assert not decision.promote
    assert decision.reason.startswith("kept in shadow: the holdout has 150 outcomes")
    assert "at least 200 with 30 good" in decision.reason
    assert "\n" not in decision.reason
    labels, signal = holdout(400, 0.03)
    assert sum(labels) < 30
    decision = decide(labels, signal, [Competitor("the rules", [0.0] * 400)])
    assert not decision.promote and f"{sum(labels)} good" in decision.reason


def test_clearly_better_is_promoted_over_the_active_version_and_the_rules():
    labels, signal = holdout(1200, 0.3)
    decision = decide(
        labels,
        noisy(signal, 0.05, 2),
        [
            Competitor("version 3", noisy(signal, 0.8, 3)),
            Competitor("the rules", [round(s * 2) for s in noisy(signal, 1.0, 4)]),
        ],
    )
    assert decision.promote, decision.reason
    assert decision.reason.startswith("promoted: AUC ")
    assert "version 3" in decision.reason and "the rules" in decision.reason
    assert all(c.low > 0 for c in decision.comparisons)


def test_no_better_than_the_active_version_stays_in_shadow():
    labels, signal = holdout(1200, 0.3)
    decision = decide(
        labels,
        noisy(signal, 0.3, 2),
        [
            Competitor("version 3", noisy(signal, 0.3, 3)),
            Competitor("the rules", [0.0] * 1200),
        ],
    )
    assert not decision.promote
    assert "not clearly above version 3" in decision.reason
    assert "the rules" not in decision.reason.split(":")[1]  # the rules were beaten
    low, high = decision.comparisons[0].low, decision.comparisons[0].high
    assert low <= 0 <= high


def test_noise_does_not_beat_the_rules():
    labels, signal = holdout(600, 0.3)
    rng = random.Random(9)
    decision = decide(labels, [rng.random() for _ in labels], [Competitor("the rules", signal)])
    assert not decision.promote and "not clearly above the rules" in decision.reason


def test_the_same_seed_gives_the_same_interval():
    labels, signal = holdout(500, 0.3)
    scores = noisy(signal, 0.4, 2)
    rules = [Competitor("the rules", noisy(signal, 0.6, 3))]
    assert decide(labels, scores, rules, seed=7) == decide(labels, scores, rules, seed=7)
