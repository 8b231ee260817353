"""Synthetic lead histories of several shapes, each with planted effects the learned model must
find: rare positives, many numbers or many categories, sentinel values (999, -1, a count that is
mostly 0), a missing answer that means something, long-tailed categories, and one effect that
lives only in a pair of columns. They mirror no single public dataset on purpose.

``shape(name, rows, seed)`` returns a :class:`Synthetic` that writes itself as a CSV file (with
the shape's own separator and outcome words) and knows each row's true probability.
"""

from __future__ import annotations

import csv
import math
import random
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

START = datetime(2023, 1, 2, 8, 0, tzinfo=UTC)


def _sigmoid(x: float) -> float:
    return 1.0 / (1.0 + math.exp(-x))


def _intercept(logits: list[float], rate: float) -> float:
    """The shift that makes the mean probability ``rate``."""
    low, high = -20.0, 20.0
    for _ in range(60):
        middle = (low + high) / 2
        mean = sum(_sigmoid(x + middle) for x in logits) / len(logits)
        low, high = (middle, high) if mean < rate else (low, middle)
    return (low + high) / 2


@dataclass
class Synthetic:
    name: str
    headers: list[str]
    rows: list[list[str]]
    truth: list[float]
    outcomes: list[int]
    target: str
    positive: str
    separator: str = ","

    @property
    def positive_rate(self) -> float:
        return sum(self.outcomes) / len(self.outcomes)

    def write(self, path: Path) -> Path:
        with path.open("w", newline="", encoding="utf-8") as handle:
            writer = csv.writer(handle, delimiter=self.separator)
            writer.writerow(self.headers)
            writer.writerows(self.rows)
        return path


Row = dict[str, Any]


def _build(
    name: str,
    count: int,
    seed: int,
    rate: float,
    draw: Callable[[random.Random], tuple[Row, float]],
    *,
    target: str,
    words: tuple[str, str],
    separator: str = ",",
    decimal_comma: bool = False,
) -> Synthetic:
    rng = random.Random(seed)
    drawn = [draw(rng) for _ in range(count)]
    shift = _intercept([logit for _, logit in drawn], rate)
    headers = ["Created", *drawn[0][0].keys(), target]
    rows, truth, outcomes = [], [], []
    for index, (row, logit) in enumerate(drawn):
        probability = _sigmoid(logit + shift)
        outcome = int(rng.random() < probability)
        created = START + timedelta(minutes=37 * index + rng.randrange(30))
        cells = [created.strftime("%Y-%m-%d %H:%M")]
        for value in row.values():
            text = value if isinstance(value, str) else _number(value)
            cells.append(
                text.replace(".", ",") if decimal_comma and not isinstance(value, str) else text
            )
        cells.append(words[0] if outcome else words[1])
        rows.append(cells)
        truth.append(probability)
        outcomes.append(outcome)
    return Synthetic(name, headers, rows, truth, outcomes, target, words[0], separator)


def _number(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else f"{value:.3f}"


# --- numeric-heavy: counts, amounts, a 999 sentinel, a -1 sentinel, a numeric pair ------------

REGION = {"North": 0.3, "South": -0.2, "East": 0.0, "West": 0.5, "Central": -0.4}
CHANNEL = {"web": 0.0, "partner": 0.6, "event": 0.2, "cold": -0.7}
#: Days since the last contact, where 999 means "never contacted" and holds ~96% of rows.
NEVER = 999


def contact_effect(days: float) -> float:
    if days == NEVER:
        return 0.0
    return 1.6 if days < 7 else 0.6 if days < 30 else -0.4


def _numeric_row(rng: random.Random) -> tuple[Row, float]:
    visits = min(40, int(rng.expovariate(1 / 6)))
    pages = round(rng.lognormvariate(1.0, 0.6), 2)
    days = NEVER if rng.random() < 0.96 else rng.randrange(0, 60)
    delta = -1 if rng.random() < 0.3 else rng.randrange(0, 101)
    revenue = round(rng.lognormvariate(11, 1.2), -3) + 1000
    employees = int(rng.lognormvariate(4.5, 1.3)) + 1
    region, channel = rng.choice(list(REGION)), rng.choice(list(CHANNEL))
    logit = (
        0.12 * min(visits, 15)
        - 0.5 * (math.log(pages) - 1.0) ** 2
        + contact_effect(days)
        + (-0.6 if delta == -1 else 0.015 * (delta - 50))
        + 0.35 * (math.log10(revenue) - 4.8)
        + (0.7 if employees >= 200 else 0.0)
        + (1.3 if visits >= 8 and employees >= 200 else 0.0)  # the pair
        + REGION[region]
        + CHANNEL[channel]
    )
    row: Row = {
        "Visits": visits,
        "Pages Per Visit": pages,
        "Days Since Contact": days,
        "Score Delta": delta,
        "Annual Revenue": revenue,
        "Employees": employees,
        "Account Age": rng.randrange(0, 3000),
        "Noise A": round(rng.gauss(0, 1), 3),
        "Noise B": rng.randrange(0, 50),
        "Noise C": round(rng.random(), 3),
        "Region": region,
        "Channel": channel,
    }
    return row, logit


# --- categorical-heavy: long tails, an informative blank, a categorical pair, TRUE/FALSE ------

INDUSTRY = {
    "Software": 0.6,
    "Finance": 0.4,
    "Retail": -0.3,
    "Healthcare": 0.2,
    "Manufacturing": 0.0,
    "Education": -0.6,
    "Government": -0.4,
    "Media": 0.1,
    "Energy": 0.3,
    "Logistics": -0.1,
}
SOURCE = {"Webinar": 0.5, "Paid Search": -0.3, "Referral": 1.1, "Organic": 0.1, "Trade Show": 0.4}
SENIORITY = {"C-Level": 0.9, "VP": 0.7, "Director": 0.4, "Manager": 0.0, "Individual": -0.5}
PLAN = {"Enterprise": 0.3, "Team": 0.0, "Starter": -0.5, "Free": -1.0}
COUNTRIES = [f"Country {i:02d}" for i in range(40)]
REFERRERS = [f"site{i}.example" for i in range(30)]


def _categorical_row(rng: random.Random) -> tuple[Row, float]:
    industry = rng.choice(list(INDUSTRY))
    source_blank = rng.random() < 0.2
    source = rng.choice(["", "Select"]) if source_blank else rng.choice(list(SOURCE))
    seniority = rng.choice(list(SENIORITY))
    plan = rng.choices(list(PLAN), weights=[2, 3, 3, 2])[0]
    country = COUNTRIES[min(39, int(rng.expovariate(1 / 6)))]
    opens = 0 if rng.random() < 0.92 else rng.randrange(1, 25)
    logit = (
        INDUSTRY[industry]
        + (-0.9 if source_blank else SOURCE[source])
        + SENIORITY[seniority]
        + PLAN[plan]
        + (0.5 if country in COUNTRIES[:3] else 0.0)
        + (0.0 if opens == 0 else 0.1 * min(opens, 10))
        + (2.0 if industry in ("Software", "Finance") and plan == "Enterprise" else 0.0)
    )
    row: Row = {
        "Industry": industry,
        "Lead Source": source,
        "Seniority": seniority,
        "Plan Interest": plan,
        "Country": country,
        "Newsletter": rng.choice(["Yes", "No"]),
        "Device": rng.choice(["desktop", "mobile", "tablet"]),
        "Referrer": rng.choice(REFERRERS),
        "Email Opens": opens,
        "Visits": min(30, int(rng.expovariate(1 / 4))),
    }
    return row, logit


# --- mixed: both kinds, a -1 sentinel and a number x category pair ---------------------------

TIER = {"Gold": 0.6, "Silver": 0.2, "Bronze": -0.2, "None": -0.5}


def _mixed_row(rng: random.Random) -> tuple[Row, float]:
    tier = rng.choice(list(TIER))
    minutes = -1 if rng.random() < 0.25 else round(rng.expovariate(1 / 12), 1)
    trials = min(20, int(rng.expovariate(1 / 2)))
    seats = rng.choice([1, 1, 1, 2, 5, 10, 25, 50, 100])
    industry = rng.choice(list(INDUSTRY))
    logit = (
        TIER[tier]
        + (-0.7 if minutes == -1 else 0.4 * math.log1p(minutes) - 0.8)
        + 0.15 * trials
        + 0.25 * math.log(seats)
        + INDUSTRY[industry] * 0.7
        + (1.2 if tier == "Gold" and trials >= 3 else 0.0)  # the pair
    )
    row: Row = {
        "Tier": tier,
        "Minutes On Site": minutes,
        "Trials": trials,
        "Seats": seats,
        "Industry": industry,
        "Weekday": rng.choice(["Mon", "Tue", "Wed", "Thu", "Fri"]),
        "Noise": round(rng.gauss(0, 1), 3),
    }
    return row, logit


SHAPES = ("numeric", "categorical", "mixed")


def shape(name: str, rows: int, seed: int = 11) -> Synthetic:
    if name == "numeric":
        return _build(name, rows, seed, 0.08, _numeric_row, target="Converted", words=("1", "0"))
    if name == "categorical":
        return _build(
            name,
            rows,
            seed,
            0.12,
            _categorical_row,
            target="Won",
            words=("TRUE", "FALSE"),
            separator=";",
            decimal_comma=True,
        )
    if name == "mixed":
        return _build(name, rows, seed, 0.10, _mixed_row, target="Outcome", words=("yes", "no"))
    raise ValueError(f"unknown shape {name!r}")


def wide(rows: int, columns: int = 20, seed: int = 5) -> Synthetic:
    """A history of ``columns`` feature columns (beside the time and the outcome), for timing:
    the numeric shape's columns, then more noise and categories until there are enough."""

    def draw(rng: random.Random) -> tuple[Row, float]:
        row, logit = _numeric_row(rng)
        index = 0
        while len(row) < columns:
            row[f"Extra {index}"] = (
                rng.choice(REFERRERS) if index % 2 else round(rng.gauss(0, 1), 3)
            )
            index += 1
        return dict(list(row.items())[:columns]), logit

    return _build("wide", rows, seed, 0.1, draw, target="Converted", words=("1", "0"))


def boosting_auc(prepared: Any) -> float:
    """scikit-learn's HistGradientBoostingClassifier (defaults) on a backtest's kept columns and
    split: the accuracy the learned model must match."""
    import numpy as np
    from sklearn.ensemble import HistGradientBoostingClassifier

    from core.learning import metrics
    from core.learning.values import category, number

    features = prepared.features
    rows = prepared.rows(range(len(prepared.labels)))
    numeric = {
        name
        for name in features
        if sum(number(row.get(name)) is not None for row in rows)
        >= 0.9 * max(1, sum(category(row.get(name)) is not None for row in rows))
    }
    codes: dict[str, dict[str, int]] = {name: {} for name in features if name not in numeric}
    matrix = np.full((len(rows), len(features)), np.nan)
    for r, row in enumerate(rows):
        for c, name in enumerate(features):
            if name in numeric:
                value = number(row.get(name))
            else:
                text = category(row.get(name))
                value = None if text is None else codes[name].setdefault(text, len(codes[name]))
            if value is not None:
                matrix[r, c] = value
    mask = [name not in numeric for name in features]
    labels = np.asarray(prepared.labels)
    model = HistGradientBoostingClassifier(categorical_features=mask, random_state=0)
    model.fit(matrix[prepared.train_index], labels[prepared.train_index])
    scores = model.predict_proba(matrix[prepared.test_index])[:, 1]
    return metrics.auc(list(labels[prepared.test_index]), list(scores))
