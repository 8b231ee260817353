"""A trained model as plain data: tables of log-odds points, one per feature and one per chosen
pair of features, and the base. Scoring a lead is one lookup or bisection per table:

    log-odds = base + sum of points,   probability = 1 / (1 + exp(-log-odds))

hold exactly, and nothing is unpickled: a model is JSON.

A feature's **cells**: code 0 is "missing" (learned, so it is 0 unless missing itself told
something in training), code 1 is "other" (a value never seen in training, or seen too rarely to
learn from: always 0 points), then for a number its frequent exact values ("spikes", such as a
999 that most rows hold) and the ranges between quantiles of the rest, and for a category its
kept values. A pair's table has one cell per combination of two coarse cells.
"""

from __future__ import annotations

import math
from bisect import bisect_right
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from core.learning.features import absent_value
from core.learning.values import category, number
from core.refusals import LeadbotError

FORMAT = 2
MISSING = 0
OTHER = 1
FIRST = 2

Kind = Literal["numeric", "categorical"]


class TrainingError(LeadbotError):
    """The data cannot train a model (one class, no usable feature); one line for a person."""


@dataclass(frozen=True)
class Contribution:
    """One table's points for a lead. ``value`` is what the lead holds (its original text, or
    its number); ``cell`` is the cell it fell in as a person reads it ("5-8", "= 999", "not
    seen in training"), None when the value says it all."""

    feature: str
    value: Any
    points: float
    cell: str | None = None

    def as_dict(self) -> dict[str, Any]:
        return {
            "feature": self.feature,
            "value": self.value,
            "points": self.points,
            "cell": self.cell,
        }


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


def show_number(value: float) -> str:
    if value.is_integer() and abs(value) < 1e15:
        return str(int(value))
    return f"{value:.4g}"


@dataclass(frozen=True)
class Cells:
    """How one feature's raw values fall into cells (see the module's docstring)."""

    kind: Kind
    spikes: tuple[float, ...] = ()
    edges: tuple[float, ...] = ()
    #: Per range, the lowest and highest training value in it (None: none seen, or unknown).
    ranges: tuple[tuple[float, float] | None, ...] = ()
    levels: tuple[str, ...] = ()
    #: Per level, how it was most often written in training.
    shown: tuple[str, ...] = ()
    _spike_index: dict[float, int] = field(default_factory=dict, compare=False, repr=False)
    _level_index: dict[str, int] = field(default_factory=dict, compare=False, repr=False)

    def __post_init__(self) -> None:
        self._spike_index.update({value: i for i, value in enumerate(self.spikes)})
        self._level_index.update({level: i for i, level in enumerate(self.levels)})

    @property
    def size(self) -> int:
        if self.kind == "numeric":
            return FIRST + len(self.spikes) + len(self.edges) + 1
        return FIRST + len(self.levels)

    @property
    def first_range(self) -> int:
        """Code of the lowest range (numbers only): ranges are ordered, spikes are not."""
        return FIRST + len(self.spikes)

    def code(self, raw: Any) -> int:
        if self.kind == "numeric":
            value = number(raw)
            if value is None:
                return MISSING if category(raw) is None else OTHER
            spike = self._spike_index.get(value)
            if spike is not None:
                return FIRST + spike
            return self.first_range + bisect_right(self.edges, value)
        text = category(raw)
        if text is None:
            return MISSING
        level = self._level_index.get(text)
        return OTHER if level is None else FIRST + level

    def describe(self, code: int) -> str | None:
        """The cell as a person reads it; None for a category's kept value (its text says it)."""
        if code == MISSING:
            return "missing"
        if code == OTHER:
            return "not seen in training"
        if self.kind == "categorical":
            return None
        if code < self.first_range:
            return "= " + show_number(self.spikes[code - FIRST])
        index = code - self.first_range
        seen = self.ranges[index] if index < len(self.ranges) else None
        last = len(self.edges)
        if seen is not None:
            low, high = seen
            if last == 0 or low == high:
                return (
                    show_number(low) if low == high else f"{show_number(low)}-{show_number(high)}"
                )
            if index == 0:
                return f"<= {show_number(high)}"
            if index == last:
                return f">= {show_number(low)}"
            return f"{show_number(low)}-{show_number(high)}"
        if last == 0:
            return "any other number"
        if index == 0:
            return f"< {show_number(self.edges[0])}"
        if index == last:
            return f">= {show_number(self.edges[-1])}"
        return f"{show_number(self.edges[index - 1])} to {show_number(self.edges[index])}"

    def short(self, code: int, raw: Any) -> str:
        """The cell in a few characters, for a pair's "A x B" value."""
        described = self.describe(code)
        if described is None or code == OTHER:
            return str(raw).strip() if raw is not None else "missing"
        return described

    def as_data(self) -> dict[str, Any]:
        if self.kind == "numeric":
            return {
                "kind": "numeric",
                "spikes": list(self.spikes),
                "edges": list(self.edges),
                "ranges": [list(r) if r is not None else None for r in self.ranges],
            }
        return {"kind": "categorical", "levels": list(self.levels), "shown": list(self.shown)}

    @classmethod
    def from_data(cls, data: Mapping[str, Any]) -> Cells:
        if data["kind"] == "numeric":
            return cls(
                "numeric",
                spikes=tuple(float(x) for x in data.get("spikes", ())),
                edges=tuple(float(x) for x in data["edges"]),
                ranges=tuple(
                    (float(r[0]), float(r[1])) if r is not None else None
                    for r in data.get("ranges", ())
                ),
            )
        levels = tuple(str(x) for x in data["levels"])
        return cls("categorical", levels=levels, shown=tuple(str(x) for x in data["shown"]))


def _shown_value(cells: Cells, code: int, raw: Any) -> Any:
    """What the lead holds, as it was written: None when missing."""
    if code == MISSING:
        return None
    if cells.kind == "numeric" and code != OTHER:
        return number(raw)
    return str(raw).strip()


@dataclass(frozen=True)
class Feature:
    """One feature's table: ``points[code]`` for each of its cells."""

    name: str
    cells: Cells
    points: tuple[float, ...]

    @property
    def kind(self) -> Kind:
        return self.cells.kind

    def contribution(self, features: Mapping[str, Any]) -> Contribution:
        raw = value_of(features, self.name)
        code = self.cells.code(raw)
        return Contribution(
            self.name, _shown_value(self.cells, code, raw), self.points[code], self.cells_text(code)
        )

    def cells_text(self, code: int) -> str | None:
        return self.cells.describe(code)

    def as_data(self) -> dict[str, Any]:
        return {"name": self.name, **self.cells.as_data(), "points": list(self.points)}

    @classmethod
    def from_data(cls, data: Mapping[str, Any]) -> Feature:
        return cls(
            str(data["name"]), Cells.from_data(data), tuple(float(x) for x in data["points"])
        )


@dataclass(frozen=True)
class Pair:
    """Two features' joint table, on coarse cells of each: ``points[a][b]``. Read as "A x B":
    what the combination adds beyond what each feature says alone."""

    first: str
    second: str
    cells: tuple[Cells, Cells]
    points: tuple[tuple[float, ...], ...]

    @property
    def name(self) -> str:
        return f"{self.first} x {self.second}"

    def contribution(self, features: Mapping[str, Any]) -> Contribution:
        raw_a = value_of(features, self.first)
        raw_b = value_of(features, self.second)
        a, b = self.cells[0].code(raw_a), self.cells[1].code(raw_b)
        shown = f"{self.cells[0].short(a, raw_a)} x {self.cells[1].short(b, raw_b)}"
        return Contribution(self.name, shown, self.points[a][b], None)

    def as_data(self) -> dict[str, Any]:
        return {
            "features": [self.first, self.second],
            "cells": [self.cells[0].as_data(), self.cells[1].as_data()],
            "points": [list(row) for row in self.points],
        }

    @classmethod
    def from_data(cls, data: Mapping[str, Any]) -> Pair:
        first, second = (str(x) for x in data["features"])
        a, b = (Cells.from_data(c) for c in data["cells"])
        return cls(
            first, second, (a, b), tuple(tuple(float(x) for x in row) for row in data["points"])
        )


def value_of(features: Mapping[str, Any], name: str) -> Any:
    value = features.get(name)
    return absent_value(name) if value is None else value


def sigmoid(value: float) -> float:
    if value >= 0:
        return 1.0 / (1.0 + math.exp(-value))
    z = math.exp(value)
    return z / (1.0 + z)


@dataclass(frozen=True)
class Model:
    base: float
    features: tuple[Feature, ...]
    pairs: tuple[Pair, ...] = ()
    #: How the capacity was chosen (bins, penalties, rounds, pairs): shown, never used to score.
    capacity: Mapping[str, Any] = field(default_factory=dict)

    def contributions(self, features: Mapping[str, Any]) -> list[Contribution]:
        parts = [feature.contribution(features) for feature in self.features]
        parts.extend(pair.contribution(features) for pair in self.pairs)
        return parts

    def log_odds(self, features: Mapping[str, Any]) -> float:
        points = [self.base]
        for feature in self.features:
            points.append(feature.points[feature.cells.code(value_of(features, feature.name))])
        for pair in self.pairs:
            a = pair.cells[0].code(value_of(features, pair.first))
            b = pair.cells[1].code(value_of(features, pair.second))
            points.append(pair.points[a][b])
        return math.fsum(points)

    def probability(self, features: Mapping[str, Any]) -> float:
        return sigmoid(self.log_odds(features))

    def explain(self, features: Mapping[str, Any]) -> Explanation:
        """Every table's points, largest effect first; base + points = log-odds exactly."""
        parts = self.contributions(features)
        log_odds = math.fsum([self.base, *(part.points for part in parts)])
        parts.sort(key=lambda part: (-abs(part.points), part.feature))
        return Explanation(sigmoid(log_odds), log_odds, self.base, tuple(parts))

    def as_data(self) -> dict[str, Any]:
        return {
            "format": FORMAT,
            "scale": "log-odds",
            "base": self.base,
            "features": [feature.as_data() for feature in self.features],
            "pairs": [pair.as_data() for pair in self.pairs],
            "capacity": dict(self.capacity),
        }

    @classmethod
    def from_data(cls, data: Mapping[str, Any]) -> Model:
        if data.get("format") == 1:
            return _from_first_format(data)
        if data.get("format") != FORMAT:
            raise ValueError(f"unknown model format {data.get('format')!r}")
        return cls(
            float(data["base"]),
            tuple(Feature.from_data(f) for f in data["features"]),
            tuple(Pair.from_data(p) for p in data.get("pairs", ())),
            dict(data.get("capacity") or {}),
        )


def _from_first_format(data: Mapping[str, Any]) -> Model:
    """A version stored before pairs and spikes: the same tables in the present shape (its
    "other" cell keeps the points it had)."""
    features = []
    for item in data["features"]:
        name = str(item["name"])
        missing = float(item["missing"])
        if item["kind"] == "numeric":
            cells = Cells("numeric", edges=tuple(float(x) for x in item["edges"]))
            points = (missing, 0.0, *(float(x) for x in item["points"]))
        else:
            levels = {str(k): float(v) for k, v in item["levels"].items()}
            cells = Cells("categorical", levels=tuple(levels), shown=tuple(levels))
            points = (missing, float(item["other"]), *levels.values())
        features.append(Feature(name, cells, points))
    return Model(float(data["base"]), tuple(features))


def check_lengths(rows: Sequence[Any], labels: Sequence[int]) -> None:
    if len(rows) != len(labels):
        raise ValueError("rows and labels differ in length")
