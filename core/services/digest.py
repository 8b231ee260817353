"""The daily digest for the marketing channel: yesterday's handoff numbers and the last 30 days'
funnel, queued once per day as an outbox row whose payload holds the numbers.

- *Yesterday* is the UTC calendar day before ``now`` (the workspace config gives marketing no
  time zone; UTC days also line up with ``/lead stats`` and the chart).
- The numbers come from :func:`core.services.reports.funnel` over that day; *unrouted* is the
  number of leads waiting without a team when the digest is made.
- The chart's series count stage entries per UTC day over the 30 days ending with yesterday.
- *The week*: the 7 UTC days ending with yesterday. Its worst scoring rule and its best and worst
  source come from :func:`core.services.outcomes.week_lines` (minimums documented there); the
  payload's ``week`` is None when the week had fewer than ``WEEK_MIN_VERDICTS`` verdicts.
- *Learned score*: one line per model version trained that day, promoted or kept in shadow
  with the promotion check's reason.
- Once per day: the outbox row's ``dedupe_key`` is ``digest:<day>`` (unique), inserted with
  ``ON CONFLICT DO NOTHING``, so any number of runs and processes queue one digest per day.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from core.config import WorkspaceConfig
from core.messages import Digest, DigestRule, DigestSource, DigestWeek, digest_key, enqueue
from core.models import Outbox, ScoringModel, StageTransition
from core.services.outcomes import WEEK_MIN_VERDICTS, GroupStats, outcomes, week_lines
from core.services.reports import funnel

CHART_DAYS = 30
WEEK_DAYS = 7
#: Chart series: name -> the stages whose entries it counts.
SERIES: dict[str, tuple[str, ...]] = {
    "mql_pql": ("mql", "pql"),
    "sal": ("sal",),
    "sql": ("sql",),
    "sqo": ("sqo",),
}


def digest_day(now: datetime) -> date:
    """The day a digest made at ``now`` reports on: yesterday, in UTC."""
    return now.astimezone(UTC).date() - timedelta(days=1)


def day_window(day: date) -> tuple[datetime, datetime]:
    start = datetime.combine(day, time(0), tzinfo=UTC)
    return start, start + timedelta(days=1)


def daily_series(session: Session, last_day: date, days: int = CHART_DAYS) -> dict[str, Any]:
    """Stage entries per UTC day for the ``days`` days ending with ``last_day``."""
    first_day = last_day - timedelta(days=days - 1)
    since, _ = day_window(first_day)
    _, until = day_window(last_day)
    stages = [stage for group in SERIES.values() for stage in group]
    counts: dict[str, list[int]] = {name: [0] * days for name in SERIES}
    rows = session.execute(
        select(StageTransition.to_stage, StageTransition.at).where(
            StageTransition.at >= since,
            StageTransition.at < until,
            StageTransition.to_stage.in_(stages),
        )
    )
    for stage, at in rows:
        index = (at.astimezone(UTC).date() - first_day).days
        for name, group in SERIES.items():
            if stage in group:
                counts[name][index] += 1
    return {"first_day": first_day.isoformat(), "days": days, **counts}


def digest_numbers(session: Session, config: WorkspaceConfig, day: date) -> Digest:
    """The digest for ``day``."""
    since, until = day_window(day)
    report = funnel(session, config, since=since, until=until)
    return Digest(
        day=day.isoformat(),
        since=since.isoformat(),
        until=until.isoformat(),
        mql=report.entered.get("mql", 0),
        pql=report.entered.get("pql", 0),
        accepted=report.entered.get("sal", 0),
        rejected=sum(report.rejected.values()),
        top_rejections=tuple(report.top_rejections()),
        median_accept_seconds=report.median_accept_seconds,
        unrouted=report.unrouted,
        breaches=len(report.breaches),
        breach_leads=tuple(sorted(report.breaches)[:10]),
        series=daily_series(session, day),
        week=week_numbers(session, config, day),
        models=model_lines(session, since, until),
    )


def model_lines(session: Session, since: datetime, until: datetime) -> tuple[str, ...]:
    """One line per model version trained in ``[since, until)``: promoted, or held back and why."""
    rows = session.execute(
        select(ScoringModel.id, ScoringModel.source, ScoringModel.decision)
        .where(
            ScoringModel.created_at >= since,
            ScoringModel.created_at < until,
            ScoringModel.decision.is_not(None),
        )
        .order_by(ScoringModel.id)
    )
    return tuple(
        f"Learned score version {version} (from {source}): {decision}"
        for version, source, decision in rows
    )


def _source(group: GroupStats | None) -> DigestSource | None:
    if group is None:
        return None
    return DigestSource(group.name, group.accepted.count, group.accepted.total)


def week_numbers(session: Session, config: WorkspaceConfig, day: date) -> DigestWeek | None:
    """The week's worst rule and best and worst source, or None with too few verdicts."""
    since, _ = day_window(day - timedelta(days=WEEK_DAYS - 1))
    _, until = day_window(day)
    report = outcomes(session, config, since=since, until=until)
    lines = week_lines(report)
    if lines.decided < WEEK_MIN_VERDICTS:
        return None
    rule = lines.worst_rule
    return DigestWeek(
        since=since.isoformat(),
        decided=lines.decided,
        worst_rule=None
        if rule is None
        else DigestRule(
            rule=rule.rule,
            bad_fit=rule.bad_fit.count,
            decided=rule.bad_fit.total,
            overall_bad_fit=report.bad_fit.count,
            overall_decided=report.bad_fit.total,
        ),
        best_source=_source(lines.best_source),
        worst_source=_source(lines.worst_source),
    )


def queue_digest(session: Session, config: WorkspaceConfig, now: datetime) -> bool:
    """Queue yesterday's digest unless it was queued already; True if this call queued it."""
    day = digest_day(now)
    # Checked first so that a day already queued costs no report.
    if session.scalar(select(Outbox.id).where(Outbox.dedupe_key == digest_key(day.isoformat()))):
        return False
    return enqueue(session, digest_numbers(session, config, day), now=now)
