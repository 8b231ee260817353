"""Accept, reject, qualify, record opportunity, assign, park and snooze, each called directly
with a session and a clock, on both engines: what each does, and every way each refuses. A
refused call changes nothing: the stage, the outbox and the answers stay as they were."""

from __future__ import annotations

from datetime import date, timedelta

import pytest
from sqlalchemy import func, select

from core.lifecycle import IllegalTransition, Stage
from core.models import Lead, Opportunity, Outbox, Qualification, StageTransition
from core.refusals import Invalid, Refusal, Refused, UnknownLead
from core.services import handoff, leadops, qualification, reminders
from core.services.stages import Conflict
from tests.factories import T0, story

NOW = T0 + timedelta(hours=2)
STEPS = {
    "mql": [("mql", "system", T0)],
    "sal": [("mql", "system", T0), ("sal", "U0REP1", T0 + timedelta(minutes=30))],
    "sql": [
        ("mql", "system", T0),
        ("sal", "U0REP1", T0 + timedelta(minutes=30)),
        ("sql", "U0REP1", T0 + timedelta(hours=1)),
    ],
    "sqo": [
        ("mql", "system", T0),
        ("sal", "U0REP1", T0 + timedelta(minutes=30)),
        ("sql", "U0REP1", T0 + timedelta(hours=1)),
        ("sqo", "U0REP1", T0 + timedelta(hours=1, minutes=30)),
    ],
    "nurture": [
        ("mql", "system", T0),
        ("sal", "U0REP1", T0 + timedelta(minutes=30)),
        ("nurture", "U0REP1", T0 + timedelta(hours=1)),
    ],
}
GOOD_BANT = qualification.build_bant(
    budget="approved", authority="decision_maker", need="critical", timeline="1_3_months"
)
WEAK_BANT = qualification.build_bant(
    budget="none", authority="influencer", need="critical", timeline="unknown"
)


def lead_at(db, stage: str, team: str | None = "emea") -> int:
    """A lead of ``team`` in ``stage``; U0REP1 accepted it, if it got that far."""
    with db.transaction() as s:
        return story(s, team, *STEPS[stage])


def state(db, lead_id: int) -> tuple:
    """Everything a use case may change about a lead."""
    with db.transaction() as s:
        lead = s.get(Lead, lead_id)
        counted = [
            s.scalar(select(func.count()).select_from(model).where(model.lead_id == lead_id))
            for model in (StageTransition, Outbox, Qualification, Opportunity)
        ]
        return (lead.stage, lead.owner, lead.team, lead.version, *counted)


def outbox(db, lead_id: int) -> list[tuple[str, dict]]:
    with db.transaction() as s:
        rows = s.scalars(select(Outbox).where(Outbox.lead_id == lead_id).order_by(Outbox.id))
        return [(row.kind, row.payload) for row in rows]


def refused(db, lead_id: int, refusal: type[Refusal], match: str, call) -> Refusal:
    """``call(session)`` refuses with ``refusal`` and leaves the lead exactly as it was."""
    before = state(db, lead_id) if lead_id != 999 else None
    with pytest.raises(refusal, match=match) as raised, db.transaction() as s:
        call(s)
    if before is not None:
        assert state(db, lead_id) == before
    return raised.value


# --- accept ----------------------------------------------------------------------------------


def accept(lead_id: int, actor: str, config):
    return lambda s: handoff.accept(s, lead_id, actor=actor, config=config, now=NOW)


def test_accept_makes_a_sal_of_the_accepter_and_tells_marketing(db, config):
    lead_id = lead_at(db, "mql")
    with db.transaction() as s:
        moved = accept(lead_id, "U0REP2", config)(s)
    assert (moved.from_stage, moved.to_stage, moved.actor) == ("mql", "sal", "U0REP2")
    assert state(db, lead_id)[:3] == ("sal", "U0REP2", "emea")
    assert outbox(db, lead_id) == [
        ("alert_refresh", {}),
        (
            "marketing_accepted",
            {
                "transition_id": moved.id,
                "actor": "U0REP2",
                "waited_seconds": 7200,
                "assigned_by": None,
            },
        ),
    ]


def test_an_unrouted_lead_joins_the_accepters_team(db, config):
    lead_id = lead_at(db, "mql", team=None)
    with db.transaction() as s:
        accept(lead_id, "U0REP3", config)(s)
    assert state(db, lead_id)[:3] == ("sal", "U0REP3", "na")


@pytest.mark.parametrize(
    ("stage", "actor", "refusal", "match"),
    [
        ("mql", "U0OUT1", Refused, "accepting this lead is for the emea team"),
        ("mql", "U0REP3", Refused, "accepting this lead is for the emea team"),
        ("mql", "U0MKT1", Refused, "Nothing was changed"),
        ("sal", "U0REP2", Conflict, "Too late: U0REP1 already moved this lead to sal"),
        ("nurture", "U0REP1", Conflict, "Too late: U0REP1 already moved this lead to nurture"),
        ("sqo", "U0MGR1", Conflict, "to sqo"),
    ],
)
def test_accept_refuses(db, config, stage, actor, refusal, match):
    lead_id = lead_at(db, stage)
    refused(db, lead_id, refusal, match, accept(lead_id, actor, config))


def test_accept_refuses_an_unknown_lead(db, config):
    refused(db, 999, UnknownLead, "no lead with id 999", accept(999, "U0REP1", config))


def test_a_conflict_names_the_winner_as_a_plain_id_and_lets_slack_mention_them(db, config):
    lead_id = lead_at(db, "sal")
    conflict = refused(db, lead_id, Conflict, "Too late", accept(lead_id, "U0REP2", config))
    assert "<@" not in str(conflict)
    assert conflict.text(lambda user: f"<@{user}>").startswith("Too late: <@U0REP1> already")


# --- reject ----------------------------------------------------------------------------------


def reject(lead_id: int, actor: str, config, reason: str = "bad_fit", comment: str | None = None):
    return lambda s: handoff.reject(
        s, lead_id, actor=actor, reason=reason, comment=comment, config=config, now=NOW
    )


@pytest.mark.parametrize(
    ("reason", "stage"), [("bad_fit", "unqualified"), ("not_ready", "nurture")]
)
def test_reject_sends_the_lead_where_its_reason_says_and_tells_marketing(db, config, reason, stage):
    lead_id = lead_at(db, "mql")
    with db.transaction() as s:
        moved = reject(lead_id, "U0MGR1", config, reason, "  call in spring  ")(s)
    assert (moved.to_stage, moved.actor) == (stage, "U0MGR1")
    assert state(db, lead_id)[0] == stage
    kind, payload = outbox(db, lead_id)[-1]
    assert kind == "marketing_rejected"
    assert (payload["reason"], payload["comment"], payload["waited_seconds"]) == (
        reason,
        "call in spring",
        7200,
    )


@pytest.mark.parametrize(
    ("stage", "actor", "reason", "comment", "refusal", "match"),
    [
        ("mql", "U0REP1", "bored", None, Refused, "Unknown reason 'bored'"),
        ("mql", "U0REP1", "bad_fit", "x" * 2001, Refused, "limited to 2000 characters"),
        ("mql", "U0OUT1", "bad_fit", None, Refused, "rejecting this lead is for the emea team"),
        ("mql", "U0MGR2", "bad_fit", None, Refused, "rejecting this lead is for the emea team"),
        ("sal", "U0REP1", "bad_fit", None, Conflict, "Too late: U0REP1 already moved"),
    ],
)
def test_reject_refuses(db, config, stage, actor, reason, comment, refusal, match):
    lead_id = lead_at(db, stage)
    refused(db, lead_id, refusal, match, reject(lead_id, actor, config, reason, comment))


def test_the_reject_modal_opens_only_for_a_waiting_lead_and_the_team(db, config):
    mql, sal = lead_at(db, "mql"), lead_at(db, "sal")
    with db.transaction() as s:
        assert handoff.check_can_reject(s, mql, actor="U0REP2", config=config).id == mql
    refused(
        db,
        mql,
        Refused,
        "rejecting",
        lambda s: handoff.check_can_reject(s, mql, actor="U0REP3", config=config),
    )
    refused(
        db,
        sal,
        Conflict,
        "Too late",
        lambda s: handoff.check_can_reject(s, sal, actor="U0REP2", config=config),
    )


# --- qualify ---------------------------------------------------------------------------------


def qualify(lead_id: int, actor: str, config, answers=GOOD_BANT):
    return lambda s: qualification.qualify(s, lead_id, answers, actor=actor, config=config, now=NOW)


def test_qualifying_a_waiting_mql_accepts_it_first(db, config):
    lead_id = lead_at(db, "mql")
    with db.transaction() as s:
        result = qualify(lead_id, "U0REP2", config)(s)
    assert (result.stage, result.accepted_first, result.missing) == (Stage.SQL, True, [])
    assert state(db, lead_id)[:2] == ("sql", "U0REP2")
    assert [kind for kind, _ in outbox(db, lead_id)] == [
        "alert_refresh",
        "marketing_accepted",
        "alert_refresh",
    ]


def test_too_few_criteria_keep_the_lead_sal_with_the_answers_saved(db, config):
    lead_id = lead_at(db, "sal")
    with db.transaction() as s:
        result = qualify(lead_id, "U0MGR1", config, WEAK_BANT)(s)
    assert (result.stage, result.accepted_first) == (Stage.SAL, False)
    assert result.missing == ["budget", "authority", "timeline"]
    assert state(db, lead_id)[0] == "sal" and state(db, lead_id)[-2] == 1  # one Qualification


@pytest.mark.parametrize(
    ("stage", "actor", "refusal", "match"),
    [
        ("mql", "U0OUT1", Refused, "qualifying this lead is for the emea team"),
        ("mql", "U0REP3", Refused, "qualifying this lead is for the emea team"),
        ("sal", "U0REP2", Refused, "qualifying this lead is for the lead's owner or a manager"),
        ("sal", "U0MGR2", Refused, "owner or a manager"),
        ("sql", "U0REP1", IllegalTransition, "The lead is sql, so it cannot move to sql"),
        ("nurture", "U0REP1", IllegalTransition, "The lead is nurture"),
        ("sqo", "U0REP2", Refused, "owner or a manager"),  # permission before the stage
    ],
)
def test_qualify_refuses(db, config, stage, actor, refusal, match):
    lead_id = lead_at(db, stage)
    refused(db, lead_id, refusal, match, qualify(lead_id, actor, config))


def test_qualify_refuses_an_unknown_lead(db, config):
    refused(db, 999, UnknownLead, "999", qualify(999, "U0REP1", config))


def test_bad_answers_are_all_reported_at_once():
    with pytest.raises(Invalid) as raised:
        qualification.build_bant(
            budget="lots",
            authority=None,
            need="none",
            timeline="soon",
            budget_amount="-3",
            need_text="n" * 2001,
        )
    assert set(raised.value.errors) == {
        "budget",
        "authority",
        "timeline",
        "budget_amount",
        "need_text",
    }


# --- record opportunity ----------------------------------------------------------------------


def opportunity(lead_id: int, actor: str, config, **fields):
    values = {
        "name": "Acme: new business",
        "amount": "48,000",
        "currency": "EUR",
        "close_date": date(2026, 12, 15),
        "crm_url": "https://crm.example.com/o/1",
        **fields,
    }
    return lambda s: qualification.record_opportunity(
        s, lead_id, **values, actor=actor, config=config, now=NOW
    )


def test_an_opportunity_makes_an_sql_an_sqo(db, config):
    lead_id = lead_at(db, "sql")
    with db.transaction() as s:
        recorded = opportunity(lead_id, "U0MGR1", config)(s)
        assert (recorded.amount, recorded.currency) == (48000, "EUR")
    assert state(db, lead_id)[0] == "sqo" and state(db, lead_id)[-1] == 1


@pytest.mark.parametrize(
    ("stage", "actor", "fields", "refusal", "match"),
    [
        ("sql", "U0REP2", {}, Refused, "recording an opportunity is for the lead's owner"),
        ("sql", "U0MGR2", {}, Refused, "owner or a manager"),
        ("sal", "U0REP1", {}, IllegalTransition, "The lead is sal, so it cannot move to sqo"),
        ("sql", "U0REP1", {"amount": "lots"}, Invalid, "amount"),
        ("sql", "U0REP1", {"amount": "0"}, Invalid, "more than 0"),
        ("sql", "U0REP1", {"currency": "XXX"}, Invalid, "currency"),
        ("sql", "U0REP1", {"close_date": date(2026, 11, 1)}, Invalid, "in the past"),
        ("sql", "U0REP1", {"close_date": None}, Invalid, "close date"),
        ("sql", "U0REP1", {"name": "  "}, Invalid, "Name the opportunity"),
        ("sql", "U0REP1", {"crm_url": "ftp://crm"}, Invalid, "https://"),
    ],
)
def test_record_opportunity_refuses(db, config, stage, actor, fields, refusal, match):
    lead_id = lead_at(db, stage)
    refused(db, lead_id, refusal, match, opportunity(lead_id, actor, config, **fields))


# --- assign ----------------------------------------------------------------------------------


def assign(lead_id: int, owner: str, actor: str, config):
    return lambda s: leadops.assign(s, lead_id, owner, actor=actor, config=config, now=NOW)


def test_assigning_a_waiting_lead_hands_it_over_and_records_a_plain_id(db, config):
    lead_id = lead_at(db, "mql")
    with db.transaction() as s:
        assign(lead_id, "U0REP2", "U0MGR1", config)(s)
        last = s.scalars(
            select(StageTransition)
            .where(StageTransition.lead_id == lead_id)
            .order_by(StageTransition.id.desc())
        ).first()
        assert (last.to_stage, last.actor, last.reason) == ("sal", "U0MGR1", "assigned to U0REP2")
    assert state(db, lead_id)[:2] == ("sal", "U0REP2")
    sent = outbox(db, lead_id)
    assert [kind for kind, _ in sent] == [
        "alert_refresh",
        "marketing_accepted",
        "alert_refresh",
        "assigned_dm",
    ]
    assert sent[1][1]["assigned_by"] == "U0MGR1"
    assert sent[3][1] == {"owner": "U0REP2", "actor": "U0MGR1"}


def test_assigning_an_open_lead_changes_hands_without_a_stage_change(db, config):
    lead_id = lead_at(db, "sql")
    before = state(db, lead_id)
    with db.transaction() as s:
        assign(lead_id, "U0REP2", "U0MGR1", config)(s)
    after = state(db, lead_id)
    assert after[:2] == ("sql", "U0REP2") and after[3] == before[3] + 1  # the version moved
    assert after[4] == before[4]  # no transition


def test_a_manager_may_assign_an_unrouted_lead_to_their_own_team(db, config):
    lead_id = lead_at(db, "mql", team=None)
    with db.transaction() as s:
        assign(lead_id, "U0REP3", "U0MGR2", config)(s)
    assert state(db, lead_id)[:3] == ("sal", "U0REP3", "na")


@pytest.mark.parametrize(
    ("stage", "owner", "actor", "match"),
    [
        ("mql", "U0REP2", "U0REP1", "assigning leads is for managers of the emea team"),
        ("mql", "U0REP2", "U0MGR2", "assigning leads is for managers of the emea team"),
        ("mql", "U0REP3", "U0MGR1", "U0REP3 is not a rep or manager of the emea team"),
        ("sal", "U0REP1", "U0MGR1", "The lead is already U0REP1's"),
        ("nurture", "U0REP2", "U0MGR1", "The lead is nurture, so there is nothing to assign"),
    ],
)
def test_assign_refuses(db, config, stage, owner, actor, match):
    lead_id = lead_at(db, stage)
    refusal = refused(db, lead_id, Refused, match, assign(lead_id, owner, actor, config))
    assert "<@" not in str(refusal)


def test_assign_refuses_an_unknown_lead(db, config):
    refused(db, 999, UnknownLead, "999", assign(999, "U0REP2", "U0MGR1", config))


# --- park (nurture, disqualify) --------------------------------------------------------------


def park(lead_id: int, to: Stage, actor: str, config, reason: str | None = None):
    return lambda s: leadops.park(
        s, lead_id, to, actor=actor, reason=reason, config=config, now=NOW
    )


def test_parking_an_open_lead_updates_the_alert_only(db, config):
    lead_id = lead_at(db, "sal")
    before = len(outbox(db, lead_id))  # what accepting it queued
    with db.transaction() as s:
        park(lead_id, Stage.NURTURE, "U0REP1", config, " budget next year ")(s)
        reason = s.scalars(
            select(StageTransition.reason)
            .where(StageTransition.lead_id == lead_id)
            .order_by(StageTransition.id.desc())
        ).first()
    assert state(db, lead_id)[0] == "nurture" and reason == "budget next year"
    assert outbox(db, lead_id)[before:] == [("alert_refresh", {})]


def test_parking_a_waiting_lead_tells_marketing_why(db, config):
    lead_id = lead_at(db, "mql")
    with db.transaction() as s:
        park(lead_id, Stage.UNQUALIFIED, "U0MGR1", config)(s)
    kind, payload = outbox(db, lead_id)[-1]
    assert kind == "marketing_rejected"
    assert (payload["reason"], payload["reason_text"], payload["waited_seconds"]) == (
        None,
        "disqualified",
        7200,
    )


@pytest.mark.parametrize(
    ("stage", "to", "actor", "refusal", "match"),
    [
        ("sal", Stage.NURTURE, "U0REP2", Refused, "sending this lead to nurture is for"),
        ("sal", Stage.UNQUALIFIED, "U0MGR2", Refused, "disqualifying this lead is for"),
        ("mql", Stage.NURTURE, "U0REP1", Refused, "owner or a manager"),  # nobody owns it yet
        ("sqo", Stage.NURTURE, "U0REP1", IllegalTransition, "sqo is final"),
        ("nurture", Stage.UNQUALIFIED, "U0REP1", IllegalTransition, "The lead is nurture"),
    ],
)
def test_park_refuses(db, config, stage, to, actor, refusal, match):
    lead_id = lead_at(db, stage)
    refused(db, lead_id, refusal, match, park(lead_id, to, actor, config))


def test_park_refuses_an_unknown_lead(db, config):
    refused(db, 999, UnknownLead, "999", park(999, Stage.NURTURE, "U0REP1", config))


# --- snooze ----------------------------------------------------------------------------------


def snooze(lead_id: int, actor: str, config):
    return lambda s: reminders.snooze(s, lead_id, actor=actor, config=config, now=NOW)


def test_snooze_moves_the_next_reminder_a_business_day_later(db, config):
    lead_id = lead_at(db, "sal")
    with db.transaction() as s:
        until = snooze(lead_id, "U0MGR1", config)(s)
    assert until - NOW >= timedelta(days=1)


@pytest.mark.parametrize(
    ("stage", "actor", "match"),
    [
        ("sal", "U0REP2", "snoozing this lead's reminders is for the lead's owner"),
        ("sal", "U0OUT1", "owner or a manager"),
        ("nurture", "U0REP1", "The lead is nurture now, so there are no reminders to snooze"),
        ("sqo", "U0MGR1", "The lead is sqo now"),
    ],
)
def test_snooze_refuses(db, config, stage, actor, match):
    lead_id = lead_at(db, stage)
    refused(db, lead_id, Refused, match, snooze(lead_id, actor, config))


def test_snooze_refuses_an_unknown_lead(db, config):
    refused(db, 999, UnknownLead, "999", snooze(999, "U0REP1", config))
