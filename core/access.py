"""Who may do what (the contract's table), decided from the workspace config. Pure.

One predicate per action on a lead. Each is used by the button that offers the action
(``bot/present.py``), by the handler that opens its modal and by the use case that performs it,
so the three can never disagree. A predicate answers *who*; where the role depends on the stage
(qualifying a waiting MQL is the team's, qualifying a SAL its owner's) it reads the stage too.
*Whether the stage allows the move* is the lifecycle's (``core/lifecycle.py``); :data:`OFFERED`
says in which stages a button is shown at all.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from enum import StrEnum
from typing import Protocol

from core.config import Team, WorkspaceConfig
from core.lifecycle import OPEN, QUALIFIED, Stage
from core.refusals import Refused

REFUSAL = "Sorry, {what} is for {who}. Nothing was changed."
OWNER_OR_MANAGER = "the lead's owner or a manager of its team"


class LeadLike(Protocol):
    """What the rules look at: a ``core.models.Lead`` fits."""

    @property
    def stage(self) -> str: ...

    @property
    def team(self) -> str | None: ...

    @property
    def owner(self) -> str | None: ...


class Action(StrEnum):
    ACCEPT = "accept"
    REJECT = "reject"
    QUALIFY = "qualify"
    OPPORTUNITY = "opportunity"
    ASSIGN = "assign"
    NURTURE = "nurture"
    DISQUALIFY = "disqualify"
    SNOOZE = "snooze"


def sales_teams(config: WorkspaceConfig, user: str) -> list[Team]:
    return [team for team in config.teams if user in team.reps or user in team.managers]


def people(config: WorkspaceConfig) -> frozenset[str]:
    """Everyone the config names: reps, managers and marketing members."""
    sales = (user for team in config.teams for user in (*team.reps, *team.managers))
    return frozenset((*sales, *config.marketing.members))


def _in_lead_team(config: WorkspaceConfig, user: str, lead: LeadLike) -> bool:
    """Reps and managers of the routed team; an unrouted lead, anyone in sales."""
    if lead.team is None:
        return bool(sales_teams(config, user))
    routed = config.team(lead.team)
    return routed is not None and (user in routed.reps or user in routed.managers)


def _manages(config: WorkspaceConfig, user: str, lead: LeadLike) -> bool:
    """A manager of the lead's team; an unrouted lead, any manager."""
    if lead.team is None:
        return config.is_manager(user)
    routed = config.team(lead.team)
    return routed is not None and user in routed.managers


def _works(config: WorkspaceConfig, user: str, lead: LeadLike) -> bool:
    """The owner, or a manager of the lead's team (of a routed lead only)."""
    return user == lead.owner or (lead.team is not None and _manages(config, user, lead))


def can_accept(config: WorkspaceConfig, user: str, lead: LeadLike) -> bool:
    return _in_lead_team(config, user, lead)


def can_reject(config: WorkspaceConfig, user: str, lead: LeadLike) -> bool:
    return _in_lead_team(config, user, lead)


def can_qualify(config: WorkspaceConfig, user: str, lead: LeadLike) -> bool:
    """A waiting MQL/PQL: whoever may accept it (qualifying accepts it first); else the owner
    or a manager of the team."""
    if Stage(lead.stage) in QUALIFIED:
        return can_accept(config, user, lead)
    return _works(config, user, lead)


def can_record_opportunity(config: WorkspaceConfig, user: str, lead: LeadLike) -> bool:
    return _works(config, user, lead)


def can_assign(config: WorkspaceConfig, user: str, lead: LeadLike) -> bool:
    return _manages(config, user, lead)


def can_park(config: WorkspaceConfig, user: str, lead: LeadLike) -> bool:
    """Nurture or disqualify."""
    return _works(config, user, lead)


def can_snooze(config: WorkspaceConfig, user: str, lead: LeadLike) -> bool:
    return _works(config, user, lead)


def can_accept_offered(
    config: WorkspaceConfig,
    user: str,
    lead: LeadLike,
    offered_to: str | None,
    until: datetime | None,
    now: datetime,
) -> bool:
    """A lead on offer to one rep: until its claim window ends only that rep or a manager of
    the team may accept it (or qualify it, which accepts it)."""
    if offered_to is None or until is None or now >= until:
        return True
    return user == offered_to or _manages(config, user, lead)


def can_look_up(config: WorkspaceConfig, user: str) -> bool:
    return bool(sales_teams(config, user)) or config.is_marketing(user)


def can_set_away(config: WorkspaceConfig, actor: str, user: str) -> bool:
    """``/lead away`` and ``/lead back`` for ``user``: the rep themselves or a manager of one of
    their teams."""
    return actor == user or any(actor in team.managers for team in sales_teams(config, user))


def can_see_stats(config: WorkspaceConfig, user: str) -> bool:
    return config.is_manager(user) or config.is_marketing(user)


def check_look_up(config: WorkspaceConfig, user: str) -> None:
    """``/lead`` beyond ``help``: checked before any lead is looked up, so people outside sales
    and marketing learn nothing, not even whether an address is a lead."""
    if not can_look_up(config, user):
        raise Refused(refusal("/lead", "sales reps, managers and marketing"))


def check_stats(config: WorkspaceConfig, user: str) -> None:
    if not can_see_stats(config, user):
        raise Refused(refusal("stats", "managers and marketing"))


PERMISSIONS: dict[Action, Callable[[WorkspaceConfig, str, LeadLike], bool]] = {
    Action.ACCEPT: can_accept,
    Action.REJECT: can_reject,
    Action.QUALIFY: can_qualify,
    Action.OPPORTUNITY: can_record_opportunity,
    Action.ASSIGN: can_assign,
    Action.NURTURE: can_park,
    Action.DISQUALIFY: can_park,
    Action.SNOOZE: can_snooze,
}

#: The stages in which a lead's card offers each button (Reject stands in for Nurture while
#: the lead waits for sales; Snooze is offered on reminders only).
OFFERED: dict[Action, frozenset[Stage]] = {
    Action.ACCEPT: QUALIFIED,
    Action.REJECT: QUALIFIED,
    Action.QUALIFY: QUALIFIED | {Stage.SAL},
    Action.OPPORTUNITY: frozenset({Stage.SQL}),
    Action.NURTURE: OPEN - QUALIFIED,
    Action.ASSIGN: OPEN,
}


def offered(action: Action, config: WorkspaceConfig, user: str, lead: LeadLike) -> bool:
    """Whether ``user`` sees the button for ``action`` on ``lead`` now."""
    return Stage(lead.stage) in OFFERED.get(action, frozenset()) and PERMISSIONS[action](
        config, user, lead
    )


def _the_team(lead: LeadLike) -> str:
    return f"the {lead.team or 'sales'} team"


#: For a refusal: what the user tried, and who may.
_REFUSALS: dict[Action, tuple[str, Callable[[LeadLike], str]]] = {
    Action.ACCEPT: ("accepting this lead", _the_team),
    Action.REJECT: ("rejecting this lead", _the_team),
    Action.QUALIFY: (
        "qualifying this lead",
        lambda lead: _the_team(lead) if Stage(lead.stage) in QUALIFIED else OWNER_OR_MANAGER,
    ),
    Action.OPPORTUNITY: ("recording an opportunity", lambda lead: OWNER_OR_MANAGER),
    Action.ASSIGN: ("assigning leads", lambda lead: f"managers of {_the_team(lead)}"),
    Action.NURTURE: ("sending this lead to nurture", lambda lead: OWNER_OR_MANAGER),
    Action.DISQUALIFY: ("disqualifying this lead", lambda lead: OWNER_OR_MANAGER),
    Action.SNOOZE: ("snoozing this lead's reminders", lambda lead: OWNER_OR_MANAGER),
}


def check(action: Action, config: WorkspaceConfig, user: str, lead: LeadLike) -> None:
    """Raise :class:`~core.refusals.Refused` unless ``user`` may do ``action`` to ``lead``."""
    if not PERMISSIONS[action](config, user, lead):
        what, who = _REFUSALS[action]
        raise Refused(refusal(what, who(lead)))


def refusal(what: str, who: str) -> str:
    return REFUSAL.format(what=what, who=who)
