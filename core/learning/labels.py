"""What a lead's stage history says about the outcome of its qualification.

The moment is the lead's first entry into ``mql`` or ``pql``. The label is 1 when it reached the
positive stage within the window after that moment; 0 when sales rejected, disqualified or
nurtured it without that, or when the window passed without it; None (not used yet) while it is
still open inside the window.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

QUALIFIED = frozenset({"mql", "pql"})
SENT_BACK = frozenset({"nurture", "unqualified"})
#: Stages that can only be reached through the one before (sqo only from sql, sql only from sal).
LATER = {"sal": ("sal", "sql", "sqo"), "sql": ("sql", "sqo"), "sqo": ("sqo",)}


@dataclass(frozen=True)
class Move:
    to_stage: str
    at: datetime


def qualified_at(moves: Sequence[Move]) -> datetime | None:
    return min((move.at for move in moves if move.to_stage in QUALIFIED), default=None)


def label(
    moves: Sequence[Move], *, positive_stage: str, window_days: int, now: datetime
) -> tuple[datetime, int | None] | None:
    """``(moment, label)`` for a lead that was qualified, else None."""
    moment = qualified_at(moves)
    if moment is None:
        return None
    end = moment + timedelta(days=window_days)
    reached = LATER.get(positive_stage, (positive_stage,))
    if any(move.to_stage in reached and moment <= move.at <= end for move in moves):
        return moment, 1
    if any(move.to_stage in SENT_BACK and moment <= move.at <= end for move in moves):
        return moment, 0
    return moment, (0 if now > end else None)
