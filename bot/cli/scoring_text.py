"""Plain-text renderings of learned-scoring results for the command line."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any


def _figure(value: Any, form: str) -> str:
    return "n/a" if value is None else format(value, form)


def backtest_lines(name: str, report: dict[str, Any]) -> Iterator[str]:
    yield (
        f"{name}: {report['rows']} rows with an outcome ({report['train_rows']} train, "
        f"{report['test_rows']} test: {report['split_detail']}); "
        f"{report['positive_rate']:.1%} are {report['positive']!r}"
    )
    learned, rules = report["learned"], report["rules"]
    yield f"  {'':<22}{'learned':>10}{'rules':>10}"
    for label, key, form in (
        ("ROC AUC", "auc", ".3f"),
        ("Brier score", "brier", ".3f"),
        ("log loss", "log_loss", ".3f"),
        ("top-decile rate", "top_decile_rate", ".1%"),
        ("top-decile lift", "top_decile_lift", ".2f"),
    ):
        yield f"  {label:<22}{_figure(learned[key], form):>10}{_figure(rules[key], form):>10}"
    yield "  calibration of the learned model (decile 1 = most likely):"
    yield f"    {'decile':>6}{'rows':>7}{'predicted':>11}{'observed':>10}"
    for row in learned["calibration"]:
        yield (
            f"    {row['decile']:>6}{row['rows']:>7}{row['predicted']:>11.1%}"
            f"{row['observed']:>10.1%}"
        )
    yield f"  learned from {len(report['features'])} column(s): {', '.join(report['features'])}"
    for item in report["excluded"]:
        yield f"  left out {item['column']!r}: {item['why']}"
    for warning in report["warnings"]:
        yield f"  warning: {warning}"
    if report["explained"]:
        first = report["explained"][0]
        yield (
            f"  row {first['row']} explained: base {first['base']:+.2f} log-odds, "
            f"then the largest contributions:"
        )
        for part in first["contributions"][:5]:
            yield f"    {part['feature']} = {part['value']!r}: {part['points']:+.2f}"
        yield f"    ... log-odds {first['log_odds']:+.2f}, probability {first['probability']:.1%}"


def version_lines(version: Any) -> Iterator[str]:
    """A model version in two lines: what it is, and how it did on its held-out rows."""
    window = (
        f", qualified {version.trained_from:%Y-%m-%d} to {version.trained_to:%Y-%m-%d}"
        if version.trained_from and version.trained_to
        else ""
    )
    mark = "* " if version.active else "  "
    state = {
        "promoted": "promoted",
        "chosen": "chosen with `scoring use`",
        "shadow": "shadow",
        "unchecked": "stored before promotion checks",
    }.get(version.status, version.status)
    state = f" ({'active, ' if version.active else ''}{state})"
    yield (
        f"{mark}version {version.id}{state}: trained {version.created_at:%Y-%m-%d %H:%M} UTC from "
        f"{version.source} on {version.rows} outcomes ({version.positives} good: "
        f"{version.positive}){window}"
    )
    figures = version.metrics or {}
    learned, rules = figures.get("learned", {}), figures.get("rules", {})
    yield (
        f"    held-out {figures.get('test_rows', '?')} rows: "
        f"AUC {_figure(learned.get('auc'), '.3f')}"
        f" (rules {_figure(rules.get('auc'), '.3f')}), Brier {_figure(learned.get('brier'), '.3f')}"
        f" (rules {_figure(rules.get('brier'), '.3f')}), top-decile rate "
        f"{_figure(learned.get('top_decile_rate'), '.0%')} (rules "
        f"{_figure(rules.get('top_decile_rate'), '.0%')})"
    )
    if version.decision:
        yield f"    {version.decision}"
    if version.active and version.status not in ("promoted", "chosen"):
        yield (
            f'    shown only: with use = "on" it qualifies no lead until '
            f"`leadbot scoring use {version.id}` chooses it"
        )
    for item in figures.get("excluded") or []:
        yield f"    left out {item['column']!r}: {item['why']}"
