"""`leadbot scoring backtest` as a user runs it, on synthetic histories with a planted signal,
planted ids, planted leaks and many missing answers."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest

from core.learning import metrics
from tests.commands import leadbot
from tests.lead_histories import IDS, LEAKS, history


@pytest.fixture(scope="module")
def planted(tmp_path_factory: pytest.TempPathFactory):
    generated = history(3000, seed=11)
    path = generated.write(tmp_path_factory.mktemp("histories") / "history.csv")
    return generated, path


def backtest(path: Path, *options: str, cwd: Path) -> dict:
    """The JSON report of ``leadbot scoring backtest PATH OPTIONS --json``, which must succeed."""
    result = leadbot("scoring", "backtest", str(path), *options, "--json", cwd=cwd)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def _adds_up(row: dict) -> None:
    log_odds = row["base"] + math.fsum(part["points"] for part in row["contributions"])
    assert log_odds == pytest.approx(row["log_odds"], abs=1e-9)
    assert 1 / (1 + math.exp(-log_odds)) == pytest.approx(row["probability"], abs=1e-9)


def test_backtest_recovers_the_planted_signal(planted, tmp_path):
    generated, path = planted
    report = backtest(path, "--target", "Converted", cwd=tmp_path)
    assert report["rows"] == 3000 and report["train_rows"] + report["test_rows"] == 3000
    assert report["test_rows"] == 900 and report["split"] == "random"
    assert report["positive_rate"] == pytest.approx(sum(generated.outcomes) / 3000)
    assert len(report["explained"]) == 5
    for row in report["explained"]:
        _adds_up(row)
    learned, rules = report["learned"], report["rules"]
    # The generator's own probabilities are the best any model can do.
    best = metrics.auc(generated.outcomes, generated.truth)
    assert learned["auc"] > rules["auc"] + 0.2
    assert learned["auc"] > best - 0.06
    assert learned["top_decile_rate"] > 2 * report["positive_rate"]
    for scorer in (learned, rules):
        assert {"auc", "brier", "log_loss", "top_decile_rate"} <= scorer.keys()
        assert len(scorer["calibration"]) == 10
    excluded = {item["column"]: item["why"] for item in report["excluded"]}
    for column in (*IDS, *LEAKS):
        assert column in excluded
    assert all(any(column in warning for warning in report["warnings"]) for column in LEAKS)
    assert "Total Time Spent on Website" in report["features"]
    assert not set(report["features"]) & set(excluded)


def test_out_of_time_split_keep_and_exclude(planted, tmp_path):
    _, path = planted
    report = backtest(
        path, "--target", "Converted", "--time", "Created", "--keep", "Tags", "--exclude", "City",
        cwd=tmp_path,
    )  # fmt: skip
    assert report["split"] == "time" and report["test_rows"] == 900
    excluded = {item["column"]: item["why"] for item in report["excluded"]}
    assert "Tags" not in excluded and "Tags" in report["features"]
    assert "--exclude" in excluded["City"] and "--time" in excluded["Created"]
    # Kept, the leak makes the backtest look far better than the planted signal allows.
    assert report["learned"]["auc"] > 0.95


def test_exclude_and_keep_take_several_columns_after_one_flag(planted, tmp_path):
    """`--exclude COL ...` as the contract writes it: one flag, several columns, or repeated."""
    _, path = planted
    report = backtest(
        path, "--target", "Converted", "--exclude", "City", "Country",
        "--exclude", "Specialization", "--keep", "Tags", "Lead Quality",
        cwd=tmp_path,
    )  # fmt: skip
    excluded = {item["column"]: item["why"] for item in report["excluded"]}
    for column in ("City", "Country", "Specialization"):
        assert "--exclude" in excluded[column]
    assert {"Tags", "Lead Quality"} <= set(report["features"])


def test_words_semicolons_latin1_and_blank_outcomes(tmp_path):
    generated = history(1500, seed=5)
    for row in generated.rows[:40]:
        row[generated.headers.index("Converted")] = ""
    status = generated.headers.index("Converted")
    for row in generated.rows:
        row[status] = {"1": "Converted", "0": "Lost", "": ""}[row[status]]
    generated.headers[generated.headers.index("Job Title")] = "Fonction (intitulé)"
    path = generated.write(tmp_path / "export.csv", encoding="latin-1", separator=";")
    report = backtest(path, "--target", "converted", "--positive", "CONVERTED", cwd=tmp_path)
    assert report["rows"] == 1460 and report["separator"] == ";"
    assert any("40 row(s) without an outcome" in w for w in report["warnings"])
    assert "Fonction (intitulé)" in report["features"]
    # Without --positive the words say which is good.
    assert backtest(path, "--target", "Converted", cwd=tmp_path)["positive"] == "converted"


def test_human_report(planted, tmp_path):
    _, path = planted
    result = leadbot("scoring", "backtest", str(path), "--target", "Converted", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert "ROC AUC" in result.stdout and "left out 'Tags'" in result.stdout
    assert "calibration" in result.stdout


@pytest.mark.parametrize(
    ("content", "args", "message"),
    [
        (None, ["--target", "Nope"], "no column 'Nope'"),
        (None, ["--target", "Magazine"], "one class only"),
        (None, ["--target", "Converted", "--time", "Lead Source"], "not sortable"),
        (None, ["--target", "Converted", "--positive", "maybe"], "is not a value"),
        (None, ["--target", "Lead Source"], "--positive"),
        (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00", ["--target", "x"], "not a CSV file"),
        (b"a,b\n", ["--target", "a"], "no rows"),
    ],
)
def test_bad_input_is_one_line_and_exit_2(planted, tmp_path, content, args, message):
    _, path = planted
    if content is not None:
        path = tmp_path / "bad.csv"
        path.write_bytes(content)
    before = path.read_bytes()
    result = leadbot("scoring", "backtest", str(path), *args, cwd=tmp_path)
    assert result.returncode == 2
    assert result.stdout == ""
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and message in lines[0] and "Traceback" not in result.stderr
    assert path.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == (["bad.csv"] if content else [])
