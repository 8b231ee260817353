"""Whether a newly trained version may go live: the candidate, the active version and the rules
scored on the same time-ordered holdout, compared by a paired bootstrap of the AUC difference.

Pure: scores and labels in, a decision and its one-line reason out. The candidate is promoted
only when the holdout holds enough outcomes and, against each competitor, the 95% interval of
the AUC difference over the same resampled rows stays above zero. Otherwise it is kept in
shadow, and the reason says which condition failed.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from core.learning import metrics

#: What a holdout needs before any comparison on it means something.
MIN_ROWS = 200
MIN_POSITIVES = 30
MIN_NEGATIVES = 30
RESAMPLES = 1000
SEED = 0
#: Resamples drawn at once (memory: CHUNK x rows floats per scorer).
CHUNK = 100
LEVEL = 0.95


@dataclass(frozen=True)
class Competitor:
    """One scorer the candidate must beat: a name a person reads ("version 3", "the rules")
    and its scores of the holdout's rows (higher is more likely)."""

    name: str
    scores: Sequence[float]


@dataclass(frozen=True)
class Comparison:
    name: str
    auc: float
    low: float  # bounds of the 95% interval of candidate AUC minus this one's
    high: float

    @property
    def beaten(self) -> bool:
        return self.low > 0

    def as_dict(self) -> dict[str, Any]:
        return {"name": self.name, "auc": self.auc, "low": self.low, "high": self.high}


@dataclass(frozen=True)
class Decision:
    promote: bool
    reason: str
    rows: int
    positives: int
    auc: float | None = None
    comparisons: tuple[Comparison, ...] = ()

    def as_dict(self) -> dict[str, Any]:
        return {
            "promote": self.promote,
            "reason": self.reason,
            "rows": self.rows,
            "positives": self.positives,
            "auc": self.auc,
            "comparisons": [c.as_dict() for c in self.comparisons],
        }


def _grouped(scores: npt.NDArray[np.float64]) -> tuple[npt.NDArray[np.intp], npt.NDArray[np.intp]]:
    """The order that sorts ``scores`` and the start of each run of tied scores in it."""
    order = np.argsort(scores, kind="stable")
    ranked = scores[order]
    starts = np.flatnonzero(np.r_[True, ranked[1:] != ranked[:-1]])
    return order, starts


def weighted_auc(
    weights: npt.NDArray[np.float64],
    labels: npt.NDArray[np.float64],
    grouping: tuple[npt.NDArray[np.intp], npt.NDArray[np.intp]],
) -> npt.NDArray[np.float64]:
    """The AUC of one scorer under each row of ``weights`` (resample counts per row), ties
    counted one half, as :func:`core.learning.metrics.auc` counts them."""
    order, starts = grouping
    w = weights[:, order]
    y = labels[order]
    pos = np.add.reduceat(w * y, starts, axis=1)
    neg = np.add.reduceat(w * (1.0 - y), starts, axis=1)
    below = np.cumsum(neg, axis=1) - neg
    wins = (pos * (below + 0.5 * neg)).sum(axis=1)
    total = pos.sum(axis=1) * neg.sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        result: npt.NDArray[np.float64] = wins / total
    return result


def _interval(
    labels: Sequence[int],
    candidate: Sequence[float],
    others: Sequence[Sequence[float]],
    *,
    resamples: int,
    seed: int,
) -> list[tuple[float, float]]:
    """Per competitor, the ``LEVEL`` interval of candidate AUC minus its AUC over the same
    bootstrap resamples of the rows (percentile method)."""
    y = np.asarray(labels, dtype=np.float64)
    count = len(y)
    rng = np.random.default_rng(seed)
    mine = _grouped(np.asarray(candidate, dtype=np.float64))
    theirs = [_grouped(np.asarray(scores, dtype=np.float64)) for scores in others]
    differences: list[list[npt.NDArray[np.float64]]] = [[] for _ in others]
    done = 0
    while done < resamples:
        size = min(CHUNK, resamples - done)
        weights = rng.multinomial(count, np.full(count, 1.0 / count), size=size).astype(np.float64)
        base = weighted_auc(weights, y, mine)
        for index, grouping in enumerate(theirs):
            differences[index].append(base - weighted_auc(weights, y, grouping))
        done += size
    tail = (1 - LEVEL) / 2
    out = []
    for parts in differences:
        values = np.concatenate(parts)
        values = values[np.isfinite(values)]
        if not len(values):
            out.append((math.nan, math.nan))
            continue
        low, high = np.quantile(values, [tail, 1 - tail])
        out.append((float(low), float(high)))
    return out


def _signed(value: float) -> str:
    return f"{value:+.3f}"


def decide(
    labels: Sequence[int],
    candidate: Sequence[float],
    competitors: Sequence[Competitor],
    *,
    resamples: int = RESAMPLES,
    seed: int = SEED,
    min_rows: int = MIN_ROWS,
    min_positives: int = MIN_POSITIVES,
) -> Decision:
    """Promote the candidate, or keep it in shadow, and say why in one line.

    ``labels`` are the holdout's outcomes; ``candidate`` and each competitor's ``scores`` rank
    the same rows in the same order."""
    rows = len(labels)
    positives = sum(1 for label in labels if label)
    negatives = rows - positives
    for competitor in competitors:
        if len(competitor.scores) != rows:
            raise ValueError(f"{competitor.name} scored {len(competitor.scores)} of {rows} rows")
    if len(candidate) != rows:
        raise ValueError(f"the candidate scored {len(candidate)} of {rows} rows")
    if rows < min_rows or positives < min_positives or negatives < MIN_NEGATIVES:
        needed = f"at least {min_rows} with {min_positives} good and {MIN_NEGATIVES} bad"
        return Decision(
            False,
            f"kept in shadow: the holdout has {rows} outcomes ({positives} good, "
            f"{negatives} bad), too few to prove anything ({needed} are needed)",
            rows,
            positives,
        )
    own = metrics.auc(labels, candidate)
    intervals = _interval(
        labels, candidate, [c.scores for c in competitors], resamples=resamples, seed=seed
    )
    comparisons = tuple(
        Comparison(c.name, metrics.auc(labels, c.scores), low, high)
        for c, (low, high) in zip(competitors, intervals, strict=True)
    )
    shown = ", ".join(
        f"{c.name} {c.auc:.3f} (difference {_signed(c.low)} to {_signed(c.high)})"
        for c in comparisons
    )
    level = f"{LEVEL:.0%}"
    unbeaten = [c.name for c in comparisons if not c.beaten]
    if unbeaten:
        return Decision(
            False,
            f"kept in shadow: AUC {own:.3f} on the latest {rows} outcomes is not clearly above "
            f"{' and '.join(unbeaten)} (the {level} interval of the difference reaches 0): "
            f"{shown}",
            rows,
            positives,
            own,
            comparisons,
        )
    return Decision(
        True,
        f"promoted: AUC {own:.3f} on the latest {rows} outcomes beats {shown}, "
        f"{level} intervals above 0",
        rows,
        positives,
        own,
        comparisons,
    )
