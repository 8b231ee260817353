"""Learned scoring use cases: backtest a history file, train and store model versions, pick the
active one, and score a stored lead with it."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from core.config import WorkspaceConfig
from core.learning.backtest import BacktestError, Options, run
from core.learning.model import Model, TrainingError
from core.learning.table import TableError, read_table
from core.services import imports


class LearningError(Exception):
    """A request the learned scoring cannot serve; the message is one line for a person."""


def header_fields(headers: Sequence[str]) -> dict[str, str]:
    """Header -> lead field, exactly as the CSV import maps it (the first header per field)."""
    fields: dict[str, str] = {}
    for header in headers:
        name = imports._LOOKUP.get(imports._key(header))
        if name and name not in fields.values():
            fields[header] = name
    return fields


def backtest_file(
    path: Path, options: Options, config: WorkspaceConfig
) -> tuple[dict[str, Any], Model]:
    """The backtest report of a history file, and the model trained on its training rows."""
    try:
        table = read_table(path)
        report, _, model = run(table, options, header_fields(table.headers), config.scoring.fit)
    except (TableError, BacktestError, TrainingError) as exc:
        raise LearningError(f"{path}: {exc}") from exc
    return report, model
