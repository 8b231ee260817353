"""Learned scoring: a backtest of a 10,000 x 40 history against a bare fit and predict of the
same model class, one lead's likelihood against scikit-learn's own predict of one row, and the
held-out accuracy of the additive model against gradient boosting on the same history."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from typing import Any

from benchmarks.common import Context, Figure, Skipped, best_of, timings
from core.config import load_config
from core.learning import metrics
from core.learning.backtest import Options
from core.learning.features import Happened, lead_features
from core.services.learning import backtest_file, header_fields
from tests.lead_histories import history

Rows = list[Figure | Skipped]
NOW = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)


def _onehot_baseline(headers: list[str], rows: list[list[str]], target: str) -> float:
    """The bare minimum: every column one-hot as text, one logistic regression, one predict."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.preprocessing import OneHotEncoder

    index = headers.index(target)
    x = [[value for i, value in enumerate(row) if i != index] for row in rows]
    y = [int(row[index]) for row in rows]
    cut = len(rows) * 7 // 10
    started = time.perf_counter()
    encoder = OneHotEncoder(handle_unknown="ignore", min_frequency=5)
    fitted = LogisticRegression(max_iter=1000).fit(encoder.fit_transform(x[:cut]), y[:cut])
    fitted.predict_proba(encoder.transform(x[cut:]))
    return time.perf_counter() - started


def _boosting_auc(prepared: Any) -> float:
    """Gradient boosting on the same kept columns and split, for the model choice."""
    import numpy as np
    from sklearn.ensemble import HistGradientBoostingClassifier

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


def bench_learning(context: Context) -> Rows:
    rows_count = context.size(10_000, 2_000)
    generated = history(rows_count, seed=21, extra_columns=10)
    assert len(generated.headers) == 40
    path = generated.write(context.scratch / "history.csv")
    config = _config()
    options = Options(target="Converted", time="Created")

    started = time.perf_counter()
    report, model = backtest_file(path, options, config)
    ours = time.perf_counter() - started
    baseline = _onehot_baseline(generated.headers, generated.rows, "Converted")
    size = f"{rows_count:,} x 40"
    out: Rows = [
        Figure(
            f"learning: backtest {size}",
            "s",
            ours,
            baseline,
            "< 60 s" if not context.quick else "-",
            ours < 60 if not context.quick else None,
            notes="baseline: one-hot + one logistic regression fit and predict, no CV, no guard",
        )
    ]

    lead = {"title": "VP Sales", "company_size": 800, "source": "referral", "properties": {}}
    lead["properties"] = dict(zip(generated.headers, generated.rows[0], strict=True))
    events = [Happened("page_view", NOW - timedelta(hours=i)) for i in range(200)]

    def score() -> None:
        model.explain(lead_features(lead, events, as_of=NOW))

    one = min(timings(score, 200))
    bare = _bare_predict(model, lead)
    out.append(
        Figure(
            "learning: score and explain one lead",
            "ms",
            one * 1e3,
            bare * 1e3,
            "< 5 ms",
            one * 1e3 < 5,
            notes="200 events, 30 columns; baseline: scikit-learn predict_proba of one row",
        )
    )

    from core.learning.backtest import prepare
    from core.learning.table import read_table

    table = read_table(path)
    prepared = prepare(table, options, header_fields(table.headers))
    boosted = _boosting_auc(prepared)
    best = metrics.auc(
        [generated.outcomes[prepared.line_numbers[i] - 2] for i in prepared.test_index],
        [generated.truth[prepared.line_numbers[i] - 2] for i in prepared.test_index],
    )
    out.append(
        Figure(
            "learning: held-out AUC, additive vs boosting",
            "AUC",
            report["learned"]["auc"],
            boosted,
            "-",
            None,
            higher_is_better=True,
            notes=f"rules {report['rules']['auc']:.3f}; the generator's own best {best:.3f}",
        )
    )
    return out


def _config() -> Any:
    from benchmarks.common import ROOT

    return load_config(ROOT / "leadbot.example.toml")


def _bare_predict(model: Any, lead: dict[str, Any]) -> float:
    """A fitted scikit-learn logistic regression of the same width predicting one row."""
    import numpy as np
    from sklearn.linear_model import LogisticRegression

    width = sum(len(feature.cells()) for feature in model.features)
    rng = np.random.default_rng(0)
    x = rng.integers(0, 2, size=(200, width)).astype(float)
    fitted = LogisticRegression(max_iter=200).fit(x, rng.integers(0, 2, size=200))
    row = x[:1]
    return best_of(lambda: fitted.predict_proba(row), repeat=200)
