"""What a person's App Home shows: their open leads and, for a manager, what waits in the teams
they manage (unaccepted leads, SLA breaches of the last 7 days, reps away or at their cap).
One read, a fixed number of queries whatever the number of leads; the Slack side renders it."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from core import access
from core.config import WorkspaceConfig
from core.lifecycle import QUALIFIED
from core.models import Lead, StageTransition
from core.services import leadops, offers, reports

#: At most this many unaccepted leads are listed.
UNACCEPTED_LIMIT = 50
BREACH_WINDOW = timedelta(days=7)


@dataclass(frozen=True)
class Breach:
    lead: Lead
    since: datetime  # when the lead entered the stage whose SLA it broke


@dataclass
class HomeData:
    is_sales: bool
    managed: list[str]
    mine: list[Lead] = field(default_factory=list)
    unaccepted: list[Lead] = field(default_factory=list)
    breaches: list[Breach] = field(default_factory=list)
    away: list[tuple[str, str]] = field(default_factory=list)  # (rep, why)
    capped: list[tuple[str, str]] = field(default_factory=list)


def home_of(
    session: Session,
    config: WorkspaceConfig,
    user: str,
    now: datetime,
    by_status: Mapping[str, str],
) -> HomeData:
    """``by_status``: reps whose Slack status says they are away (read before the transaction)."""
    managed = [team.name for team in config.teams if user in team.managers]
    data = HomeData(is_sales=bool(access.sales_teams(config, user)), managed=managed)
    if not data.is_sales:
        return data
    data.mine = leadops.mine(session, user)
    if not managed:
        return data
    data.unaccepted = list(
        session.scalars(
            select(Lead)
            .where(
                Lead.team.in_(managed),
                Lead.stage.in_([s.value for s in QUALIFIED]),
                Lead.erased_at.is_(None),
            )
            .order_by(Lead.stage_changed_at)
            .limit(UNACCEPTED_LIMIT)
        )
    )
    breached: list[int] = []
    for team in managed:
        funnel = reports.funnel(session, config, since=now - BREACH_WINDOW, until=now, team=team)
        breached += funnel.breaches
    data.breaches = _breaches(session, breached)
    data.away, data.capped = _availability(session, config, managed, now, by_status)
    return data


def _breaches(session: Session, lead_ids: list[int]) -> list[Breach]:
    """The breached leads, each with the time it entered its current stage: two queries."""
    if not lead_ids:
        return []
    leads = {
        lead.id: lead
        for lead in session.scalars(
            select(Lead).where(Lead.id.in_(lead_ids), Lead.erased_at.is_(None))
        )
    }
    entered: dict[int, datetime] = {}
    rows = session.execute(
        select(StageTransition.lead_id, StageTransition.to_stage, StageTransition.at)
        .where(StageTransition.lead_id.in_(list(leads)))
        .order_by(StageTransition.at, StageTransition.id)
    )
    for lead_id, to_stage, at in rows:
        if to_stage == leads[lead_id].stage:
            entered[lead_id] = at  # the latest entry into the current stage wins
    return [
        Breach(leads[i], entered.get(i, leads[i].stage_changed_at)) for i in lead_ids if i in leads
    ]


def _availability(
    session: Session,
    config: WorkspaceConfig,
    managed: list[str],
    now: datetime,
    by_status: Mapping[str, str],
) -> tuple[list[tuple[str, str]], list[tuple[str, str]]]:
    """The managed teams' reps who are away and those at their cap."""
    away: list[tuple[str, str]] = []
    capped: list[tuple[str, str]] = []
    seen: set[str] = set()
    for name in managed:
        team = config.team(name)
        if team is None:
            continue
        for person in offers.candidates(session, team, now, by_status):
            if person.id in seen:
                continue
            seen.add(person.id)
            if person.away:
                away.append((person.id, person.away))
            elif person.unavailable:
                capped.append((person.id, person.unavailable))
    return away, capped
