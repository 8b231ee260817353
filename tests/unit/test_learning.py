"""Learned scoring, pure: features as of a moment, the additive model, metrics, history files."""

from __future__ import annotations

import math
import random
from datetime import UTC, datetime, timedelta

import pytest

from core.learning import metrics
from core.learning.features import Happened, lead_features
from core.learning.model import Model, TrainingError, sigmoid, train
from core.learning.table import TableError, read_table
from core.learning.values import category, number, timestamp

NOW = datetime(2026, 11, 2, 9, 0, tzinfo=UTC)


def test_features_look_at_nothing_after_the_moment():
    events = [
        Happened("webinar_attended", NOW - timedelta(days=3)),
        Happened("webinar_attended", NOW - timedelta(days=1)),
        Happened("demo_request", NOW + timedelta(hours=1)),  # after: must not count
    ]
    lead = {
        "title": "VP Sales",
        "source": "webinar",
        "properties": {"budget": "10k", "n": {"x": 1}},
    }
    features = lead_features(lead, events, as_of=NOW)
    assert features["events.webinar_attended.count"] == 2
    assert features["events.webinar_attended.days_since_last"] == pytest.approx(1.0)
    assert "events.demo_request.count" not in features
    assert features["properties.budget"] == "10k"
    assert "properties.n" not in features  # nested objects are no feature
    assert features["title"] == "VP Sales" and "email" not in features


@pytest.mark.parametrize(
    ("raw", "missing"),
    [
        ("", True),
        ("Select", True),
        ("  n/a ", True),
        ("N/A", True),
        ("-", True),
        (None, True),
        ("Google", False),
        ("0", False),
        (0, False),
        (float("nan"), True),
    ],
)
def test_missing_words(raw, missing):
    assert (category(raw) is None) is missing


def test_numbers_and_times():
    assert number("1,5") == 1.5 and number("12") == 12.0 and number("12 kg") is None
    assert number("1e3") == 1000.0 and number("inf") is None
    assert timestamp("2024-03-01") == datetime(2024, 3, 1, tzinfo=UTC).timestamp()
    assert timestamp("01.03.2024") == timestamp("2024-03-01")
    assert timestamp("soon") is None


def _rows(count: int, seed: int = 1):
    rng = random.Random(seed)
    rows, labels = [], []
    for _ in range(count):
        source = rng.choice(["webinar", "ads", "referral", "Select"])
        visits = rng.randrange(0, 20)
        logit = (
            {"webinar": 0.5, "ads": -1.0, "referral": 1.5, "Select": 0.0}[source] + 0.1 * visits - 1
        )
        rows.append(
            {
                "source": source,
                "properties.visits": str(visits),
                "properties.noise": rng.choice("ab"),
            }
        )
        labels.append(int(rng.random() < sigmoid(logit)))
    return rows, labels


def test_every_likelihood_is_base_plus_points_exactly():
    rows, labels = _rows(800)
    model = train(rows, labels)
    for row in [*rows[:50], {}, {"source": "never seen", "properties.visits": "999"}]:
        explanation = model.explain(row)
        log_odds = explanation.base + math.fsum(c.points for c in explanation.contributions)
        assert log_odds == pytest.approx(explanation.log_odds, abs=1e-12)
        assert sigmoid(log_odds) == pytest.approx(model.probability(row), abs=1e-12)
        assert 0.0 < explanation.probability < 1.0
        assert [abs(c.points) for c in explanation.contributions] == sorted(
            (abs(c.points) for c in explanation.contributions), reverse=True
        )


def test_the_model_learns_the_planted_order_and_survives_json():
    rows, labels = _rows(2000)
    model = train(rows, labels)
    referral = model.probability({"source": "referral", "properties.visits": "10"})
    ads = model.probability({"source": "ads", "properties.visits": "10"})
    assert referral > ads
    assert model.probability({"source": "webinar", "properties.visits": "18"}) > model.probability(
        {"source": "webinar", "properties.visits": "1"}
    )
    import json

    copy = Model.from_data(json.loads(json.dumps(model.as_data())))
    assert all(copy.probability(row) == model.probability(row) for row in rows[:100])
    explanation = copy.explain({"source": "Select", "properties.visits": "3"})
    source = next(c for c in explanation.contributions if c.feature == "source")
    assert source.value is None  # "Select" is missing, and shown as such


def test_training_refuses_one_class():
    rows, _ = _rows(50)
    with pytest.raises(TrainingError, match="one class"):
        train(rows, [1] * 50)


def test_auc_and_top_decile_handle_ties():
    assert metrics.auc([0, 0, 1, 1], [0.1, 0.4, 0.35, 0.8]) == pytest.approx(0.75)
    assert metrics.auc([0, 1, 0, 1], [1, 1, 1, 1]) == pytest.approx(0.5)
    # Every row tied: the top decile is the base rate, whatever the order of the rows.
    labels = [1] * 30 + [0] * 70
    assert metrics.top_share_rate(labels, [5.0] * 100) == pytest.approx(0.3)
    table = metrics.calibration(labels, [i / 100 for i in range(100)])
    assert [row["rows"] for row in table] == [10] * 10 and table[0]["predicted"] > table[-1][
        "predicted"
    ]


@pytest.mark.parametrize(
    ("content", "encoding", "separator"),
    [
        ('\ufeffName;Score;Note\nAda;1,5;"a; b"\nBob;2;x\n', "utf-8", ";"),
        ('Name,Score,Note\nJos\u00e9,1.5,"a, b"\nBob,2,x\n', "latin-1", ","),
        ("Name\tScore\tNote\nAda\t1\ta, b\nBob\t2\ty\n", "utf-16", "\t"),
    ],
)
def test_history_files_in_any_dress(tmp_path, content, encoding, separator):
    path = tmp_path / "h.csv"
    path.write_bytes(content.encode(encoding))
    table = read_table(path)
    assert table.headers == ["Name", "Score", "Note"]
    assert table.separator == separator
    assert len(table.rows) == 2 and table.rows[0][2] in ("a; b", "a, b")
    assert table.rows[0][0] in ("Ada", "Jos\u00e9")


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR", "not a CSV"),
        (b"", "empty"),
        (b"just one column\nx\n", "one column"),
    ],
)
def test_unreadable_files_say_why(tmp_path, content, message):
    path = tmp_path / "h.csv"
    path.write_bytes(content)
    with pytest.raises(TableError, match=message):
        read_table(path)


def test_scikit_learn_is_imported_only_by_the_learning_package():
    import ast
    from pathlib import Path

    root = Path(__file__).resolve().parents[2]
    offenders = []
    for path in [*root.glob("core/**/*.py"), *root.glob("bot/**/*.py")]:
        if path.is_relative_to(root / "core" / "learning"):
            continue
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            names = (
                [alias.name for alias in node.names]
                if isinstance(node, ast.Import)
                else [node.module or ""]
                if isinstance(node, ast.ImportFrom)
                else []
            )
            if any(name.split(".")[0] in ("sklearn", "interpret") for name in names):
                offenders.append(str(path.relative_to(root)))
    assert offenders == []


def test_a_history_file_is_read_as_an_import_is(tmp_path):
    """One encoding rule for imports and histories: short Windows-1252 text, which an
    unrestricted guess reads as another code page, comes out as written."""
    from core.csvread import detect_encoding

    raw = "Name,Company\nJoão,Müller GmbH\nZoë,Straße AG\n".encode("cp1252")
    path = tmp_path / "h.csv"
    path.write_bytes(raw)
    table = read_table(path)
    assert table.encoding == detect_encoding(raw)[0]
    assert table.rows == [["João", "Müller GmbH"], ["Zoë", "Straße AG"]]  # not "Joăo" (cp1250)
    with pytest.raises(TableError, match="is a directory"):
        read_table(tmp_path)
