"""Who may do what (the contract's table), decided from the workspace config. Pure."""

from __future__ import annotations

from datetime import datetime

from core.config import Team, WorkspaceConfig

REFUSAL = "Sorry, {what} is for {who}. Nothing was changed."


def sales_teams(config: WorkspaceConfig, user: str) -> list[Team]:
    return [team for team in config.teams if user in team.reps or user in team.managers]


def can_handle_alert(config: WorkspaceConfig, user: str, team: str | None) -> bool:
    """Accept/Reject: reps and managers of the routed team; an unrouted lead, anyone in sales."""
    if team is None:
        return bool(sales_teams(config, user))
    routed = config.team(team)
    return routed is not None and (user in routed.reps or user in routed.managers)


def is_team_manager(config: WorkspaceConfig, user: str, team: str | None) -> bool:
    routed = config.team(team) if team else None
    return routed is not None and user in routed.managers


def can_accept_offered(
    config: WorkspaceConfig,
    user: str,
    team: str | None,
    offered_to: str | None,
    until: datetime | None,
    now: datetime,
) -> bool:
    """A lead on offer to one rep: until its claim window ends only that rep or a manager of
    the team may accept it (or qualify it, which accepts it)."""
    if offered_to is None or until is None or now >= until:
        return True
    return user == offered_to or is_team_manager(config, user, team)


def can_work_lead(config: WorkspaceConfig, user: str, owner: str | None, team: str | None) -> bool:
    """qualify, opportunity, nurture, disqualify: the owner, or a manager of the lead's team."""
    return user == owner or is_team_manager(config, user, team)


def can_look_up(config: WorkspaceConfig, user: str) -> bool:
    return bool(sales_teams(config, user)) or config.is_marketing(user)


def can_see_stats(config: WorkspaceConfig, user: str) -> bool:
    return config.is_manager(user) or config.is_marketing(user)


def refusal(what: str, who: str) -> str:
    return REFUSAL.format(what=what, who=who)
