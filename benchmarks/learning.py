"""Learned scoring: a backtest of a 10,000 x 40 history against a bare fit and predict of a
one-hot logistic regression, one lead's likelihood against scikit-learn's own predict of one
row, the held-out accuracy of the additive model against gradient boosting on the same history
and on each synthetic shape (tests/synthetic_histories.py), and a 50,000 x 20 backtest's time
and peak memory in a process of its own."""

from __future__ import annotations

import json
import subprocess
import sys
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
from tests.synthetic_histories import SHAPES, boosting_auc, shape

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
    boosted = boosting_auc(prepared)
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
    out.extend(_shapes(context))
    out.append(_large(context))
    return out


def _shapes(context: Context) -> Rows:
    """Out of time, on each synthetic shape: the learned model's AUC against boosting's."""
    from core.learning.backtest import run
    from core.learning.table import read_table

    out: Rows = []
    count = context.size(20_000, 4_000)
    for name in SHAPES:
        synthetic = shape(name, count, seed=11)
        path = synthetic.write(context.scratch / f"shape-{name}.csv")
        table = read_table(path)
        options = Options(target=synthetic.target, time="Created")
        report, prepared, _ = run(
            table, options, header_fields(table.headers), _config().scoring.fit
        )
        boosted = boosting_auc(prepared)
        ours = report["learned"]["auc"]
        out.append(
            Figure(
                f"learning: AUC on the {name} shape, additive vs boosting",
                "AUC",
                ours,
                boosted,
                ">= boosting - 0.005",
                ours >= boosted - 0.005 if not context.quick else None,
                higher_is_better=True,
                notes=f"{count:,} rows, {synthetic.positive_rate:.0%} positive; "
                f"pairs {', '.join(report['pairs']) or 'none'}",
            )
        )
        del prepared
    return out


_LARGE = """
import json, resource, sys, time
from pathlib import Path
from core.config import load_config
from core.learning.backtest import Options
from core.services.learning import backtest_file
started = time.perf_counter()
backtest_file(Path(sys.argv[1]), Options(target="Converted", time="Created"),
              load_config(Path(sys.argv[2])))
print(json.dumps({"seconds": time.perf_counter() - started,
                  "peak_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))
"""


def _large(context: Context) -> Figure:
    """A 50,000 x 20 history backtested in a process of its own: seconds and peak memory."""
    from benchmarks.common import ROOT
    from tests.synthetic_histories import wide

    count = context.size(50_000, 5_000)
    path = wide(count, 20).write(context.scratch / "wide.csv")
    done = subprocess.run(
        [sys.executable, "-c", _LARGE, str(path), str(ROOT / "leadbot.example.toml")],
        capture_output=True,
        text=True,
        check=True,
        cwd=ROOT,
    )
    figures = json.loads(done.stdout.strip().splitlines()[-1])
    seconds, peak = figures["seconds"], figures["peak_mib"]
    return Figure(
        f"learning: backtest {count:,} x 20 in its own process",
        "s",
        seconds,
        None,
        "< 90 s, peak < 1 GiB" if not context.quick else "-",
        (seconds < 90 and peak < 1024) if not context.quick else None,
        notes=f"peak memory {peak:,.0f} MiB (the whole process, Python included)",
    )


def _config() -> Any:
    from benchmarks.common import ROOT

    return load_config(ROOT / "leadbot.example.toml")


def _bare_predict(model: Any, lead: dict[str, Any]) -> float:
    """A fitted scikit-learn logistic regression of the same width predicting one row."""
    import numpy as np
    from sklearn.linear_model import LogisticRegression

    width = sum(feature.cells.size for feature in model.features)
    rng = np.random.default_rng(0)
    x = rng.integers(0, 2, size=(200, width)).astype(float)
    fitted = LogisticRegression(max_iter=200).fit(x, rng.integers(0, 2, size=200))
    row = x[:1]
    return best_of(lambda: fitted.predict_proba(row), repeat=200)
