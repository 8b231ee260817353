"""An additive model of log-odds, trained with scikit-learn, kept as plain JSON data.

Every feature is cut into cells (a numeric one into ranges between quantiles, a categorical one
into its frequent values, "other" and "missing"), and a logistic regression learns one weight
per cell. Each feature's weights are then centred on its average over the training rows and the
averages moved into the base, so a lead's **points** say how much each feature moves it away
from an average lead, in log-odds, and

    log-odds = base + sum of points,   probability = 1 / (1 + exp(-log-odds))

hold exactly. Scoring a lead is one dict lookup or bisection per feature; nothing is unpickled.
"""

from __future__ import annotations

import math
from bisect import bisect_right
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from core.learning.features import absent_value
from core.learning.values import category, number

#: Share of the non-missing values that must read as numbers for a feature to be numeric.
NUMERIC_SHARE = 0.9
#: Ranges per numeric feature (fewer when it has fewer distinct values).
BINS = 10
#: Most frequent values kept per categorical feature; the rest are "other".
MAX_LEVELS = 40
#: Regularisation strengths tried by cross-validation (smaller is stronger).
C_GRID = (0.01, 0.03, 0.1, 0.3, 1.0)
FORMAT = 1

Kind = Literal["numeric", "categorical"]


class TrainingError(Exception):
    """The data cannot train a model (one class, no usable feature); one line for a person."""


@dataclass(frozen=True)
class Contribution:
    feature: str
    value: Any
    points: float

    def as_dict(self) -> dict[str, Any]:
        return {"feature": self.feature, "value": self.value, "points": self.points}


@dataclass(frozen=True)
class Explanation:
    probability: float
    log_odds: float
    base: float
    contributions: tuple[Contribution, ...]

    def top(self, count: int) -> list[Contribution]:
        return list(self.contributions[:count])

    def as_dict(self) -> dict[str, Any]:
        return {
            "probability": self.probability,
            "log_odds": self.log_odds,
            "base": self.base,
            "contributions": [c.as_dict() for c in self.contributions],
        }


@dataclass(frozen=True)
class Feature:
    """One feature's cells and their points. Numeric: ``edges`` split the line into
    ``len(edges) + 1`` ranges with ``points`` each. Categorical: ``levels`` value -> points."""

    name: str
    kind: Kind
    missing: float
    edges: tuple[float, ...] = ()
    points: tuple[float, ...] = ()
    levels: Mapping[str, float] = field(default_factory=dict)
    other: float = 0.0

    def cell(self, raw: Any) -> tuple[str, Any]:
        """The cell ``raw`` falls in (for the one-hot column) and the value to show."""
        if self.kind == "numeric":
            value = number(raw)
            if value is None:
                return "missing", None
            return f"bin{bisect_right(self.edges, value)}", value
        text = category(raw)
        if text is None:
            return "missing", None
        return (f"={text}" if text in self.levels else "other"), text

    def points_of(self, cell: str) -> float:
        if cell == "missing":
            return self.missing
        if cell == "other":
            return self.other
        if cell.startswith("bin"):
            return self.points[int(cell[3:])]
        return self.levels[cell[1:]]

    def cells(self) -> list[str]:
        if self.kind == "numeric":
            return [f"bin{index}" for index in range(len(self.edges) + 1)] + ["missing"]
        return [f"={level}" for level in self.levels] + ["other", "missing"]

    def with_points(self, weights: Mapping[str, float]) -> Feature:
        if self.kind == "numeric":
            return Feature(
                self.name,
                "numeric",
                weights["missing"],
                edges=self.edges,
                points=tuple(weights[f"bin{i}"] for i in range(len(self.edges) + 1)),
            )
        return Feature(
            self.name,
            "categorical",
            weights["missing"],
            levels={level: weights[f"={level}"] for level in self.levels},
            other=weights["other"],
        )

    def as_data(self) -> dict[str, Any]:
        data: dict[str, Any] = {"name": self.name, "kind": self.kind, "missing": self.missing}
        if self.kind == "numeric":
            data.update(edges=list(self.edges), points=list(self.points))
        else:
            data.update(levels=dict(self.levels), other=self.other)
        return data

    @classmethod
    def from_data(cls, data: Mapping[str, Any]) -> Feature:
        if data["kind"] == "numeric":
            return cls(
                str(data["name"]),
                "numeric",
                float(data["missing"]),
                edges=tuple(float(x) for x in data["edges"]),
                points=tuple(float(x) for x in data["points"]),
            )
        return cls(
            str(data["name"]),
            "categorical",
            float(data["missing"]),
            levels={str(k): float(v) for k, v in data["levels"].items()},
            other=float(data["other"]),
        )


def _value(features: Mapping[str, Any], name: str) -> Any:
    value = features.get(name)
    return absent_value(name) if value is None else value


@dataclass(frozen=True)
class Model:
    base: float
    features: tuple[Feature, ...]

    def log_odds(self, features: Mapping[str, Any]) -> float:
        total = self.base
        for feature in self.features:
            cell, _ = feature.cell(_value(features, feature.name))
            total += feature.points_of(cell)
        return total

    def probability(self, features: Mapping[str, Any]) -> float:
        return sigmoid(self.log_odds(features))

    def explain(self, features: Mapping[str, Any]) -> Explanation:
        """Every feature's points, largest effect first; base + points = log-odds exactly."""
        parts = []
        for feature in self.features:
            cell, shown = feature.cell(_value(features, feature.name))
            parts.append(Contribution(feature.name, shown, feature.points_of(cell)))
        log_odds = math.fsum([self.base, *(part.points for part in parts)])
        parts.sort(key=lambda part: (-abs(part.points), part.feature))
        return Explanation(sigmoid(log_odds), log_odds, self.base, tuple(parts))

    def as_data(self) -> dict[str, Any]:
        return {
            "format": FORMAT,
            "scale": "log-odds",
            "base": self.base,
            "features": [feature.as_data() for feature in self.features],
        }

    @classmethod
    def from_data(cls, data: Mapping[str, Any]) -> Model:
        if data.get("format") != FORMAT:
            raise ValueError(f"unknown model format {data.get('format')!r}")
        return cls(float(data["base"]), tuple(Feature.from_data(f) for f in data["features"]))


def sigmoid(value: float) -> float:
    if value >= 0:
        return 1.0 / (1.0 + math.exp(-value))
    z = math.exp(value)
    return z / (1.0 + z)


# --- training --------------------------------------------------------------------------------


def _edges(values: Sequence[float], bins: int) -> tuple[float, ...]:
    """Cut points between distinct values so that each range holds about 1/bins of the rows
    and none is empty: midpoints, so a value seen in training always lands in its own range."""
    counts = sorted(Counter(values).items())
    target = len(values) / bins
    edges: list[float] = []
    filled = 0
    for index, (value, count) in enumerate(counts[:-1]):
        filled += count
        if filled >= target:
            edges.append((value + counts[index + 1][0]) / 2.0)
            filled = 0
    if edges and filled < target / 2:
        edges.pop()  # the last range would be a sliver: fold it into the one before
    return tuple(edges)


def layout(name: str, raws: Sequence[Any], *, min_count: int) -> Feature | None:
    """The cells of one feature from its training values, or None when it carries nothing."""
    present = [raw for raw in raws if category(raw) is not None]
    if not present:
        return None
    numbers = [value for raw in present if (value := number(raw)) is not None]
    if len(numbers) >= NUMERIC_SHARE * len(present) and len(set(numbers)) > 1:
        return Feature(name, "numeric", 0.0, edges=_edges(numbers, BINS), points=())
    counts = Counter(text for raw in present if (text := category(raw)) is not None)
    if len(counts) < 2 and len(present) == len(raws):
        return None  # one value everywhere
    kept = [level for level, count in counts.most_common(MAX_LEVELS) if count >= min_count]
    return Feature(name, "categorical", 0.0, levels=dict.fromkeys(kept, 0.0))


@dataclass
class Design:
    """The one-hot matrix of the training rows: which cell of which feature each row is in."""

    layouts: list[Feature]
    columns: dict[tuple[int, str], int]
    cells: list[list[int]]  # per row, the column index of each feature's cell


def design(layouts: list[Feature], rows: Sequence[Mapping[str, Any]]) -> Design:
    columns: dict[tuple[int, str], int] = {}
    for index, feature in enumerate(layouts):
        for cell in feature.cells():
            columns[(index, cell)] = len(columns)
    cells = [
        [
            columns[(index, feature.cell(_value(row, feature.name))[0])]
            for index, feature in enumerate(layouts)
        ]
        for row in rows
    ]
    return Design(layouts, columns, cells)


def _matrix(cells: Sequence[Sequence[int]], width: int) -> Any:
    import numpy as np
    from scipy.sparse import csr_matrix

    height = len(cells)
    per_row = len(cells[0]) if cells else 0
    data = np.ones(height * per_row)
    indices = np.asarray([c for row in cells for c in row], dtype=np.int64)
    indptr = np.arange(0, height * per_row + 1, per_row or 1, dtype=np.int64)[: height + 1]
    return csr_matrix((data, indices, indptr), shape=(height, width))


def _fit(x: Any, y: Sequence[int], c: float) -> Any:
    from sklearn.linear_model import LogisticRegression

    model = LogisticRegression(C=c, solver="newton-cholesky", max_iter=200)
    model.fit(x, list(y))
    return model


def _choose_c(x: Any, y: Sequence[int], seed: int) -> float:
    """The regularisation strength with the lowest cross-validated log loss."""
    import numpy as np
    from sklearn.metrics import log_loss
    from sklearn.model_selection import StratifiedKFold

    labels = np.asarray(y)
    folds = min(3, int(min(labels.sum(), len(labels) - labels.sum())))
    if folds < 2:
        return 1.0
    splitter = StratifiedKFold(n_splits=folds, shuffle=True, random_state=seed)
    best_c, best_loss = C_GRID[-1], math.inf
    for c in C_GRID:
        losses = []
        for train, test in splitter.split(np.zeros(len(labels)), labels):
            fitted = _fit(x[train], labels[train], c)
            losses.append(
                log_loss(labels[test], fitted.predict_proba(x[test])[:, 1], labels=[0, 1])
            )
        loss = sum(losses) / len(losses)
        if loss < best_loss:
            best_c, best_loss = c, loss
    return best_c


def train(
    rows: Sequence[Mapping[str, Any]],
    labels: Sequence[int],
    *,
    features: Sequence[str] | None = None,
    seed: int = 0,
) -> Model:
    """A model of ``labels`` (1 good, 0 bad) from ``rows`` of feature values."""
    if len(rows) != len(labels):
        raise ValueError("rows and labels differ in length")
    positives = sum(1 for label in labels if label)
    if positives == 0 or positives == len(labels):
        raise TrainingError("the outcomes are all of one class; a model needs both")
    names = list(features) if features is not None else sorted({k for row in rows for k in row})
    min_count = max(5, len(rows) // 500)
    layouts = [
        feature
        for name in names
        if (feature := layout(name, [_value(row, name) for row in rows], min_count=min_count))
    ]
    if not layouts:
        raise TrainingError("no column carries any information (all blank or constant)")
    matrix = design(layouts, rows)
    x = _matrix(matrix.cells, len(matrix.columns))
    fitted = _fit(x, labels, _choose_c(x, labels, seed))
    weights = [float(w) for w in fitted.coef_[0]]
    base = float(fitted.intercept_[0])
    trained: list[Feature] = []
    for index, feature in enumerate(layouts):
        # Centre each feature on its training average, so its points read "against an average
        # lead"; the average moves into the base and the sum stays the same.
        used = [weights[row[index]] for row in matrix.cells]
        mean = math.fsum(used) / len(used)
        base += mean
        trained.append(
            feature.with_points(
                {cell: weights[matrix.columns[(index, cell)]] - mean for cell in feature.cells()}
            )
        )
    return Model(base, tuple(trained))
