"""The learned model on synthetic histories of several shapes: it finds each planted effect,
ranks as well as gradient boosting out of time, and its tables behave (sentinels, unseen
values, rare cells, missing answers, pairs that add up)."""

from __future__ import annotations

import json
import math
import random
from functools import cache
from pathlib import Path
from typing import Any

import pytest

from core.config import load_config
from core.learning.backtest import Options, Prepared, run
from core.learning.model import MISSING, Feature, Model, TrainingError, sigmoid, train
from core.learning.table import read_table
from core.services.learning import header_fields
from tests.synthetic_histories import SHAPES, Synthetic, boosting_auc, shape

ROOT = Path(__file__).resolve().parents[2]
ROWS = 12_000


@cache
def backtested(name: str, folder: str) -> tuple[Synthetic, dict[str, Any], Prepared, Model]:
    history = shape(name, ROWS, seed=11)
    path = history.write(Path(folder) / f"{name}.csv")
    table = read_table(path)
    config = load_config(ROOT / "leadbot.example.toml")
    report, prepared, model = run(
        table,
        Options(target=history.target, time="Created"),
        header_fields(table.headers),
        config.scoring.fit,
    )
    return history, report, prepared, model


@pytest.fixture(scope="module")
def folder(tmp_path_factory: pytest.TempPathFactory) -> str:
    return str(tmp_path_factory.mktemp("shapes"))


def _feature(model: Model, prepared: Prepared, header: str) -> Feature:
    name = prepared.column_feature[header]
    return next(feature for feature in model.features if feature.name == name)


def _points(feature: Feature, raw: Any) -> float:
    return feature.points[feature.cells.code(raw)]


@pytest.mark.parametrize("name", SHAPES)
def test_out_of_time_the_learned_model_ranks_as_well_as_boosting(name, folder):
    history, report, prepared, _ = backtested(name, folder)
    assert 0.05 <= history.positive_rate <= 0.15
    assert report["split"] == "time"
    boosted = boosting_auc(prepared)
    assert report["learned"]["auc"] >= boosted - 0.005, (report["learned"]["auc"], boosted)


def test_the_shapes_come_in_their_own_dress(folder):
    _, report, _, _ = backtested("categorical", folder)
    assert report["separator"] == ";" and report["positive"] == "true"
    _, report, _, _ = backtested("mixed", folder)
    assert report["separator"] == "," and report["positive"] == "yes"


def test_numeric_shape_effects_are_recovered(folder):
    _, report, prepared, model = backtested("numeric", folder)
    visits = _feature(model, prepared, "Visits")
    assert _points(visits, 14) > _points(visits, 1) + 0.5
    # 96% of rows never contacted (999): 999 has its own cell, the rest its ranges and points.
    contact = _feature(model, prepared, "Days Since Contact")
    assert 999.0 in contact.cells.spikes and len(contact.cells.edges) >= 2
    assert _points(contact, 3) > _points(contact, 45) + 0.5
    assert _points(contact, 3) > _points(contact, 999) + 0.5
    delta = _feature(model, prepared, "Score Delta")
    assert -1.0 in delta.cells.spikes
    assert _points(delta, -1) < _points(delta, 95) - 0.5
    employees = _feature(model, prepared, "Employees")
    assert _points(employees, 800) > _points(employees, 20) + 0.3
    first = model.pairs[0]
    wanted = {prepared.column_feature["Visits"], prepared.column_feature["Employees"]}
    assert {first.first, first.second} == wanted
    assert "Visits x Employees" in report["pairs"] or "Employees x Visits" in report["pairs"]


def test_categorical_shape_effects_are_recovered(folder):
    _, _, prepared, model = backtested("categorical", folder)
    industry = _feature(model, prepared, "Industry")
    assert _points(industry, "Software") > _points(industry, "Education") + 0.5
    source = _feature(model, prepared, "Lead Source")
    # A blank source means something here (-0.9 planted): missing gets its own points.
    assert source.points[MISSING] < -0.3
    assert _points(source, "Referral") > _points(source, "Paid Search") + 0.5
    opens = _feature(model, prepared, "Email Opens")
    assert 0.0 in opens.cells.spikes and len(opens.cells.edges) >= 1
    assert _points(opens, 12) > _points(opens, 0) + 0.3
    first = model.pairs[0]
    wanted = {prepared.column_feature["Industry"], prepared.column_feature["Plan Interest"]}
    assert {first.first, first.second} == wanted
    # The pair's table carries the planted effect: Software x Enterprise above Retail x Enterprise.
    a = first.cells[0] if first.first == prepared.column_feature["Industry"] else first.cells[1]
    rows = {first.first: None, first.second: None}
    software = dict(rows, **{prepared.column_feature["Industry"]: "Software"})
    retail = dict(rows, **{prepared.column_feature["Industry"]: "Retail"})
    plan = prepared.column_feature["Plan Interest"]
    assert a.code("Software") != a.code("Retail")
    assert (
        first.contribution({**software, plan: "Enterprise"}).points
        > first.contribution({**retail, plan: "Enterprise"}).points + 0.3
    )


def test_mixed_shape_effects_are_recovered(folder):
    _, _, prepared, model = backtested("mixed", folder)
    minutes = _feature(model, prepared, "Minutes On Site")
    assert -1.0 in minutes.cells.spikes
    assert _points(minutes, -1) < _points(minutes, 40) - 0.5
    first = model.pairs[0]
    assert {first.first, first.second} == {
        prepared.column_feature["Tier"],
        prepared.column_feature["Trials"],
    }


@pytest.mark.parametrize("name", SHAPES)
def test_explained_rows_add_up_pairs_included(name, folder):
    _, report, prepared, model = backtested(name, folder)
    assert model.pairs
    for row in prepared.rows(prepared.test_index[:200]):
        explanation = model.explain(row)
        total = math.fsum([explanation.base, *(c.points for c in explanation.contributions)])
        assert total == pytest.approx(explanation.log_odds, abs=1e-12)
        assert sigmoid(total) == pytest.approx(model.probability(row), abs=1e-12)
        assert sum(" x " in c.feature for c in explanation.contributions) == len(model.pairs)
    for row in report["explained"]:
        total = math.fsum([row["base"], *(c["points"] for c in row["contributions"])])
        assert total == pytest.approx(row["log_odds"], abs=1e-9)
    copy = Model.from_data(json.loads(json.dumps(model.as_data(), allow_nan=False)))
    rows = prepared.rows(prepared.test_index[:100])
    assert [copy.log_odds(row) for row in rows] == [model.log_odds(row) for row in rows]


def _sentinel_rows(count: int, seed: int = 3) -> tuple[list[dict[str, Any]], list[int]]:
    rng = random.Random(seed)
    rows, labels = [], []
    for _ in range(count):
        days = 999 if rng.random() < 0.96 else rng.randrange(0, 90)
        plan = rng.choice(["Pro", "Basic"] * 20 + ["Rare"])
        logit = -2.2 + (0 if days == 999 else (2.5 if days < 10 else -1.5 if days > 60 else 0.5))
        rows.append({"properties.days": str(days), "properties.plan": plan})
        labels.append(int(rng.random() < sigmoid(logit + (1.0 if plan == "Rare" else 0.0))))
    return rows, labels


def test_a_column_96_percent_at_one_sentinel_gets_ranges_and_points():
    rows, labels = _sentinel_rows(8000)
    model = train(rows, labels)
    days = next(f for f in model.features if f.name == "properties.days")
    assert days.cells.spikes == (999.0,)
    assert len(days.cells.edges) >= 2
    assert _points(days, 5) - _points(days, 80) > 1.5
    explanation = model.explain({"properties.days": "7", "properties.plan": "Pro"})
    part = next(c for c in explanation.contributions if c.feature == "properties.days")
    assert part.value == 7.0
    assert part.cell and (part.cell[0].isdigit() or part.cell.startswith(("<=", ">=")))


def test_unseen_and_never_missing_values_get_no_points_and_rare_cells_shrink():
    rows, labels = _sentinel_rows(8000)
    model = train(rows, labels)
    plan = next(f for f in model.features if f.name == "properties.plan")
    explanation = model.explain({"properties.days": "999", "properties.plan": "Never Seen"})
    part = next(c for c in explanation.contributions if c.feature == "properties.plan")
    assert part.points == 0.0 and part.cell == "not seen in training"
    assert part.value == "Never Seen"  # as written, not case-folded
    # No row lacked a plan in training: a lead without one gets 0, not minus the mean.
    assert plan.points[MISSING] == 0.0
    # A value seen in a handful of rows, all of them good, is pulled towards 0: a few points,
    # not the unbounded log-odds of 6 out of 6; one seen twice gets none at all.
    rng = random.Random(5)
    few = [{"properties.tag": rng.choice("xy")} for _ in range(1500)]
    few_labels = [int(rng.random() < 0.1) for _ in range(1500)]
    few += [{"properties.tag": "lucky"}] * 6 + [{"properties.tag": "twice"}] * 2
    few_labels += [1] * 8
    tag = train(few, few_labels).features[0]
    assert 0.0 < _points(tag, "lucky") < 2.0
    assert _points(tag, "twice") == 0.0


def test_a_first_format_model_still_scores():
    old = {
        "format": 1,
        "scale": "log-odds",
        "base": -1.0,
        "features": [
            {"name": "n", "kind": "numeric", "missing": 0.1, "edges": [5.0], "points": [-0.2, 0.3]},
            {
                "name": "c",
                "kind": "categorical",
                "missing": 0.0,
                "levels": {"a": 0.4},
                "other": -0.1,
            },
        ],
    }
    model = Model.from_data(old)
    assert model.log_odds({"n": 7, "c": "a"}) == pytest.approx(-1.0 + 0.3 + 0.4)
    assert model.log_odds({"c": "zzz"}) == pytest.approx(-1.0 + 0.1 - 0.1)


def test_one_class_still_refused():
    rows, _ = _sentinel_rows(300)
    with pytest.raises(TrainingError, match="one class"):
        train(rows, [0] * 300)


def _table(headers: list[str], rows: list[list[str]]) -> Any:
    from core.learning.table import Table

    return Table(headers, rows, "utf-8", ",")


def test_a_fit_rule_matching_no_row_is_warned_about():
    from core.config import FitRule

    rng = random.Random(2)
    rows = [
        [rng.choice(["Germany", "France", "Spain"]), str(rng.randrange(50)), str(int(i % 4 == 0))]
        for i in range(400)
    ]
    table = _table(["Country", "Visits", "Converted"], rows)
    codes = FitRule.model_validate({"field": "country", "in": ["DE", "FR"], "points": 30})
    size = FitRule.model_validate({"field": "properties.Visits", "at_least": 10, "points": 5})
    report, _, _ = run(table, Options(target="Converted"), {"Country": "country"}, [codes, size])
    matching = [w for w in report["warnings"] if "matches no row" in w]
    assert len(matching) == 1
    assert "'country'" in matching[0] and "'Germany'" in matching[0]


def test_no_column_left_after_the_leak_guard_says_which_and_why():
    from core.learning.backtest import BacktestError

    rows = [[f"id-{i}", "won" if i % 3 == 0 else "lost", str(int(i % 3 == 0))] for i in range(300)]
    table = _table(["Lead ID", "Status", "Converted"], rows)
    with pytest.raises(BacktestError, match="no column is left") as caught:
        run(table, Options(target="Converted"), {}, [])
    assert "'Status'" in str(caught.value) and "'Lead ID'" in str(caught.value)
