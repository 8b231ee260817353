"""The contract's table of who may do what, walked for every role, action, stage and routing:
the predicates in core.access and the buttons a card offers."""

from __future__ import annotations

from dataclasses import dataclass

import pytest

from bot.slack.present import actions_for
from bot.views import ids
from core import access
from core.access import Action
from core.lifecycle import OPEN, QUALIFIED, Stage

ROLES = {
    "owner": "U0REP1",
    "teammate": "U0REP2",
    "manager": "U0MGR1",
    "other team's rep": "U0REP3",
    "other team's manager": "U0MGR2",
    "marketing": "U0MKT1",
    "outsider": "U0OUT1",
}
SALES = {"owner", "teammate", "manager", "other team's rep", "other team's manager"}


@dataclass
class FakeLead:
    stage: str
    team: str | None
    owner: str | None


def lead(stage: Stage, routed: bool) -> FakeLead:
    """An emea lead (or an unrouted one); owned by U0REP1 once sales has it."""
    owned = stage not in QUALIFIED and stage is not Stage.LEAD
    return FakeLead(stage.value, "emea" if routed else None, ROLES["owner"] if owned else None)


def allowed(action: Action, stage: Stage, routed: bool) -> set[str]:
    """The contract, written out: who may do ``action``."""
    team = {"owner", "teammate", "manager"} if routed else SALES
    works = {"owner", "manager"} if routed else {"owner"}
    owned = stage not in QUALIFIED and stage is not Stage.LEAD
    if not owned:
        works -= {"owner"}  # nobody owns a waiting lead yet
    if action in (Action.ACCEPT, Action.REJECT):
        return team
    if action is Action.QUALIFY:
        return team if stage in QUALIFIED else works
    if action is Action.ASSIGN:
        return {"manager"} if routed else {"manager", "other team's manager"}
    return works  # opportunity, nurture, disqualify, snooze


CASES = [
    (role, action, stage, routed)
    for role in ROLES
    for action in Action
    for stage in Stage
    for routed in (True, False)
]


@pytest.mark.parametrize(("role", "action", "stage", "routed"), CASES)
def test_every_role_against_every_action_and_stage(config, role, action, stage, routed):
    subject = lead(stage, routed)
    expected = role in allowed(action, stage, routed)
    assert access.PERMISSIONS[action](config, ROLES[role], subject) is expected
    if expected:
        access.check(action, config, ROLES[role], subject)
    else:
        with pytest.raises(access.Refused, match="Nothing was changed"):
            access.check(action, config, ROLES[role], subject)


BUTTONS = {
    Action.ACCEPT: ids.ACCEPT,
    Action.REJECT: ids.REJECT,
    Action.QUALIFY: ids.QUALIFY,
    Action.OPPORTUNITY: ids.OPPORTUNITY,
    Action.NURTURE: ids.NURTURE,
    Action.ASSIGN: ids.ASSIGN,
}
SHOWN_IN = {
    Action.ACCEPT: QUALIFIED,
    Action.REJECT: QUALIFIED,
    Action.QUALIFY: QUALIFIED | {Stage.SAL},
    Action.OPPORTUNITY: {Stage.SQL},
    Action.NURTURE: {Stage.SAL, Stage.SQL},
    Action.ASSIGN: OPEN,
}


@pytest.mark.parametrize(
    ("role", "stage", "routed"),
    [(role, stage, routed) for role in ROLES for stage in Stage for routed in (True, False)],
)
def test_a_card_offers_exactly_the_buttons_its_viewer_may_use(config, role, stage, routed):
    subject = lead(stage, routed)
    shown = {action_id for action_id, _ in actions_for(config, ROLES[role], subject)}
    expected = {
        BUTTONS[action]
        for action in BUTTONS
        if stage in SHOWN_IN[action] and role in allowed(action, stage, routed)
    }
    assert shown == expected


def test_buttons_keep_their_order(config):
    waiting = lead(Stage.MQL, routed=True)
    assert [label for _, label in actions_for(config, ROLES["manager"], waiting)] == [
        "Accept",
        "Reject",
        "Qualify",
        "Assign",
    ]


@pytest.mark.parametrize(
    ("actor", "user", "may"),
    [
        ("U0REP1", "U0REP1", True),  # oneself
        ("U0MGR1", "U0REP1", True),  # a manager of the rep's team
        ("U0REP2", "U0REP1", False),  # a teammate
        ("U0MGR2", "U0REP1", False),  # another team's manager
        ("U0MKT1", "U0REP1", False),
    ],
)
def test_who_may_set_a_rep_away(config, actor, user, may):
    assert access.can_set_away(config, actor, user) is may
