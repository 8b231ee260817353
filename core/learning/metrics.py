"""How good a ranking and its probabilities are, on rows whose outcome is known."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

EPSILON = 1e-6


def auc(labels: Sequence[int], scores: Sequence[float]) -> float:
    """ROC AUC: the chance that a random positive scores above a random negative (ties 1/2),
    from the ranks (Mann-Whitney), ties given their average rank."""
    positives = sum(1 for label in labels if label)
    negatives = len(labels) - positives
    if not positives or not negatives:
        return math.nan
    order = sorted(range(len(scores)), key=lambda i: scores[i])
    rank_sum = 0.0
    start = 0
    while start < len(order):
        end = start
        while end + 1 < len(order) and scores[order[end + 1]] == scores[order[start]]:
            end += 1
        average = (start + end) / 2 + 1
        rank_sum += average * sum(1 for i in order[start : end + 1] if labels[i])
        start = end + 1
    return (rank_sum - positives * (positives + 1) / 2) / (positives * negatives)


def brier(labels: Sequence[int], probabilities: Sequence[float]) -> float:
    return math.fsum((p - y) ** 2 for y, p in zip(labels, probabilities, strict=True)) / len(labels)


def log_loss(labels: Sequence[int], probabilities: Sequence[float]) -> float:
    total = 0.0
    for y, p in zip(labels, probabilities, strict=True):
        p = min(max(p, EPSILON), 1 - EPSILON)
        total -= math.log(p) if y else math.log(1 - p)
    return total / len(labels)


def top_share_rate(labels: Sequence[int], scores: Sequence[float], share: float = 0.1) -> float:
    """Positive rate among the top ``share`` of rows by score. Rows tied at the cut count in
    proportion, so a ranking with many ties (a few fit scores) is not flattered by the order."""
    size = max(1, round(len(labels) * share))
    order = sorted(range(len(labels)), key=lambda i: -scores[i])
    cut = scores[order[size - 1]]
    above = [i for i in order if scores[i] > cut]
    tied = [i for i in order if scores[i] == cut]
    take = size - len(above)
    positives = sum(labels[i] for i in above) + take * sum(labels[i] for i in tied) / len(tied)
    return positives / size


def calibration(
    labels: Sequence[int], probabilities: Sequence[float], groups: int = 10
) -> list[dict[str, Any]]:
    """Rows sorted by predicted probability, cut into ``groups`` equal parts (decile 1 the
    highest): how many rows, the mean prediction and the observed positive rate of each."""
    order = sorted(range(len(labels)), key=lambda i: -probabilities[i])
    table = []
    for group in range(groups):
        part = order[len(order) * group // groups : len(order) * (group + 1) // groups]
        if not part:
            continue
        table.append(
            {
                "decile": group + 1,
                "rows": len(part),
                "predicted": math.fsum(probabilities[i] for i in part) / len(part),
                "observed": sum(labels[i] for i in part) / len(part),
            }
        )
    return table


def summary(
    labels: Sequence[int], probabilities: Sequence[float], ranking: Sequence[float] | None = None
) -> dict[str, Any]:
    """Every figure a backtest reports for one scorer."""
    ranking = probabilities if ranking is None else ranking
    base_rate = sum(labels) / len(labels)
    top = top_share_rate(labels, ranking)
    return {
        "auc": auc(labels, ranking),
        "brier": brier(labels, probabilities),
        "log_loss": log_loss(labels, probabilities),
        "top_decile_rate": top,
        "top_decile_lift": top / base_rate if base_rate else math.nan,
        "calibration": calibration(labels, probabilities),
    }
