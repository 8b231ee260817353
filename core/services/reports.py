"""Funnel numbers for a time window: what `/lead stats` shows and the daily digest sends.

Definitions (also in the README):
- *entered*: stage changes into each stage during the window.
- *conversion*: SAL entered / MQL+PQL entered, SQL / SAL, SQO / SQL, over the same window.
- *time to accept*: from the lead's qualification (entering MQL/PQL) to its acceptance (SAL),
  for acceptances in the window; the median is reported.
- *SLA breach*: a lead qualified in the window that was accepted later than ``sla.mql_accept``
  of business time after qualifying, or is still waiting past that deadline at ``until``.
- *rejected*: MQL/PQL sent to nurture or unqualified from the alert, by reason.
- *unrouted*: leads waiting as MQL/PQL with no team (posted to the marketing channel).
"""

from __future__ import annotations

import statistics
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import ColumnElement, func, select
from sqlalchemy.orm import Session

from core.businesstime import add_business_time, hours_of
from core.config import WorkspaceConfig
from core.lifecycle import QUALIFIED, Stage
from core.models import Lead, Offer, StageTransition
from core.services import offers
from core.services.handoff import REJECT_REASONS

QUALIFIED_VALUES = tuple(stage.value for stage in QUALIFIED)


@dataclass
class Funnel:
    since: datetime
    until: datetime
    team: str | None
    entered: dict[str, int] = field(default_factory=dict)
    accept_seconds: list[float] = field(default_factory=list)
    breaches: list[int] = field(default_factory=list)  # lead ids
    rejected: Counter[str] = field(default_factory=Counter)
    unrouted: int = 0

    @property
    def qualified(self) -> int:
        return self.entered.get("mql", 0) + self.entered.get("pql", 0)

    def rate(self, numerator: str, denominator: str) -> float | None:
        below = self.qualified if denominator == "qualified" else self.entered.get(denominator, 0)
        return self.entered.get(numerator, 0) / below if below else None

    @property
    def median_accept_seconds(self) -> float | None:
        return statistics.median(self.accept_seconds) if self.accept_seconds else None

    def top_rejections(self, n: int = 3) -> list[tuple[str, int]]:
        return self.rejected.most_common(n)


def reason_label(reason: str | None) -> str:
    """The fixed-list label a rejection was recorded with ("Competitor: uses X" -> "Competitor")."""
    text = reason or ""
    return next((r.label for r in REJECT_REASONS if text.startswith(r.label)), text or "no reason")


def _in_team(team: str | None) -> list[ColumnElement[bool]]:
    return [Lead.team == team] if team else []


def funnel(
    session: Session,
    config: WorkspaceConfig,
    *,
    since: datetime,
    until: datetime,
    team: str | None = None,
) -> Funnel:
    report = Funnel(since=since, until=until, team=team)
    window = (StageTransition.at >= since, StageTransition.at < until)
    rows = session.execute(
        select(StageTransition.to_stage, func.count())
        .join(Lead, Lead.id == StageTransition.lead_id)
        .where(*window, *_in_team(team))
        .group_by(StageTransition.to_stage)
    )
    report.entered = {stage: count for stage, count in rows}

    rejections = session.scalars(
        select(StageTransition.reason)
        .join(Lead, Lead.id == StageTransition.lead_id)
        .where(
            *window,
            *_in_team(team),
            StageTransition.from_stage.in_(QUALIFIED_VALUES),
            StageTransition.to_stage.in_((Stage.NURTURE.value, Stage.UNQUALIFIED.value)),
            StageTransition.actor != "system",
        )
    )
    report.rejected = Counter(reason_label(reason) for reason in rejections)

    report.accept_seconds = [
        (accepted.at - entry.at).total_seconds()
        for entry, accepted in _handoffs(session, team, accepted_between=(since, until))
        if accepted is not None
    ]
    for entry, accepted in _handoffs(session, team, qualified_between=(since, until)):
        hours, zone = hours_of(config, entry.lead_team)
        due = add_business_time(entry.at, config.sla.mql_accept, hours, zone)
        done = accepted.at if accepted is not None else None
        if (done is not None and done > due) or (
            done is None and entry.still_waiting and until > due
        ):
            report.breaches.append(entry.lead_id)

    report.unrouted = (
        session.scalar(
            select(func.count())
            .select_from(Lead)
            .where(Lead.stage.in_(QUALIFIED_VALUES), Lead.team.is_(None))
        )
        or 0
    )
    return report


@dataclass(frozen=True)
class _Entry:
    lead_id: int
    lead_team: str | None
    at: datetime
    still_waiting: bool


def _handoffs(
    session: Session,
    team: str | None,
    *,
    qualified_between: tuple[datetime, datetime] | None = None,
    accepted_between: tuple[datetime, datetime] | None = None,
) -> list[tuple[_Entry, StageTransition | None]]:
    """Pairs (qualification, the acceptance that followed it or None)."""
    entries = (
        select(StageTransition, Lead.team, Lead.stage)
        .join(Lead, Lead.id == StageTransition.lead_id)
        .where(StageTransition.to_stage.in_(QUALIFIED_VALUES), *_in_team(team))
    )
    accepts = (
        select(StageTransition)
        .join(Lead, Lead.id == StageTransition.lead_id)
        .where(
            StageTransition.to_stage == Stage.SAL.value,
            StageTransition.from_stage.in_(QUALIFIED_VALUES),
            *_in_team(team),
        )
    )
    if qualified_between:
        entries = entries.where(
            StageTransition.at >= qualified_between[0], StageTransition.at < qualified_between[1]
        )
    if accepted_between:
        accepts = accepts.where(
            StageTransition.at >= accepted_between[0], StageTransition.at < accepted_between[1]
        )
        ids = [t.lead_id for t in session.scalars(accepts)]
        entries = entries.where(StageTransition.lead_id.in_(ids))
    found = session.execute(entries).all()
    lead_ids = sorted({row[0].lead_id for row in found})
    later = (
        _by_lead(
            session.scalars(
                select(StageTransition)
                .where(StageTransition.lead_id.in_(lead_ids))
                .order_by(StageTransition.lead_id, StageTransition.at, StageTransition.id)
            ).all()
        )
        if lead_ids
        else {}
    )
    pairs = []
    for transition, lead_team, stage in found:
        history = later.get(transition.lead_id, [])
        index = next(i for i, t in enumerate(history) if t.id == transition.id)
        following = history[index + 1] if index + 1 < len(history) else None
        accepted = (
            following if following is not None and following.to_stage == Stage.SAL.value else None
        )
        if accepted_between and (
            accepted is None or not accepted_between[0] <= accepted.at < accepted_between[1]
        ):
            continue
        entry = _Entry(
            transition.lead_id,
            lead_team,
            transition.at,
            still_waiting=following is None and stage in QUALIFIED_VALUES,
        )
        pairs.append((entry, accepted))
    return pairs


def _by_lead(rows: Sequence[StageTransition]) -> dict[int, list[StageTransition]]:
    grouped: dict[int, list[StageTransition]] = {}
    for row in rows:
        grouped.setdefault(row.lead_id, []).append(row)
    return grouped


@dataclass(frozen=True)
class RepStats:
    """One rep's part in the handoff over a window: offers made to them, leads they accepted
    (and the median time from qualification to their accept), open leads now, and whether they
    are away (``/lead away``) at the end of the window."""

    rep: str
    team: str
    offered: int
    accepted: int
    median_accept_seconds: float | None
    open_now: int
    away: str | None


def rep_stats(
    session: Session,
    config: WorkspaceConfig,
    *,
    since: datetime,
    until: datetime,
    team: str | None = None,
) -> list[RepStats]:
    teams = [t for t in config.teams if team is None or t.name == team]
    reps = list(dict.fromkeys(rep for t in teams for rep in t.reps))
    if not reps:
        return []
    offered = dict(
        session.execute(
            select(Offer.rep, func.count())
            .where(Offer.rep.in_(reps), Offer.offered_at >= since, Offer.offered_at < until)
            .group_by(Offer.rep)
        ).all()
    )
    waits: dict[str, list[float]] = {}
    for entry, accepted in _handoffs(session, team, accepted_between=(since, until)):
        if accepted is not None and accepted.actor in reps:
            waits.setdefault(accepted.actor, []).append((accepted.at - entry.at).total_seconds())
    counts = offers.open_counts(session, reps)
    away = offers.away_now(session, reps, until)
    out = []
    for t in teams:
        for rep in t.reps:
            seconds = waits.get(rep, [])
            out.append(
                RepStats(
                    rep=rep,
                    team=t.name,
                    offered=int(offered.get(rep, 0)),
                    accepted=len(seconds),
                    median_accept_seconds=statistics.median(seconds) if seconds else None,
                    open_now=counts.get(rep, 0),
                    away=offers.away_text(away[rep], t) if rep in away else None,
                )
            )
    return out
