"""The learned model: an additive model of log-odds kept as plain JSON data.

Every feature has a table of points per cell (:mod:`core.learning.terms`), a few chosen pairs of
features have a joint table, and

    log-odds = base + sum of points,   probability = 1 / (1 + exp(-log-odds))

hold exactly. The tables are learned by cyclic gradient boosting (:mod:`core.learning.boosting`),
so they reach the accuracy of boosted trees while a lead's score stays a sum a person can read.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from core.learning.boosting import BINS_GRID, MAX_LEVELS, encode, layout, read_column, train
from core.learning.terms import (
    MISSING,
    Cells,
    Contribution,
    Explanation,
    Feature,
    Model,
    Pair,
    TrainingError,
    sigmoid,
)

__all__ = [
    "MISSING",
    "Cells",
    "Contribution",
    "Explanation",
    "Feature",
    "Model",
    "Pair",
    "TrainingError",
    "cell_codes",
    "sigmoid",
    "train",
]


def cell_codes(name: str, raws: Sequence[Any], *, min_count: int) -> list[int] | None:
    """The cell of each raw value of one column, cut as training would cut it (``MISSING``
    where blank); None when the column carries nothing."""
    column = read_column(name, raws)
    if column is None:
        return None
    rows = np.arange(len(raws), dtype=np.intp)
    cells = layout(column, rows, bins=BINS_GRID[0], max_levels=MAX_LEVELS, min_count=min_count)
    return [int(code) for code in encode(cells, column)]
