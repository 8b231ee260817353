"""Stage changes through the service: compare-and-set plus the audit row, on both engines."""

import threading

import pytest
from sqlalchemy import func, select

from core.lifecycle import IllegalTransition, Stage
from core.models import Lead, StageTransition
from core.services.stages import Conflict, transition
from tests.factories import T0, accept, make_lead


def count(db, model, **where):
    with db.transaction() as s:
        return s.scalar(select(func.count()).select_from(model).filter_by(**where))


def test_transition_writes_stage_and_audit(db):
    with db.transaction() as s:
        lead = make_lead(s, stage="mql")
        row = transition(s, lead, Stage.SAL, actor="U0REP1", now=T0, reason="accepted")
        lead_id = lead.id
    with db.transaction() as s:
        lead = s.get(Lead, lead_id)
        assert (lead.stage, lead.owner, lead.version, lead.stage_changed_at) == (
            "sal",
            None,  # a move never changes the owner: that is owners.change_owner's (and history)
            2,
            T0,
        )
        audit = s.get(StageTransition, row.id)
        assert (audit.from_stage, audit.to_stage, audit.actor, audit.reason, audit.at) == (
            "mql",
            "sal",
            "U0REP1",
            "accepted",
            T0,
        )


@pytest.mark.parametrize(
    ("start", "target"),
    [("lead", "sqo"), ("lead", "sal"), ("unqualified", "mql"), ("sqo", "sql"), ("mql", "sql")],
)
def test_illegal_transitions_change_nothing(db, start, target):
    with db.transaction() as s:
        lead_id = make_lead(s, stage=start).id
    with pytest.raises(IllegalTransition, match=f"The lead is {start}"), db.transaction() as s:
        transition(s, s.get(Lead, lead_id), Stage(target), actor="U0REP1", now=T0)
    with db.transaction() as s:
        assert s.get(Lead, lead_id).stage == start
        assert s.get(Lead, lead_id).version == 1
    assert count(db, StageTransition) == 0


def test_expected_stage_mismatch_names_the_winner(db):
    with db.transaction() as s:
        lead = make_lead(s, stage="mql")
        accept(s, lead, "U0REP2", T0)
        lead_id = lead.id
    with (
        pytest.raises(Conflict, match=r"Too late: U0REP2 already moved this lead to sal"),
        db.transaction() as s,
    ):
        transition(s, s.get(Lead, lead_id), Stage.SAL, actor="U0REP1", now=T0, expect={Stage.MQL})


def test_twenty_threads_race_for_one_accept(db):
    with db.transaction() as s:
        lead_id = make_lead(s, stage="mql").id
    barrier = threading.Barrier(20)
    outcomes: dict[str, str] = {}

    def accept(actor: str) -> None:
        barrier.wait()
        try:
            with db.transaction() as s:
                lead = s.get(Lead, lead_id)
                transition(
                    s,
                    lead,
                    Stage.SAL,
                    actor=actor,
                    now=T0,
                    expect={Stage.MQL, Stage.PQL},
                )
            outcomes[actor] = "won"
        except Conflict as exc:
            outcomes[actor] = str(exc)

    threads = [threading.Thread(target=accept, args=(f"U0REP{i:02d}",)) for i in range(20)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    winners = [actor for actor, outcome in outcomes.items() if outcome == "won"]
    assert len(outcomes) == 20 and len(winners) == 1
    winner = winners[0]
    assert all(
        f"Too late: {winner} already moved this lead to sal" in outcome
        for actor, outcome in outcomes.items()
        if actor != winner
    )
    assert count(db, StageTransition, lead_id=lead_id) == 1
    with db.transaction() as s:
        lead = s.get(Lead, lead_id)
        assert (lead.stage, lead.version) == ("sal", 2)
