"""Lead stages and the transitions between them (the contract's table). Pure: no I/O, no clock."""

from __future__ import annotations

from enum import StrEnum

from core.refusals import Refusal


class Stage(StrEnum):
    LEAD = "lead"
    MQL = "mql"
    PQL = "pql"
    SAL = "sal"
    SQL = "sql"
    SQO = "sqo"
    NURTURE = "nurture"
    UNQUALIFIED = "unqualified"


#: Allowed moves: from-stage -> the stages it may go to.
TRANSITIONS: dict[Stage, frozenset[Stage]] = {
    Stage.LEAD: frozenset({Stage.MQL, Stage.PQL}),
    Stage.NURTURE: frozenset({Stage.MQL, Stage.PQL}),
    Stage.MQL: frozenset({Stage.SAL, Stage.NURTURE, Stage.UNQUALIFIED}),
    Stage.PQL: frozenset({Stage.SAL, Stage.NURTURE, Stage.UNQUALIFIED}),
    Stage.SAL: frozenset({Stage.SQL, Stage.NURTURE, Stage.UNQUALIFIED}),
    Stage.SQL: frozenset({Stage.SQO, Stage.NURTURE, Stage.UNQUALIFIED}),
    Stage.SQO: frozenset(),
    Stage.UNQUALIFIED: frozenset(),
}

#: Stages a lead is "open" in: somebody in sales is expected to act.
QUALIFIED = frozenset({Stage.MQL, Stage.PQL})
OPEN = frozenset({Stage.MQL, Stage.PQL, Stage.SAL, Stage.SQL})


class IllegalTransition(Refusal):
    """A move the transition table does not allow; the message names the current stage."""

    def __init__(self, current: Stage, target: Stage) -> None:
        self.current = current
        self.target = target
        allowed = sorted(TRANSITIONS[current])
        hint = (
            f"from {current.value} it can go to {', '.join(allowed)}"
            if allowed
            else (f"{current.value} is final")
        )
        super().__init__(
            f"The lead is {current.value}, so it cannot move to {target.value} ({hint})."
        )


def can_move(current: Stage | str, target: Stage | str) -> bool:
    return Stage(target) in TRANSITIONS[Stage(current)]


def check_move(current: Stage | str, target: Stage | str) -> None:
    """Raise :class:`IllegalTransition` unless ``current -> target`` is in the table."""
    if not can_move(current, target):
        raise IllegalTransition(Stage(current), Stage(target))
