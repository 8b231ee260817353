"""Stale-lead reminders and escalations, counted in business time from the stage entry.

Levels, each due after its ``[sla]`` duration of the lead's team's business time (its zone,
hours and days) since the transition that entered the current stage:

| level             | stage    | what                                                          |
| ----------------- | -------- | ------------------------------------------------------------- |
| ``mql_accept``    | mql, pql | a reply in the alert's thread mentioning the team's reps      |
| ``mql_escalate``  | mql, pql | a DM to each manager of the team (Accept, Assign)             |
| ``sal_qualify``   | sal      | a DM to the owner (Qualify, Snooze 1 day, Nurture)            |
| ``sql_opportunity`` | sql    | a DM to the owner (Opportunity, Snooze 1 day, Nurture)        |

- Each level goes out at most once per stage entry: a ``sent_reminders`` row keyed by (stage
  entry, level) is inserted with ``ON CONFLICT DO NOTHING`` in the transaction that queues the
  outbox rows, so a second run, in this process or another, queues nothing.
- A lead that moved on has a new stage entry; the old entry's levels no longer apply, and the
  notifier drops a queued reminder whose stage entry is no longer current.
- An owner who is no longer a rep or manager of any team: the team's managers get the DM.
- Unrouted leads (no team) count in ``DEFAULT_HOURS`` (Mon-Fri 09:00-18:00 UTC, as the funnel
  report's SLA breaches do). The thread reminder goes under the alert in the marketing channel
  and mentions the marketing members; the escalation goes to every manager, since any manager
  may accept or assign an unrouted lead.
- Snooze (owner or team manager) moves the next reminder of the current stage entry by one
  business day: unsent levels wait until then; if every level was sent already, the last one is
  repeated once at that moment (level ``snooze:<moment>``, so it too goes out at most once).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import ColumnElement, and_, exists, select
from sqlalchemy.orm import Session

from core import access
from core.access import Action
from core.businesstime import add_business_days, add_business_time, hours_of
from core.config import BusinessHours, Duration, Sla, Team, WorkspaceConfig
from core.db import insert_or_ignore
from core.lifecycle import OPEN, Stage
from core.messages import (
    Reminder,
    ReminderEscalation,
    ReminderOwner,
    ReminderThread,
    enqueue,
)
from core.models import Lead, ReminderSnooze, SentReminder, StageTransition
from core.refusals import Refused
from core.services.leads import get_lead
from core.services.stages import stage_entry

#: The SLA levels of each open stage, in the order they come due.
LEVELS: dict[Stage, tuple[str, ...]] = {
    Stage.MQL: ("mql_accept", "mql_escalate"),
    Stage.PQL: ("mql_accept", "mql_escalate"),
    Stage.SAL: ("sal_qualify",),
    Stage.SQL: ("sql_opportunity",),
}

#: The message that delivers each level.
MESSAGES: dict[str, type[Reminder]] = {
    "mql_accept": ReminderThread,
    "mql_escalate": ReminderEscalation,
    "sal_qualify": ReminderOwner,
    "sql_opportunity": ReminderOwner,
}

SNOOZE_PREFIX = "snooze:"
_CHUNK = 500


@dataclass(frozen=True)
class DueLevel:
    """One reminder that is due: ``level`` is what is recorded, ``repeats`` the SLA level whose
    message it sends (the same, except for a repeat after a snooze)."""

    level: str
    repeats: str
    due_at: datetime


@dataclass(frozen=True)
class Due:
    lead_id: int
    transition_id: int
    stage: str
    level: str
    repeats: str
    due_at: datetime

    @property
    def message(self) -> type[Reminder]:
        return MESSAGES[self.repeats]


def snooze_level(until: datetime) -> str:
    return SNOOZE_PREFIX + until.astimezone(UTC).strftime("%Y%m%dT%H%MZ")


# --- pure scheduling -------------------------------------------------------------------------


def sla_due(
    stage: Stage, entered_at: datetime, sla: Sla, hours: BusinessHours, zone: ZoneInfo
) -> dict[str, datetime]:
    """When each level of ``stage`` comes due for a stage entry at ``entered_at`` (UTC)."""
    durations: dict[str, Duration] = {
        "mql_accept": sla.mql_accept,
        "mql_escalate": sla.mql_escalate,
        "sal_qualify": sla.sal_qualify,
        "sql_opportunity": sla.sql_opportunity,
    }
    return {
        level: add_business_time(entered_at, durations[level], hours, zone)
        for level in LEVELS.get(stage, ())
    }


def _pending(
    dues: Mapping[str, datetime], sent: Mapping[str, datetime], snoozed_until: datetime | None
) -> dict[str, datetime]:
    return {
        level: max(due, snoozed_until) if snoozed_until else due
        for level, due in dues.items()
        if level not in sent
    }


def _repeat_after_snooze(
    stage: Stage, sent: Mapping[str, datetime], snoozed_until: datetime | None
) -> str | None:
    """The SLA level to repeat at ``snoozed_until``, if nothing went out since that moment."""
    if snoozed_until is None or any(at >= snoozed_until for at in sent.values()):
        return None
    done = [level for level in LEVELS.get(stage, ()) if level in sent]
    return done[-1] if done else None


def due_levels(
    stage: Stage,
    dues: Mapping[str, datetime],
    sent: Mapping[str, datetime],
    snoozed_until: datetime | None,
    now: datetime,
) -> list[DueLevel]:
    """What goes out at ``now`` for one stage entry: levels whose time (SLA due, or the snooze
    if later) has come and that were not sent; else, once a snooze has run out with every level
    already sent, one repeat of the last level."""
    pending = _pending(dues, sent, snoozed_until)
    out = [DueLevel(level, level, at) for level, at in pending.items() if at <= now]
    if not out and snoozed_until is not None and snoozed_until <= now:
        repeat = _repeat_after_snooze(stage, sent, snoozed_until)
        if repeat is not None:
            out.append(DueLevel(snooze_level(snoozed_until), repeat, snoozed_until))
    return out


def next_reminder_at(
    stage: Stage,
    dues: Mapping[str, datetime],
    sent: Mapping[str, datetime],
    snoozed_until: datetime | None,
    now: datetime,
) -> datetime | None:
    """When the stage entry's next reminder goes out (``now`` if one is overdue); None if all
    went out and no snooze is pending."""
    candidates = list(_pending(dues, sent, snoozed_until).values())
    if snoozed_until is not None and _repeat_after_snooze(stage, sent, snoozed_until):
        candidates.append(snoozed_until)
    return max(now, min(candidates)) if candidates else None


def _earliest_real_time(duration: Duration) -> timedelta:
    """A lower bound of the real time a business duration takes (for the database pre-filter):
    business minutes pass no faster than real ones, and ``n`` business days keep the wall-clock
    time ``n`` or more dates later (minus a clock change)."""
    if duration.unit == "d":
        return timedelta(days=duration.amount) - timedelta(hours=3)
    return timedelta(minutes=duration.minutes)


# --- recipients ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Delivery:
    """Where one reminder message goes: a user ID (a DM) or a channel ID; ``mentions`` for a
    thread reminder; ``instead_of`` names a departed owner the managers stand in for."""

    to: str
    mentions: tuple[str, ...] = ()
    instead_of: str | None = None


def _all_managers(config: WorkspaceConfig) -> list[str]:
    return list(dict.fromkeys(m for team in config.teams for m in team.managers))


def deliveries(config: WorkspaceConfig, lead: Lead, repeats: str) -> list[Delivery]:
    team: Team | None = config.team(lead.team)
    message = MESSAGES[repeats]
    fallback_channel = team.channel if team else config.marketing.channel
    if message is ReminderThread:
        mentions = (team.reps or team.managers) if team else config.marketing.members
        return [Delivery(fallback_channel, tuple(mentions))]
    managers = team.managers if team else _all_managers(config)
    if message is ReminderEscalation:
        return [Delivery(m) for m in managers] or [Delivery(fallback_channel)]
    owner = lead.owner
    if owner and access.sales_teams(config, owner):
        return [Delivery(owner)]
    return [Delivery(m, instead_of=owner) for m in managers] or [
        Delivery(fallback_channel, instead_of=owner)
    ]


# --- the database side -----------------------------------------------------------------------


@dataclass
class _Entry:
    lead_id: int
    stage: str
    team: str | None
    entry_id: int
    entered_at: datetime
    sent: dict[str, datetime]
    snoozed_until: datetime | None


def _fully_reminded(levels: tuple[str, ...]) -> ColumnElement[bool]:
    """The joined stage entry had every level of its stage sent and has no snooze: nothing can
    come due for it any more. Most open leads are like this, and loading them on every run was
    the scan's cost; this is answered from the unique indexes on reminders and snoozes by
    transition, without loading the lead."""
    sent = [
        exists().where(
            SentReminder.transition_id == StageTransition.id, SentReminder.level == level
        )
        for level in levels
    ]
    return and_(*sent, ~exists().where(ReminderSnooze.transition_id == StageTransition.id))


def _open_entries(session: Session, config: WorkspaceConfig, now: datetime) -> list[_Entry]:
    """Open leads that have been in their stage long enough for a level to be due, with the
    transition that entered the stage, the levels already sent and any snooze."""
    # Plain rows of only what the decision needs (no ORM objects: this runs over every stale
    # lead); the entry is the stage's latest transition. One query per stage, so that each is a
    # range on the (stage, stage_changed_at) index.
    rows: list[Any] = []
    for stage, levels in LEVELS.items():
        cutoff = now - min(_earliest_real_time(getattr(config.sla, lvl)) for lvl in levels)
        rows += session.execute(
            select(Lead.id, Lead.stage, Lead.team, StageTransition.id, StageTransition.at)
            .join(
                StageTransition,
                and_(
                    StageTransition.lead_id == Lead.id,
                    StageTransition.at == Lead.stage_changed_at,
                    StageTransition.to_stage == Lead.stage,
                ),
            )
            .where(
                Lead.stage == stage.value,
                Lead.stage_changed_at <= cutoff,
                ~_fully_reminded(levels),
            )
        ).all()
    rows.sort(key=lambda row: (row[0], row[3]))
    latest = {row[0]: row for row in rows}  # the last of equal times wins
    pairs = list(latest.values())
    found: list[_Entry] = []
    for start in range(0, len(pairs), _CHUNK):
        batch = pairs[start : start + _CHUNK]
        entry_ids = [row[3] for row in batch]
        sent: dict[int, dict[str, datetime]] = {}
        for transition_id, level, sent_at in session.execute(
            select(SentReminder.transition_id, SentReminder.level, SentReminder.sent_at).where(
                SentReminder.transition_id.in_(entry_ids)
            )
        ):
            sent.setdefault(transition_id, {})[level] = sent_at
        snoozes = {
            transition_id: until
            for transition_id, until in session.execute(
                select(ReminderSnooze.transition_id, ReminderSnooze.until).where(
                    ReminderSnooze.transition_id.in_(entry_ids)
                )
            )
        }
        for lead_id, stage_value, team, entry_id, entered_at in batch:
            found.append(
                _Entry(
                    lead_id,
                    stage_value,
                    team,
                    entry_id,
                    entered_at,
                    sent.get(entry_id, {}),
                    snoozes.get(entry_id),
                )
            )
    return found


def due_reminders(session: Session, config: WorkspaceConfig, now: datetime) -> list[Due]:
    """Every reminder due at ``now`` that has not been sent (read only)."""
    due: list[Due] = []
    for item in _open_entries(session, config, now):
        stage = Stage(item.stage)
        hours, zone = hours_of(config, item.team)
        dues = sla_due(stage, item.entered_at, config.sla, hours, zone)
        for level in due_levels(stage, dues, item.sent, item.snoozed_until, now):
            due.append(
                Due(
                    item.lead_id,
                    item.entry_id,
                    stage.value,
                    level.level,
                    level.repeats,
                    level.due_at,
                )
            )
    return due


def send_reminders(session: Session, config: WorkspaceConfig, now: datetime) -> list[Due]:
    """Queue every due reminder once: record the level and its outbox rows in this transaction.
    A level another run recorded first (even one still in flight) is skipped. Returns what this
    call queued."""
    queued: list[Due] = []
    for item in due_reminders(session, config, now):
        claimed = insert_or_ignore(
            session,
            SentReminder,
            {
                "lead_id": item.lead_id,
                "transition_id": item.transition_id,
                "level": item.level,
                "sent_at": now,
            },
            ("transition_id", "level"),
        )
        if not claimed:
            continue
        lead = session.get(Lead, item.lead_id)
        assert lead is not None  # selected above, and leads are never deleted mid-run
        for target in deliveries(config, lead, item.repeats):
            enqueue(
                session,
                item.message(
                    lead_id=item.lead_id,
                    transition_id=item.transition_id,
                    stage=item.stage,
                    level=item.level,
                    repeats=item.repeats,
                    due_at=item.due_at.isoformat(),
                    to=target.to,
                    mentions=target.mentions,
                    instead_of=target.instead_of,
                ),
                now=now,
            )
        queued.append(item)
    session.flush()
    return queued


def snooze(
    session: Session, lead_id: int, *, actor: str, config: WorkspaceConfig, now: datetime
) -> datetime:
    """Move the lead's next reminder (in its current stage) by one business day; returns when
    it will now go out. For the owner or a manager of the lead's team."""
    lead = get_lead(session, lead_id, lock=True)
    access.check(Action.SNOOZE, config, actor, lead)
    stage = Stage(lead.stage)
    entry = stage_entry(session, lead) if stage in OPEN else None
    if entry is None:
        raise Refused(f"The lead is {lead.stage} now, so there are no reminders to snooze.")
    sent = {
        r.level: r.sent_at
        for r in session.scalars(select(SentReminder).where(SentReminder.transition_id == entry.id))
    }
    row = session.scalars(
        select(ReminderSnooze).where(ReminderSnooze.transition_id == entry.id)
    ).first()
    hours, zone = hours_of(config, lead.team)
    dues = sla_due(stage, entry.at, config.sla, hours, zone)
    base = next_reminder_at(stage, dues, sent, row.until if row else None, now) or now
    until = add_business_days(max(base, now), 1, hours, zone)
    if row is None:
        session.add(
            ReminderSnooze(
                lead_id=lead.id, transition_id=entry.id, until=until, actor=actor, created_at=now
            )
        )
    else:
        row.until, row.actor, row.created_at = until, actor, now
    session.flush()
    return until
