"""Training: cyclic gradient boosting on binned features, collapsed into one table of log-odds
points per feature, plus a few pairs of features chosen from the data (an explainable boosting
model, in the manner of EBM with FAST pair selection), written with numpy alone.

Each round visits every table in turn and takes a damped Newton step of the penalised log loss
in each of its cells: a ridge penalty pulls every cell towards 0 (a rare cell stays near 0; a
cell no training row fell in stays at 0) and, for a number, a difference penalty keeps
neighbouring ranges close. Capacity (bins, penalties, rounds, pairs) is chosen on the latest
part of the training rows (by time when it is known), then the model is fitted again on all of
them with that capacity. The test rows of a backtest are never seen here.
"""

from __future__ import annotations

import math
import random
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from numpy.typing import NDArray

from core.learning.terms import (
    FIRST,
    MISSING,
    OTHER,
    Cells,
    Feature,
    Kind,
    Model,
    Pair,
    TrainingError,
    check_lengths,
    value_of,
)
from core.learning.values import category, number

Floats = NDArray[np.float64]
Codes = NDArray[np.intp]

#: Share of the non-missing values that must read as numbers for a feature to be numeric.
NUMERIC_SHARE = 0.9
#: A number held by at least this share of a column's rows gets a cell of its own.
SPIKE_SHARE = 0.2
#: Rows a value needs in training to get a cell of its own (fewer: no points, as if unseen).
MIN_COUNT = 5
#: Most frequent values kept per categorical feature; rarer values get no points.
MAX_LEVELS = 60
#: Coarse cells per feature in a pair's table.
PAIR_BINS = 6
PAIR_LEVELS = 16
MAX_PAIRS = 3
#: A pair is kept only when it lowers the held-out log loss by at least this much.
PAIR_GAIN = 2e-4
#: Capacity tried, one dimension at a time from the first value of each.
BINS_GRID = (24, 8, 64)
L2_GRID = (3.0, 1.0, 15.0)
SMOOTH_GRID = (3.0, 0.0, 30.0)
LEARNING_RATE = 0.5
MAX_STEP = 2.0
MAX_ROUNDS = 200
PATIENCE = 4
#: The latest share of the training rows that chooses the capacity.
VALID_SHARE = 0.2
#: Fewer rows (or outcomes of a class in the validation part) than this: default capacity.
MIN_SELECT_ROWS = 200
MIN_SELECT_CLASS = 10
DEFAULT_ROUNDS = 60


# --- columns and cells ---------------------------------------------------------------------


@dataclass
class Column:
    """One feature's training values, read once: numbers (NaN when missing or unreadable) or
    category texts, and how each text was most often written."""

    name: str
    kind: Kind
    numbers: Floats
    unreadable: NDArray[np.bool_]
    texts: list[str | None]
    written: dict[str, str] = field(default_factory=dict)


def read_column(name: str, raws: Sequence[Any]) -> Column | None:
    """None when the feature carries nothing (blank everywhere, or one value in every row)."""
    texts = [category(raw) for raw in raws]
    present = sum(1 for text in texts if text is not None)
    if not present:
        return None
    values = [
        number(raw) if text is not None else None for raw, text in zip(raws, texts, strict=False)
    ]
    readable = [value for value in values if value is not None]
    numbers = np.array([np.nan if v is None else v for v in values], dtype=np.float64)
    unreadable = np.array(
        [text is not None and value is None for text, value in zip(texts, values, strict=False)],
        dtype=bool,
    )
    if len(readable) >= NUMERIC_SHARE * present and len(set(readable)) > 1:
        return Column(name, "numeric", numbers, unreadable, texts)
    if len(set(texts)) < 2:
        return None  # one value everywhere
    written: Counter[tuple[str, str]] = Counter(
        (text, str(raw).strip()) for raw, text in zip(raws, texts, strict=False) if text is not None
    )
    spelled: dict[str, str] = {}
    for (text, original), _ in written.most_common():
        spelled.setdefault(text, original)
    return Column(name, "categorical", numbers, unreadable, texts, spelled)


def _edges(values: Floats, bins: int) -> tuple[float, ...]:
    """Cut points between distinct values so that each range holds about 1/bins of the rows
    and none is empty: midpoints, so a value seen in training always lands in its own range."""
    if not len(values):
        return ()
    distinct, counts = np.unique(values, return_counts=True)
    target = len(values) / bins
    edges: list[float] = []
    filled = 0
    for index in range(len(distinct) - 1):
        filled += int(counts[index])
        if filled >= target:
            edges.append(float(distinct[index] + distinct[index + 1]) / 2.0)
            filled = 0
    if edges and filled + int(counts[-1]) < target / 2:
        edges.pop()  # the last range would be a sliver: fold it into the one before
    return tuple(edges)


def layout(column: Column, rows: Codes, *, bins: int, max_levels: int, min_count: int) -> Cells:
    """The cells of one feature from its values in ``rows``."""
    if column.kind == "numeric":
        values = column.numbers[rows]
        values = values[~np.isnan(values)]
        distinct, counts = np.unique(values, return_counts=True)
        heavy = counts >= max(min_count, SPIKE_SHARE * len(values))
        spikes = tuple(float(v) for v in distinct[heavy])
        rest = values[~np.isin(values, distinct[heavy])] if spikes else values
        edges = _edges(rest, bins)
        where = np.searchsorted(np.asarray(edges), rest, side="right")
        ranges: list[tuple[float, float] | None] = []
        for index in range(len(edges) + 1):
            inside = rest[where == index]
            ranges.append((float(inside.min()), float(inside.max())) if len(inside) else None)
        return Cells("numeric", spikes=spikes, edges=edges, ranges=tuple(ranges))
    counted = Counter(text for i in rows.tolist() if (text := column.texts[i]) is not None)
    kept = [level for level, count in counted.most_common(max_levels) if count >= min_count]
    return Cells(
        "categorical", levels=tuple(kept), shown=tuple(column.written[level] for level in kept)
    )


def encode(cells: Cells, column: Column) -> Codes:
    """The cell code of every row: the same answer as :meth:`Cells.code` of each raw value."""
    if cells.kind == "numeric":
        codes = np.full(len(column.numbers), MISSING, dtype=np.intp)
        codes[column.unreadable] = OTHER
        known = ~np.isnan(column.numbers)
        values = column.numbers[known]
        found = cells.first_range + np.searchsorted(
            np.asarray(cells.edges, dtype=np.float64), values, side="right"
        )
        for index, spike in enumerate(cells.spikes):
            found[values == spike] = FIRST + index
        codes[known] = found
        return codes
    known_levels = {level: FIRST + i for i, level in enumerate(cells.levels)}
    return np.fromiter(
        (MISSING if text is None else known_levels.get(text, OTHER) for text in column.texts),
        dtype=np.intp,
        count=len(column.texts),
    )


# --- boosting ------------------------------------------------------------------------------


@dataclass
class Term:
    """One table being learned: each row's cell, which cells may move, which are ordered."""

    codes: Codes
    size: int
    free: Floats
    ordered: tuple[int, int] = (0, 0)  # codes [start, end) of ranges, kept close by smoothing
    table: Floats = field(init=False)

    def __post_init__(self) -> None:
        self.table = np.zeros(self.size)


def _main_term(cells: Cells, codes: Codes) -> Term:
    free = np.ones(cells.size)
    free[OTHER] = 0.0
    ordered = (cells.first_range, cells.size) if cells.kind == "numeric" else (0, 0)
    return Term(codes, cells.size, free, ordered)


def _pair_term(a: Cells, b: Cells, codes_a: Codes, codes_b: Codes) -> Term:
    free = np.ones((a.size, b.size))
    free[OTHER, :] = 0.0
    free[:, OTHER] = 0.0
    return Term(codes_a * b.size + codes_b, a.size * b.size, free.ravel())


def _probability(score: Floats) -> Floats:
    result: Floats = 1.0 / (1.0 + np.exp(-np.clip(score, -35.0, 35.0)))
    return result


def _log_loss(labels: Floats, score: Floats) -> float:
    return float(np.mean(np.logaddexp(0.0, score) - labels * score))


@dataclass(frozen=True)
class Penalty:
    l2: float
    smooth: float


@dataclass
class State:
    """Tables being learned on one set of rows (and, to choose capacity, their scores on the
    held-out rows)."""

    labels: Floats
    base: float
    score: Floats
    terms: list[Term] = field(default_factory=list)
    held_codes: list[Codes] = field(default_factory=list)
    held_labels: Floats | None = None
    held_score: Floats | None = None

    @classmethod
    def start(cls, labels: Floats, held_labels: Floats | None = None) -> State:
        rate = float(np.clip(labels.mean(), 1e-6, 1 - 1e-6))
        base = math.log(rate / (1 - rate))
        held = None if held_labels is None else np.full(len(held_labels), base)
        return cls(labels, base, np.full(len(labels), base), [], [], held_labels, held)

    def add(self, term: Term, held_codes: Codes | None = None) -> None:
        self.terms.append(term)
        if held_codes is not None:
            self.held_codes.append(held_codes)

    def held_loss(self) -> float:
        assert self.held_labels is not None and self.held_score is not None
        return _log_loss(self.held_labels, self.held_score)

    def sweep(self, penalty: Penalty) -> None:
        """One round: a damped Newton step in every table, then in the base."""
        for position, term in enumerate(self.terms):
            p = _probability(self.score)
            gradient: Floats = np.bincount(term.codes, self.labels - p, term.size).astype(
                np.float64
            )
            hessian: Floats = np.bincount(term.codes, p * (1.0 - p), term.size).astype(np.float64)
            hessian += penalty.l2
            gradient -= penalty.l2 * term.table
            start, end = term.ordered
            if penalty.smooth and end - start > 1:
                seg = term.table[start:end]
                pull = np.zeros(end - start)
                pull[:-1] += seg[:-1] - seg[1:]
                pull[1:] += seg[1:] - seg[:-1]
                degree = np.full(end - start, 2.0)
                degree[0] = degree[-1] = 1.0
                gradient[start:end] -= penalty.smooth * pull
                hessian[start:end] += penalty.smooth * degree
            step = np.clip(LEARNING_RATE * gradient / hessian, -MAX_STEP, MAX_STEP) * term.free
            term.table += step
            self.score += step[term.codes]
            if self.held_score is not None:
                self.held_score += step[self.held_codes[position]]
        p = _probability(self.score)
        shift = float(np.sum(self.labels - p) / max(float(np.sum(p * (1.0 - p))), 1e-9))
        shift = LEARNING_RATE * max(-MAX_STEP, min(MAX_STEP, shift))
        self.base += shift
        self.score += shift
        if self.held_score is not None:
            self.held_score += shift

    def snapshot(self) -> tuple[float, list[Floats]]:
        return self.base, [term.table.copy() for term in self.terms]

    def restore(self, saved: tuple[float, list[Floats]]) -> None:
        """Back to a saved snapshot; the scores are recomputed from the tables."""
        self.base = saved[0]
        self.score = np.full(len(self.labels), self.base)
        held = None if self.held_score is None else np.full(len(self.held_score), self.base)
        for position, (term, table) in enumerate(zip(self.terms, saved[1], strict=True)):
            term.table = table.copy()
            self.score += table[term.codes]
            if held is not None:
                held += table[self.held_codes[position]]
        self.held_score = held

    def until_best(self, penalty: Penalty) -> tuple[int, float]:
        """Rounds until the held-out loss stops falling; the state is left at its best."""
        best_loss, best_round, best = self.held_loss(), 0, self.snapshot()
        for round_number in range(1, MAX_ROUNDS + 1):
            self.sweep(penalty)
            loss = self.held_loss()
            if loss < best_loss - 1e-7:
                best_loss, best_round, best = loss, round_number, self.snapshot()
            elif round_number - best_round >= PATIENCE:
                break
        self.restore(best)
        return best_round, best_loss

    def rounds(self, count: int, penalty: Penalty) -> None:
        for _ in range(count):
            self.sweep(penalty)


# --- choosing pairs (FAST) -------------------------------------------------------------------


def rank_pairs(
    coarse: Sequence[tuple[Cells, Codes]], labels: Floats, score: Floats, l2: float
) -> list[tuple[float, int, int]]:
    """Pairs of features by how much a joint table would lower the loss beyond chance, given
    what the model already knows: the Newton gain of each pair's cells, less what noise alone
    would give. Best first; only pairs that beat chance."""
    p = _probability(score)
    gradient, hessian = labels - p, p * (1.0 - p)
    ranked = []
    for i in range(len(coarse)):
        for j in range(i + 1, len(coarse)):
            (a, codes_a), (b, codes_b) = coarse[i], coarse[j]
            joint = codes_a * b.size + codes_b
            size = a.size * b.size
            g = np.bincount(joint, gradient, size)
            h = np.bincount(joint, hessian, size)
            free = np.ones((a.size, b.size))
            free[OTHER, :] = free[:, OTHER] = 0.0
            excess = float(np.sum(free.ravel() * (g * g - h) / (h + l2)))
            if excess > 0:
                ranked.append((excess, i, j))
    ranked.sort(key=lambda item: (-item[0], item[1], item[2]))
    return ranked


# --- training --------------------------------------------------------------------------------


@dataclass
class Prepared:
    columns: list[Column]
    labels: Floats
    min_count: int


def _held_out(
    labels: Sequence[int], order: Sequence[float] | None, seed: int
) -> tuple[Codes, Codes] | None:
    """The rows that fit and the rows that choose the capacity: the latest share by ``order``,
    else a stratified random share. None when too few to choose anything."""
    count = len(labels)
    if count < MIN_SELECT_ROWS:
        return None
    size = round(count * VALID_SHARE)
    if order is not None:
        ranked = sorted(range(count), key=lambda i: (order[i], i))
        held = sorted(ranked[count - size :])
    else:
        rng = random.Random(seed)
        held = []
        for label in (0, 1):
            members = [i for i in range(count) if bool(labels[i]) == bool(label)]
            rng.shuffle(members)
            held.extend(members[: round(len(members) * VALID_SHARE)])
        held.sort()
    chosen = set(held)
    fit = [i for i in range(count) if i not in chosen]
    held_positives = sum(1 for i in held if labels[i])
    if min(held_positives, len(held) - held_positives) < MIN_SELECT_CLASS:
        return None
    fit_positives = sum(1 for i in fit if labels[i])
    if min(fit_positives, len(fit) - fit_positives) < MIN_SELECT_CLASS:
        return None
    return np.asarray(fit, dtype=np.intp), np.asarray(held, dtype=np.intp)


@dataclass
class Capacity:
    bins: int = BINS_GRID[0]
    penalty: Penalty = field(default_factory=lambda: Penalty(L2_GRID[0], SMOOTH_GRID[0]))
    main_rounds: int = DEFAULT_ROUNDS
    pairs: list[tuple[int, int]] = field(default_factory=list)
    pair_rounds: int = 0
    held_loss: float | None = None
    validation: str = "none: too few rows or outcomes to hold any back"


def _cells(data: Prepared, rows: Codes, bins: int) -> list[Cells]:
    return [
        layout(column, rows, bins=bins, max_levels=MAX_LEVELS, min_count=data.min_count)
        for column in data.columns
    ]


def _coarse(data: Prepared, rows: Codes) -> list[Cells]:
    return [
        layout(column, rows, bins=PAIR_BINS, max_levels=PAIR_LEVELS, min_count=data.min_count)
        for column in data.columns
    ]


def _mains(data: Prepared, fit: Codes, held: Codes, bins: int) -> State:
    state = State.start(data.labels[fit], data.labels[held])
    for cells, column in zip(_cells(data, fit, bins), data.columns, strict=True):
        codes = encode(cells, column)
        state.add(_main_term(cells, codes[fit]), codes[held])
    return state


def choose(data: Prepared, fit: Codes, held: Codes, validation: str) -> Capacity:
    """The capacity with the lowest held-out log loss, one dimension at a time."""
    tried: dict[tuple[int, Penalty], tuple[float, int, State]] = {}

    def attempt(bins: int, penalty: Penalty) -> tuple[float, int, State]:
        key = (bins, penalty)
        if key not in tried:
            state = _mains(data, fit, held, bins)
            rounds, loss = state.until_best(penalty)
            tried[key] = (loss, rounds, state)
        return tried[key]

    bins, penalty = BINS_GRID[0], Penalty(L2_GRID[0], SMOOTH_GRID[0])
    for option in BINS_GRID:
        if attempt(option, penalty)[0] < attempt(bins, penalty)[0]:
            bins = option
    for l2 in L2_GRID:
        candidate = Penalty(l2, penalty.smooth)
        if attempt(bins, candidate)[0] < attempt(bins, penalty)[0]:
            penalty = candidate
    for smooth in SMOOTH_GRID:
        candidate = Penalty(penalty.l2, smooth)
        if attempt(bins, candidate)[0] < attempt(bins, penalty)[0]:
            penalty = candidate
    loss, main_rounds, state = attempt(bins, penalty)
    capacity = Capacity(bins, penalty, max(main_rounds, 1), held_loss=loss, validation=validation)

    coarse = _coarse(data, fit)
    coarse_codes = [
        encode(cells, column) for cells, column in zip(coarse, data.columns, strict=True)
    ]
    ranked = rank_pairs(
        [(cells, codes[fit]) for cells, codes in zip(coarse, coarse_codes, strict=True)],
        state.labels,
        state.score,
        penalty.l2,
    )
    for _, i, j in ranked[:MAX_PAIRS]:
        saved = state.snapshot()
        term = _pair_term(coarse[i], coarse[j], coarse_codes[i][fit], coarse_codes[j][fit])
        state.add(term, coarse_codes[i][held] * coarse[j].size + coarse_codes[j][held])
        rounds, pair_loss = state.until_best(penalty)
        if pair_loss > loss - PAIR_GAIN:
            state.terms.pop()
            state.held_codes.pop()
            state.restore(saved)
            break
        loss = pair_loss
        capacity.pairs.append((i, j))
        capacity.pair_rounds += rounds
        capacity.held_loss = loss
    return capacity


def train(
    rows: Sequence[Mapping[str, Any]],
    labels: Sequence[int],
    *,
    features: Sequence[str] | None = None,
    seed: int = 0,
    order: Sequence[float] | None = None,
) -> Model:
    """A model of ``labels`` (1 good, 0 bad) from ``rows`` of feature values. ``order`` (a time
    per row) makes the capacity be chosen on the latest training rows."""
    check_lengths(rows, labels)
    positives = sum(1 for label in labels if label)
    if positives == 0 or positives == len(labels):
        raise TrainingError("the outcomes are all of one class; a model needs both")
    names = list(features) if features is not None else sorted({k for row in rows for k in row})
    columns = [
        column
        for name in names
        if (column := read_column(name, [value_of(row, name) for row in rows])) is not None
    ]
    if not columns:
        raise TrainingError("no column carries any information (all blank or constant)")
    y = np.asarray([1.0 if label else 0.0 for label in labels])
    data = Prepared(columns, y, max(MIN_COUNT, len(rows) // 2000))
    split = _held_out(labels, order, seed)
    if split is None:
        capacity = Capacity()
    else:
        validation = (
            f"the latest {VALID_SHARE:.0%} of the training rows by time"
            if order is not None
            else f"a stratified random {VALID_SHARE:.0%} of the training rows (seed {seed})"
        )
        capacity = choose(data, split[0], split[1], validation)
    return _final(data, capacity)


def _final(data: Prepared, capacity: Capacity) -> Model:
    """The model on every training row with the chosen capacity."""
    everyone = np.arange(len(data.labels), dtype=np.intp)
    state = State.start(data.labels)
    cells = _cells(data, everyone, capacity.bins)
    for one, column in zip(cells, data.columns, strict=True):
        state.add(_main_term(one, encode(one, column)))
    state.rounds(capacity.main_rounds, capacity.penalty)
    coarse = _coarse(data, everyone) if capacity.pairs else []
    for i, j in capacity.pairs:
        a, b = coarse[i], coarse[j]
        state.add(_pair_term(a, b, encode(a, data.columns[i]), encode(b, data.columns[j])))
    state.rounds(capacity.pair_rounds, capacity.penalty)
    features = tuple(
        Feature(column.name, one, tuple(float(x) for x in term.table))
        for column, one, term in zip(data.columns, cells, state.terms, strict=False)
    )
    pairs = tuple(
        Pair(
            data.columns[i].name,
            data.columns[j].name,
            (coarse[i], coarse[j]),
            tuple(
                tuple(float(x) for x in row)
                for row in term.table.reshape(coarse[i].size, coarse[j].size)
            ),
        )
        for (i, j), term in zip(capacity.pairs, state.terms[len(cells) :], strict=True)
    )
    return Model(
        float(state.base),
        features,
        pairs,
        {
            "bins": capacity.bins,
            "l2": capacity.penalty.l2,
            "smooth": capacity.penalty.smooth,
            "rounds": capacity.main_rounds + capacity.pair_rounds,
            "learning_rate": LEARNING_RATE,
            "pairs": [p.name for p in pairs],
            "chosen_on": capacity.validation,
            "held_out_log_loss": capacity.held_loss,
        },
    )
