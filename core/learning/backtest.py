"""Backtest on a history file: split, guard against leaks, train, and measure the learned model
and the workspace's rules on the same held-out rows.

One row is one lead; one column holds the outcome. Columns become a lead's fields the way the
CSV import maps them (``title``, ``company_size``, ... or ``properties.<header>``) and then go
through :func:`core.learning.features.lead_features`, as a stored lead does.
"""

from __future__ import annotations

import math
import random
import re
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from core.config import FitRule
from core.learning import metrics
from core.learning.features import IDENTITY_FIELDS, PROPERTY_PREFIX, lead_features
from core.learning.model import MISSING, Model, cell_codes, train
from core.learning.table import Table, TableError
from core.learning.values import category, number, timestamp
from core.refusals import LeadbotError
from core.scoring import fit_score, match_rule

TEST_SHARE = 0.3
SEED = 0
#: A column with at least this share of distinct values among its answers is an identifier.
ID_SHARE = 0.9
#: A column that alone ranks the outcome this well (where it is given) is suspected of a leak.
LEAK_AUC = 0.93
#: ...or this well, when its name says sales types it in (a status, tags, a lead quality).
LEAK_AUC_NAMED = 0.8
SALES_VERDICT = re.compile(
    r"\b(status|stage|tags?|quality|rating|disposition|outcome|result|verdict|won|lost|closed)\b"
)
MIN_CLASS = 10
EXPLAINED_ROWS = 5
#: Outcome words taken as the good class when --positive is not given.
POSITIVE_WORDS = frozenset(
    {"1", "true", "yes", "y", "won", "closed won", "converted", "positive", "success", "sql"}
)


class BacktestError(LeadbotError):
    """The history cannot be backtested as asked; the message is one line for a person."""


@dataclass
class Options:
    target: str
    positive: str | None = None
    time: str | None = None
    exclude: Sequence[str] = ()
    keep: Sequence[str] = ()
    test_share: float = TEST_SHARE
    seed: int = SEED
    min_class: int = MIN_CLASS


@dataclass
class Prepared:
    """A history made ready: usable rows as leads, labels, the split and the columns kept."""

    leads: list[dict[str, Any]]
    labels: list[int]
    line_numbers: list[int]
    order: list[float] | None
    train_index: list[int]
    test_index: list[int]
    column_feature: dict[str, str]  # kept column -> feature name
    excluded: list[dict[str, str]]
    warnings: list[str] = field(default_factory=list)
    positive: str = ""

    @property
    def features(self) -> list[str]:
        return list(self.column_feature.values())

    def rows(self, index: Sequence[int]) -> list[dict[str, Any]]:
        return [lead_features(self.leads[i]) for i in index]

    def times(self, index: Sequence[int]) -> list[float] | None:
        """The --time keys of some rows (None without --time), for choosing capacity."""
        return None if self.order is None else [self.order[i] for i in index]

    def feature_column(self) -> dict[str, str]:
        return {feature: column for column, feature in self.column_feature.items()}


def _canonical(text: str | None) -> str | None:
    """``1.0`` and ``1`` are the same outcome."""
    value = number(text) if text is not None else None
    return str(int(value)) if value is not None and value in (0.0, 1.0) else text


def _labels(values: list[str], target: str, positive: str | None) -> tuple[list[int | None], str]:
    texts = [_canonical(category(value)) for value in values]
    seen = Counter(text for text in texts if text is not None)
    if not seen:
        raise BacktestError(f"target column {target!r} is blank in every row")
    if positive is not None:
        good = _canonical(category(positive)) or ""
        if good not in seen:
            shown = ", ".join(repr(v) for v, _ in seen.most_common(8))
            raise BacktestError(f"--positive {positive!r} is not a value of {target!r} ({shown})")
    elif len(seen) == 1:
        (only,) = seen
        raise BacktestError(
            f"target column {target!r} has one class only ({only!r} in {seen[only]} rows); "
            "a backtest needs good and bad outcomes"
        )
    else:
        words = [value for value in seen if value in POSITIVE_WORDS]
        if len(seen) != 2 or len(words) != 1:
            shown = ", ".join(repr(v) for v, _ in seen.most_common(8))
            raise BacktestError(
                f"target column {target!r} has the values {shown}: "
                "say which one is the good outcome with --positive VALUE"
            )
        good = words[0]
    labels: list[int | None] = [None if text is None else int(text == good) for text in texts]
    classes = {label for label in labels if label is not None}
    if len(classes) < 2:
        raise BacktestError(
            f"target column {target!r} has one class only (every row is "
            f"{'the good' if 1 in classes else 'a bad'} outcome); a backtest needs both"
        )
    return labels, good


def _order(values: list[str], column: str) -> tuple[list[float | None], str]:
    """Sortable keys of the --time column: dates, else numbers; refuses anything else."""
    present = [value for value in values if category(value) is not None]
    if not present:
        raise BacktestError(f"--time column {column!r} is blank in every row")
    for kind, parse in (("dates", timestamp), ("numbers", number)):
        keys = [parse(value) for value in values]
        readable = sum(
            1
            for key, v in zip(keys, values, strict=True)
            if key is not None and category(v) is not None
        )
        if readable >= 0.9 * len(present):
            return keys, kind
    bad = next(v for v in present if timestamp(v) is None and number(v) is None)
    raise BacktestError(
        f"--time column {column!r} is not sortable: values like {bad.strip()!r} are neither "
        "dates nor numbers"
    )


def _check_columns(table: Table, names: Sequence[str], flag: str) -> list[str]:
    out = []
    for name in names:
        try:
            out.append(table.headers[table.column(name)])
        except TableError as exc:
            raise BacktestError(f"{flag} {name!r}: {exc}") from exc
    return out


def split(
    labels: Sequence[int], order: Sequence[float | None] | None, options: Options
) -> tuple[list[int], list[int]]:
    count = len(labels)
    test_size = max(1, round(count * options.test_share))
    if order is not None:
        # Rows without a readable time sort first: they can only train, never test.
        ranked = sorted(range(count), key=lambda i: (order[i] is not None, order[i] or 0.0, i))
        return sorted(ranked[: count - test_size]), sorted(ranked[count - test_size :])
    rng = random.Random(options.seed)
    test: list[int] = []
    for label in (0, 1):
        members = [i for i in range(count) if labels[i] == label]
        rng.shuffle(members)
        test.extend(members[: round(len(members) * options.test_share)])
    chosen = set(test)
    return [i for i in range(count) if i not in chosen], sorted(test)


def _identifier(values: list[str]) -> bool:
    present = [text for value in values if (text := category(value)) is not None]
    if len(present) < max(20, len(values) // 2):
        return False
    distinct = len(set(present))
    if distinct < ID_SHARE * len(present):
        return False
    numbers = [number(text) for text in present]
    if all(n is not None for n in numbers):
        # Distinct measurements (seconds on a page) are not ids; distinct whole numbers are.
        return all(n is not None and n.is_integer() for n in numbers)
    return True


def _times(values: list[str]) -> bool:
    present = [value for value in values if category(value) is not None]
    readable = sum(1 for value in present if number(value) is None and timestamp(value) is not None)
    return readable >= 0.9 * len(present)


def _solo_auc(name: str, raws: list[Any], labels: list[int]) -> float | None:
    """How well one column ranks the outcome alone, where it is given: each half of the rows
    is scored with the other half's outcome rate per cell, so a column cannot flatter itself."""
    cells = cell_codes(name, raws, min_count=5)
    if cells is None:
        return None
    prior = sum(labels) / len(labels)
    scores: list[float] = [0.0] * len(raws)
    for half in (0, 1):
        seen: dict[int, list[int]] = {}
        for i, cell in enumerate(cells):
            if i % 2 != half:
                seen.setdefault(cell, [0, 0])
                seen[cell][0] += labels[i]
                seen[cell][1] += 1
        for i, cell in enumerate(cells):
            if i % 2 == half:
                pos, total = seen.get(cell, [0, 0])
                scores[i] = (pos + prior) / (total + 1)
    given = [i for i, cell in enumerate(cells) if cell != MISSING]
    kept_labels = [labels[i] for i in given]
    if min(sum(kept_labels), len(kept_labels) - sum(kept_labels)) < MIN_CLASS:
        return None
    return metrics.auc(kept_labels, [scores[i] for i in given])


def suspected_leaks(
    columns: Mapping[str, Sequence[Any]], labels: Sequence[int], target: str
) -> list[dict[str, str]]:
    """The leak guard of :func:`prepare` for features that come from elsewhere (the
    database): each feature that alone ranks the outcome too well, with why."""
    out = []
    for name, raws in columns.items():
        solo = _solo_auc(name, list(raws), list(labels))
        shown = name.removeprefix(PROPERTY_PREFIX)
        named = SALES_VERDICT.search(shown.casefold()) is not None
        if solo is not None and solo >= (LEAK_AUC_NAMED if named else LEAK_AUC):
            out.append(
                {
                    "column": shown,
                    "why": f"predicts {target} on its own (AUC {solo:.2f} where given): "
                    "likely filled in after the outcome",
                }
            )
    return out


def prepare(table: Table, options: Options, fields: Mapping[str, str]) -> Prepared:
    """``fields`` maps a header to the lead field the CSV import would fill (others are
    properties)."""
    warnings = list(table.warnings)
    target = _check_columns(table, [options.target], "--target")[0]
    time_column = _check_columns(table, [options.time], "--time")[0] if options.time else None
    excluded_by_hand = _check_columns(table, options.exclude, "--exclude")
    kept_by_hand = set(_check_columns(table, options.keep, "--keep"))

    raw_labels, good = _labels(table.values(table.column(target)), target, options.positive)
    usable = [i for i, label in enumerate(raw_labels) if label is not None]
    if len(usable) < len(raw_labels):
        warnings.append(
            f"{len(raw_labels) - len(usable)} row(s) without an outcome in {target!r} were left out"
        )
    labels = [int(raw_labels[i] or 0) for i in usable]
    for label, word in ((1, "good"), (0, "bad")):
        count = sum(1 for y in labels if y == label)
        if count < options.min_class:
            raise BacktestError(
                f"only {count} row(s) with a {word} outcome; at least {options.min_class} of "
                f"each are needed ({options.min_class - count} more {word})"
            )
    rows = [table.rows[i] for i in usable]

    order: list[float | None] | None = None
    if time_column is not None:
        keys, _ = _order([row[table.column(time_column)] for row in rows], time_column)
        order = keys
        unread = sum(1 for key in keys if key is None)
        if unread:
            warnings.append(
                f"{unread} row(s) without a readable {time_column!r} only train, never test"
            )
    train_index, test_index = split(labels, order, options)
    for part, part_index in (("training", train_index), ("test", test_index)):
        if len({labels[i] for i in part_index}) < 2:
            raise BacktestError(
                f"the {part} rows hold one outcome only; "
                "the split needs good and bad outcomes in both"
            )

    excluded: list[dict[str, str]] = []
    candidates: list[str] = []
    for header in table.headers:
        if header == target:
            continue
        why = None
        index = table.column(header)
        values = [row[index] for row in rows]
        if header == time_column:
            why = "the --time column orders the split"
        elif header in excluded_by_hand:
            why = "excluded with --exclude"
        elif fields.get(header) in IDENTITY_FIELDS:
            why = "names a person or a company (contact data, not a signal)"
        elif all(category(value) is None for value in values):
            why = "blank in every row"
        elif len({category(value) for value in values}) == 1:
            why = "the same value in every row"
        elif header not in kept_by_hand and _identifier(values):
            why = (
                "a time, nearly unique per row: when a row was recorded is no trait of the lead "
                "(give it as --time to split by it)"
                if _times(values)
                else "unique or nearly unique per row (an identifier)"
            )
        if why:
            excluded.append({"column": header, "why": why})
        else:
            candidates.append(header)

    train_labels = [labels[i] for i in train_index]
    column_feature: dict[str, str] = {}
    for header in candidates:
        index = table.column(header)
        if header not in kept_by_hand:
            solo = _solo_auc(header, [rows[i][index] for i in train_index], train_labels)
            named = SALES_VERDICT.search(header.casefold()) is not None
            if solo is not None and solo >= (LEAK_AUC_NAMED if named else LEAK_AUC):
                how = (
                    "almost perfectly"
                    if solo >= LEAK_AUC
                    else "too well for a column named like a sales verdict (status, tags, quality)"
                )
                excluded.append(
                    {
                        "column": header,
                        "why": f"predicts {target!r} {how} on its own "
                        f"(AUC {solo:.2f} where given): likely filled in after the outcome",
                    }
                )
                warnings.append(
                    f"column {header!r} alone predicts {target!r} {how} (AUC "
                    f"{solo:.2f} where given), so it was probably filled in after the outcome "
                    f"was known; it was left out (--keep {header!r} to use it)"
                )
                continue
        column_feature[header] = fields.get(header) or PROPERTY_PREFIX + header
    if not column_feature:
        shown = "; ".join(f"{item['column']!r}: {item['why']}" for item in excluded[:6])
        more = f"; and {len(excluded) - 6} more" if len(excluded) > 6 else ""
        raise BacktestError(
            "no column is left to learn from once identifiers, contact data and likely leaks "
            f"are left out ({shown}{more}); --keep COLUMN uses one anyway"
        )

    leads = [_lead(table.headers, row, fields) for row in rows]
    return Prepared(
        leads=leads,
        labels=labels,
        line_numbers=[i + 2 for i in usable],
        order=None if order is None else [key if key is not None else -math.inf for key in order],
        train_index=train_index,
        test_index=test_index,
        column_feature=column_feature,
        excluded=excluded,
        warnings=warnings,
        positive=good,
    )


def _lead(headers: Sequence[str], row: Sequence[str], fields: Mapping[str, str]) -> dict[str, Any]:
    lead: dict[str, Any] = {}
    properties: dict[str, str] = {}
    for header, value in zip(headers, row, strict=True):
        name = fields.get(header)
        if name:
            lead.setdefault(name, value)
        else:
            properties[header] = value
    lead["properties"] = properties
    return lead


def rate_by_score(
    train_scores: Sequence[float], train_labels: Sequence[int], scores: Sequence[float]
) -> list[float]:
    """Probabilities for a ranking that has none (the rules' fit scores): the training rows'
    outcome rate at each score, pulled towards the overall rate when a score is rare."""
    prior = sum(train_labels) / len(train_labels)
    at: dict[float, list[int]] = {}
    for score, label in zip(train_scores, train_labels, strict=True):
        at.setdefault(score, []).append(label)
    rate = {score: (sum(ys) + 2 * prior) / (len(ys) + 2) for score, ys in at.items()}
    return [rate.get(score, prior) for score in scores]


def compare(
    model: Model,
    test_rows: Sequence[Mapping[str, Any]],
    test_labels: Sequence[int],
    fits: tuple[Sequence[float], Sequence[int], Sequence[float]],
) -> dict[str, Any]:
    """The learned model and the rules on the same test rows. ``fits`` are the rules' fit
    scores of the training rows, their labels, and the fit scores of the test rows."""
    learned = [model.probability(row) for row in test_rows]
    train_fits, train_labels, test_fits = fits
    return {
        "learned": metrics.summary(test_labels, learned),
        "rules": metrics.summary(
            test_labels, rate_by_score(train_fits, train_labels, test_fits), ranking=test_fits
        ),
    }


def _rule_fields(rules: Sequence[FitRule]) -> set[str]:
    return {rule.field for rule in rules}


def _operator(rule: FitRule) -> str:
    if rule.contains is not None:
        return f"contains {rule.contains!r}"
    if rule.in_ is not None:
        return f"in {rule.in_!r}"
    if rule.equals is not None:
        return f"equals {rule.equals!r}"
    if rule.at_least is not None:
        return f"at_least {rule.at_least:g}"
    return f"below {rule.below:g}"


def _unmatched_rules(
    rules: Sequence[FitRule], leads: Sequence[Mapping[str, Any]], readable: set[str]
) -> list[str]:
    """A fit rule that reads a column of the file but matches none of its rows ranks every row
    alike on it (country codes against full country names): one warning per such rule."""
    warnings = []
    for rule in rules:
        if rule.field not in readable:
            continue
        values = [value for lead in leads if category(value := _field_value(lead, rule.field))]
        if not values or any(match_rule(rule, lead) is not None for lead in leads):
            continue
        common = Counter(str(value).strip() for value in values).most_common(4)
        shown = ", ".join(repr(text) for text, _ in common)
        warnings.append(
            f"the fit rule on {rule.field!r} ({_operator(rule)}) matches no row of this file, "
            f"whose values look like {shown}: the rules rank every row alike on it"
        )
    return warnings


def _field_value(lead: Mapping[str, Any], name: str) -> Any:
    if name.startswith(PROPERTY_PREFIX):
        return (lead.get("properties") or {}).get(name.removeprefix(PROPERTY_PREFIX))
    return lead.get(name)


def _clean(value: Any) -> Any:
    """NaN and infinities have no place in JSON."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {key: _clean(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_clean(item) for item in value]
    return value


def run(
    table: Table, options: Options, fields: Mapping[str, str], rules: Sequence[FitRule]
) -> tuple[dict[str, Any], Prepared, Model]:
    """The backtest report (JSON-ready), the prepared history and the model trained on the
    training rows."""
    prepared = prepare(table, options, fields)
    train_rows = prepared.rows(prepared.train_index)
    train_labels = [prepared.labels[i] for i in prepared.train_index]
    model = train(
        train_rows,
        train_labels,
        features=prepared.features,
        seed=options.seed,
        order=prepared.times(prepared.train_index),
    )
    test_rows = prepared.rows(prepared.test_index)
    test_labels = [prepared.labels[i] for i in prepared.test_index]
    fits = [fit_score(rules, lead)[0] for lead in prepared.leads]
    figures = compare(
        model,
        test_rows,
        test_labels,
        (
            [fits[i] for i in prepared.train_index],
            train_labels,
            [fits[i] for i in prepared.test_index],
        ),
    )

    warnings = prepared.warnings
    readable = {fields.get(header) or PROPERTY_PREFIX + header for header in table.headers}
    if not _rule_fields(rules) & readable:
        warnings.append(
            "none of the workspace's fit rules reads a column of this file, so the rules rank "
            "every row alike"
        )
    warnings.extend(_unmatched_rules(rules, prepared.leads, readable))
    names = prepared.feature_column()
    for pair in model.pairs:
        names[pair.name] = f"{names[pair.first]} x {names[pair.second]}"
    explained = []
    for position, row in enumerate(test_rows[:EXPLAINED_ROWS]):
        explanation = model.explain(row)
        explained.append(
            {
                "row": prepared.line_numbers[prepared.test_index[position]],
                "probability": explanation.probability,
                "log_odds": explanation.log_odds,
                "base": explanation.base,
                "contributions": [
                    {
                        "feature": names.get(c.feature, c.feature),
                        "value": c.value,
                        "points": c.points,
                        "cell": c.cell,
                    }
                    for c in explanation.contributions
                ],
            }
        )
    report = {
        "rows": len(prepared.labels),
        "train_rows": len(prepared.train_index),
        "test_rows": len(prepared.test_index),
        "split": "time" if options.time else "random",
        "split_detail": (
            f"the latest {options.test_share:.0%} of rows by {options.time!r} are the test set"
            if options.time
            else f"a stratified random {options.test_share:.0%} of rows (seed {options.seed}) "
            "are the test set"
        ),
        "target": options.target,
        "positive": prepared.positive,
        "positive_rate": sum(prepared.labels) / len(prepared.labels),
        "test_positive_rate": sum(test_labels) / len(test_labels),
        "scale": "log-odds",
        "features": [names[f.name] for f in model.features],
        "pairs": [f"{names[p.first]} x {names[p.second]}" for p in model.pairs],
        "capacity": model.capacity,
        **figures,
        "excluded": prepared.excluded,
        "warnings": warnings,
        "explained": explained,
        "encoding": table.encoding,
        "separator": table.separator,
    }
    return _clean(report), prepared, model
