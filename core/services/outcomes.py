"""What sales made of marketing's leads: per source and campaign, and per scoring rule, what
`/lead stats` shows and the daily digest sums up for marketing.

Definitions (also in the README):
- A *handoff* is one qualification (a stage change into MQL or PQL) inside the window. A lead
  qualified twice (again after nurture) counts twice.
- Its *verdict* is the stage change that followed it, if that came before the window's end:
  *accepted* (to SAL) or *rejected* (to nurture or unqualified by a person, with a reason).
  Anything else (still waiting, or moved by leadbot) has no verdict yet.
- *Accept rate*: accepted / handoffs with a verdict. *SQL rate*: handoffs that reached SQL
  before the next qualification and the window's end / all handoffs.
- A rule *scored* a handoff when it gave the lead points: a fit rule that matches the lead's
  profile (as it is now; leadbot keeps no history of profile edits), with its label as the score
  reasons show it (``title contains 'vp'``); or an event type with points of which the lead had
  an event at or before the moment it qualified.
- *Bad fit rate*: handoffs rejected as "Bad fit" / handoffs with a verdict. A rule's *lift* is
  its bad fit rate over the overall one: 2.0 means leads it scored were rejected as a bad fit
  twice as often as the average.
- Small numbers stay numbers: a rate out of fewer than :data:`MIN_BASE` is not given (shown as
  "1 of 1", never "100%"), and no lift is given from such a rate.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal, TypeVar

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from core.config import WorkspaceConfig
from core.lifecycle import QUALIFIED, Stage
from core.models import Event, Lead, StageTransition
from core.scoring import match_rule
from core.services.handoff import REASONS_BY_CODE
from core.services.leads import profile_of
from core.services.reports import reason_label

#: The fewest cases a rate is computed from; below it only the counts are given.
MIN_BASE = 5
#: The digest's weekly lines: the fewest handoffs with a verdict in the week to say anything,
#: and the fewest a rule or a source needs of its own to be named.
WEEK_MIN_VERDICTS = 10
WEEK_MIN_OWN = MIN_BASE
BAD_FIT = REASONS_BY_CODE["bad_fit"].label
REJECTED_TO = (Stage.NURTURE.value, Stage.UNQUALIFIED.value)
QUALIFIED_VALUES = tuple(stage.value for stage in QUALIFIED)
_CHUNK = 500
T = TypeVar("T")

Verdict = Literal["accepted", "rejected"]


@dataclass(frozen=True)
class Share:
    """``count`` of ``total``; ``rate`` only when ``total`` is large enough to mean something."""

    count: int
    total: int

    @property
    def rate(self) -> float | None:
        return self.count / self.total if self.total >= MIN_BASE else None


@dataclass(frozen=True)
class Handoff:
    """One qualification in the window and what sales made of it by the window's end."""

    lead_id: int
    at: datetime
    source: str | None
    campaign: str | None
    verdict: Verdict | None
    reason: str | None  # the reject reason's label
    reached_sql: bool
    scored_by: frozenset[str]


@dataclass(frozen=True)
class GroupStats:
    """The handoffs of one source or one campaign (``name`` None: none given)."""

    name: str | None
    handoffs: int
    accepted: Share  # of those with a verdict
    sql: Share  # of all handoffs
    rejections: tuple[tuple[str, int], ...]  # most frequent first


@dataclass(frozen=True)
class RuleStats:
    rule: str
    kind: Literal["fit", "event"]
    bad_fit: Share  # of the handoffs it scored that have a verdict
    lift: float | None


@dataclass
class Outcomes:
    since: datetime
    until: datetime
    team: str | None
    handoffs: int = 0
    decided: int = 0
    bad_fit: Share = Share(0, 0)
    sources: list[GroupStats] = field(default_factory=list)
    campaigns: list[GroupStats] = field(default_factory=list)
    rules: list[RuleStats] = field(default_factory=list)  # highest lift first


def event_rule(kind: str) -> str:
    return f"{kind} event"


def summarize(
    handoffs: Sequence[Handoff],
    *,
    since: datetime,
    until: datetime,
    team: str | None = None,
    rules: Iterable[tuple[str, Literal["fit", "event"]]] = (),
) -> Outcomes:
    """The report from plain handoffs. Pure."""
    decided = [h for h in handoffs if h.verdict is not None]
    overall = Share(sum(1 for h in decided if h.reason == BAD_FIT), len(decided))
    kinds = dict(rules)
    for handoff in handoffs:
        for rule in handoff.scored_by:
            kinds.setdefault(rule, "fit")
    rule_stats = []
    for rule, kind in kinds.items():
        scored = [h for h in decided if rule in h.scored_by]
        share = Share(sum(1 for h in scored if h.reason == BAD_FIT), len(scored))
        lift = (
            share.rate / overall.rate
            if share.rate is not None and overall.rate  # None or 0: no average to compare with
            else None
        )
        rule_stats.append(RuleStats(rule, kind, share, lift))
    rule_stats.sort(
        key=lambda r: (r.lift is None, -(r.lift or 0.0), -r.bad_fit.total, r.kind, r.rule)
    )
    return Outcomes(
        since=since,
        until=until,
        team=team,
        handoffs=len(handoffs),
        decided=len(decided),
        bad_fit=overall,
        sources=_groups(handoffs, lambda h: h.source),
        campaigns=_groups(handoffs, lambda h: h.campaign),
        rules=rule_stats,
    )


def _groups(handoffs: Sequence[Handoff], key: Any) -> list[GroupStats]:
    grouped: dict[str | None, list[Handoff]] = defaultdict(list)
    for handoff in handoffs:
        grouped[key(handoff)].append(handoff)
    stats = []
    for name, members in grouped.items():
        decided = [h for h in members if h.verdict is not None]
        reasons = Counter(h.reason or "no reason" for h in decided if h.verdict == "rejected")
        stats.append(
            GroupStats(
                name=name,
                handoffs=len(members),
                accepted=Share(sum(1 for h in decided if h.verdict == "accepted"), len(decided)),
                sql=Share(sum(1 for h in members if h.reached_sql), len(members)),
                rejections=tuple(sorted(reasons.items(), key=lambda item: (-item[1], item[0]))),
            )
        )
    stats.sort(key=lambda g: (-g.handoffs, g.name is None, g.name or ""))
    return stats


def outcomes(
    session: Session,
    config: WorkspaceConfig,
    *,
    since: datetime,
    until: datetime,
    team: str | None = None,
) -> Outcomes:
    """The report over the handoffs in ``[since, until)``, of one team or all."""
    return summarize(
        load_handoffs(session, config, since=since, until=until, team=team),
        since=since,
        until=until,
        team=team,
        rules=rule_names(config),
    )


def rule_names(config: WorkspaceConfig) -> list[tuple[str, Literal["fit", "event"]]]:
    """Every event type that scores; fit rules are named by what they matched (per word)."""
    scoring = config.scoring
    tables = (scoring.events, scoring.product_events)
    return [(event_rule(kind), "event") for table in tables for kind, p in table.items() if p]


def load_handoffs(
    session: Session,
    config: WorkspaceConfig,
    *,
    since: datetime,
    until: datetime,
    team: str | None = None,
) -> list[Handoff]:
    query = (
        select(StageTransition.id, StageTransition.at, Lead)
        .join(Lead, Lead.id == StageTransition.lead_id)
        .where(
            StageTransition.to_stage.in_(QUALIFIED_VALUES),
            StageTransition.at >= since,
            StageTransition.at < until,
        )
        .order_by(StageTransition.at, StageTransition.id)
    )
    if team:
        query = query.where(Lead.team == team)
    entries = session.execute(query).all()
    lead_ids = sorted({lead.id for _, _, lead in entries})
    histories = _histories(session, lead_ids, until)
    first_events = _first_events(session, config, lead_ids)
    fit_rules = [rule for rule in config.scoring.fit if rule.points]

    handoffs = []
    for transition_id, at, lead in entries:
        profile = profile_of(lead)
        labels = {label for rule in fit_rules if (label := match_rule(rule, profile))}
        labels |= {
            event_rule(kind) for kind, first in first_events.get(lead.id, {}).items() if first <= at
        }
        verdict, reason, reached_sql = _fate(histories.get(lead.id, []), transition_id)
        campaign = lead.campaign or (lead.properties or {}).get("campaign")
        handoffs.append(
            Handoff(
                lead_id=lead.id,
                at=at,
                source=lead.source or None,
                campaign=str(campaign) if campaign not in (None, "") else None,
                verdict=verdict,
                reason=reason,
                reached_sql=reached_sql,
                scored_by=frozenset(labels),
            )
        )
    return handoffs


def _fate(
    history: Sequence[StageTransition], transition_id: int
) -> tuple[Verdict | None, str | None, bool]:
    """The verdict on one qualification, its reject reason, and whether it reached SQL."""
    index = next(i for i, t in enumerate(history) if t.id == transition_id)
    following = history[index + 1 :]
    verdict: Verdict | None = None
    reason = None
    if following:
        step = following[0]
        if step.to_stage == Stage.SAL.value:
            verdict = "accepted"
        elif step.to_stage in REJECTED_TO and step.actor != "system":
            verdict, reason = "rejected", reason_label(step.reason)
    reached_sql = False
    for step in following:
        if step.to_stage in QUALIFIED_VALUES:
            break  # qualified again: what follows belongs to that handoff
        if step.to_stage == Stage.SQL.value:
            reached_sql = True
            break
    return verdict, reason, reached_sql


def _histories(
    session: Session, lead_ids: list[int], until: datetime
) -> dict[int, list[StageTransition]]:
    grouped: dict[int, list[StageTransition]] = defaultdict(list)
    for chunk in _chunks(lead_ids):
        rows = session.scalars(
            select(StageTransition)
            .where(StageTransition.lead_id.in_(chunk), StageTransition.at < until)
            .order_by(StageTransition.lead_id, StageTransition.at, StageTransition.id)
        )
        for row in rows:
            grouped[row.lead_id].append(row)
    return grouped


def _first_events(
    session: Session, config: WorkspaceConfig, lead_ids: list[int]
) -> dict[int, dict[str, datetime]]:
    """Per lead, the first time it had each event type that scores."""
    scoring = config.scoring
    kinds = [k for table in (scoring.events, scoring.product_events) for k, p in table.items() if p]
    first: dict[int, dict[str, datetime]] = defaultdict(dict)
    if not kinds:
        return first
    for chunk in _chunks(lead_ids):
        rows = session.execute(
            select(Event.lead_id, Event.type, func.min(Event.occurred_at))
            .where(Event.lead_id.in_(chunk), Event.type.in_(kinds))
            .group_by(Event.lead_id, Event.type)
        )
        for lead_id, kind, at in rows:
            first[lead_id][kind] = at
    return first


def _chunks(ids: list[T]) -> Iterator[list[T]]:
    for start in range(0, len(ids), _CHUNK):
        yield ids[start : start + _CHUNK]


# --- the digest's weekly lines ----------------------------------------------------------------


@dataclass(frozen=True)
class WeekLines:
    """What the digest says about the week; None where there is too little to say."""

    decided: int
    worst_rule: RuleStats | None
    best_source: GroupStats | None
    worst_source: GroupStats | None


def week_lines(report: Outcomes) -> WeekLines:
    """The rule with the highest bad fit lift above 1 (at least :data:`WEEK_MIN_OWN` verdicts
    and two Bad fit rejections of its own), and the sources with the highest and the lowest
    accept rate (each with at least :data:`WEEK_MIN_OWN` verdicts, and only when they differ);
    nothing at all with fewer than :data:`WEEK_MIN_VERDICTS` verdicts in the week."""
    if report.decided < WEEK_MIN_VERDICTS:
        return WeekLines(report.decided, None, None, None)
    worst_rule = next(
        (
            rule
            for rule in report.rules  # highest lift first
            if rule.lift is not None
            and rule.lift > 1
            and rule.bad_fit.total >= WEEK_MIN_OWN
            and rule.bad_fit.count >= 2
        ),
        None,
    )
    ranked = sorted(
        (g for g in report.sources if g.accepted.total >= WEEK_MIN_OWN),
        key=lambda g: (-(g.accepted.rate or 0.0), -g.accepted.total, g.name or ""),
    )
    best = worst = None
    if len(ranked) >= 2 and ranked[0].accepted.rate != ranked[-1].accepted.rate:
        best, worst = ranked[0], ranked[-1]
    return WeekLines(report.decided, worst_rule, best, worst)
