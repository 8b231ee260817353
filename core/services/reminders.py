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

Which leads a run reads: ``leads.next_reminder_at`` (indexed), never later than the time the
lead's current stage entry has its next reminder, NULL when nothing more can come due. A run
reads only the leads whose time has come (one index range), decides with the rules above, and
stores for each lead it examined its precise next time (NULL once every level went out). The
column only narrows the search: a time too early costs one needless look, a time too late
delays a check but never sends twice, since ``sent_reminders`` stays the once-only guard.

- A stage change (``stages.transition``) stores the entry's own time, "check at once", for an
  open stage and NULL for a closed one; a snooze stores its end. Neither needs the config.
- The run writes a lead's time only if the lead is as it read it (same stage entry, same stored
  time): a stage change or snooze committed meanwhile keeps the time it wrote.
- Stored times depend on the SLA and each team's zone and hours. ``reminder_basis`` holds a
  fingerprint of those (``schedule_fingerprint``); a run whose config has another one examines
  every open lead once, stores their times and the new fingerprint. Each run locks that row, so
  runs take turns. No row yet means no run stored a time, and the times stored without the
  config (above) hold under any config.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

from sqlalchemy import and_, bindparam, or_, select, update
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
from core.models import Lead, ReminderBasis, ReminderSnooze, SentReminder, StageTransition
from core.refusals import Refused
from core.services.leads import get_lead, stage_entry

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
_OPEN_VALUES = frozenset(stage.value for stage in LEVELS)


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


def schedule_fingerprint(config: WorkspaceConfig) -> str:
    """What stored next-reminder times are computed from: the SLA durations and every team's
    zone and business hours (a lead whose team left the config counts in ``DEFAULT_HOURS``, so
    the list of teams matters too). Team membership changes recipients, never times."""
    basis = {
        "sla": {level: str(getattr(config.sla, level)) for level in MESSAGES},
        "teams": {
            team.name: [team.timezone, team.business_hours.model_dump(mode="json")]
            for team in config.teams
        },
    }
    return hashlib.sha256(json.dumps(basis, sort_keys=True).encode()).hexdigest()


@dataclass
class _Entry:
    """One lead the run examines, with what the decision needs and what guards the write."""

    lead_id: int
    stage: str
    team: str | None
    changed_at: datetime
    stored: datetime | None  # its next_reminder_at as read
    entry_id: int | None  # the transition that entered the stage (None: no such row)
    entered_at: datetime | None
    sent: dict[str, datetime]
    snoozed_until: datetime | None


@dataclass(frozen=True)
class _Scan:
    due: list[Due]
    #: Every examined lead and the time its next reminder goes out once ``due`` is sent.
    next_at: list[tuple[_Entry, datetime | None]]


def _entries(session: Session, now: datetime, *, full: bool) -> list[_Entry]:
    """The leads whose stored time has come (an index range on ``next_reminder_at``), or with
    ``full`` every open lead and every lead with a stored time; with the transition that entered
    the stage, the levels sent for it and its snooze, in one query of plain rows."""
    which = (
        and_(
            or_(Lead.next_reminder_at.is_not(None), Lead.stage.in_([s.value for s in LEVELS])),
            Lead.erased_at.is_(None),  # an erased lead is reminded of no more
        )
        if full
        else Lead.next_reminder_at <= now
    )
    rows = session.execute(
        select(
            Lead.id,
            Lead.stage,
            Lead.team,
            Lead.stage_changed_at,
            Lead.next_reminder_at,
            StageTransition.id,
            StageTransition.at,
            SentReminder.level,
            SentReminder.sent_at,
            ReminderSnooze.until,
        )
        .select_from(Lead)
        .outerjoin(
            StageTransition,
            and_(
                StageTransition.lead_id == Lead.id,
                StageTransition.at == Lead.stage_changed_at,
                StageTransition.to_stage == Lead.stage,
            ),
        )
        .outerjoin(SentReminder, SentReminder.transition_id == StageTransition.id)
        .outerjoin(ReminderSnooze, ReminderSnooze.transition_id == StageTransition.id)
        .where(which)
    )
    found: dict[int, _Entry] = {}
    for lead_id, stage, team, changed, stored, entry_id, at, level, sent_at, until in rows:
        item = found.get(lead_id)
        if item is None or (entry_id or 0) > (item.entry_id or 0):  # the last of equal times
            item = _Entry(lead_id, stage, team, changed, stored, entry_id, at, {}, until)
            found[lead_id] = item
        if level is not None and entry_id == item.entry_id:
            item.sent[level] = sent_at
    return [found[lead_id] for lead_id in sorted(found)]


def _scan(session: Session, config: WorkspaceConfig, now: datetime, *, full: bool) -> _Scan:
    due: list[Due] = []
    next_at: list[tuple[_Entry, datetime | None]] = []
    clocks: dict[str | None, tuple[BusinessHours, ZoneInfo]] = {}
    for item in _entries(session, now, full=full):
        if item.entry_id is None or item.entered_at is None or item.stage not in _OPEN_VALUES:
            next_at.append((item, None))  # closed, or no stage entry: nothing can come due
            continue
        stage = Stage(item.stage)
        if item.team not in clocks:
            clocks[item.team] = hours_of(config, item.team)
        hours, zone = clocks[item.team]
        dues = sla_due(stage, item.entered_at, config.sla, hours, zone)
        levels = due_levels(stage, dues, item.sent, item.snoozed_until, now)
        for level in levels:
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
        after = {**item.sent, **{level.level: now for level in levels}}
        next_at.append((item, next_reminder_at(stage, dues, after, item.snoozed_until, now)))
    return _Scan(due, next_at)


def _stored_fingerprint(session: Session) -> str | None:
    return session.scalar(select(ReminderBasis.fingerprint).where(ReminderBasis.id == 1))


def _lock_basis(session: Session, fingerprint: str, now: datetime) -> bool:
    """Take the basis row (one reminders run at a time) and make it ``fingerprint``; True when
    the stored times came from another basis, so that this run must recompute every open lead.
    No row yet means no run has stored a time, and the times stored without one (a stage entry's
    own time, a snooze's end) hold under any config."""
    insert_or_ignore(
        session,
        ReminderBasis,
        {"id": 1, "fingerprint": fingerprint, "updated_at": now},
        ("id",),
    )
    basis = session.scalars(
        select(ReminderBasis).where(ReminderBasis.id == 1).with_for_update()
    ).one()
    if basis.fingerprint == fingerprint:
        return False
    basis.fingerprint, basis.updated_at = fingerprint, now
    return True


def _store_next(session: Session, next_at: list[tuple[_Entry, datetime | None]]) -> None:
    """Write each examined lead's next time, unless the lead changed since it was read: a new
    stage entry or a snooze wrote its own time, which stands."""
    changes = [
        {"b_id": item.lead_id, "b_changed": item.changed_at, "b_stored": item.stored, "b_next": at}
        for item, at in next_at
        if at != item.stored
    ]
    if not changes:
        return
    statement = (
        update(Lead)
        .where(
            Lead.id == bindparam("b_id"),
            Lead.stage_changed_at == bindparam("b_changed"),
            Lead.next_reminder_at.is_not_distinct_from(bindparam("b_stored")),
        )
        .values(next_reminder_at=bindparam("b_next"))
    )
    # Core executemany (a batch on both drivers), not the ORM's bulk update by primary key.
    session.connection().execute(statement, changes)


def due_reminders(session: Session, config: WorkspaceConfig, now: datetime) -> list[Due]:
    """Every reminder due at ``now`` that has not been sent (read only)."""
    stored = _stored_fingerprint(session)
    full = stored is not None and stored != schedule_fingerprint(config)
    return _scan(session, config, now, full=full).due


def send_reminders(session: Session, config: WorkspaceConfig, now: datetime) -> list[Due]:
    """Queue every due reminder once: record the level and its outbox rows in this transaction.
    A level another run recorded first (even one still in flight) is skipped. Stores each
    examined lead's next time. Returns what this call queued."""
    full = _lock_basis(session, schedule_fingerprint(config), now)
    scan = _scan(session, config, now, full=full)
    queued: list[Due] = []
    for item in scan.due:
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
    _store_next(session, scan.next_at)
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
    lead.next_reminder_at = until
    session.flush()
    return until


def snooze_for(
    session: Session, lead_id: int, *, actor: str, config: WorkspaceConfig, now: datetime
) -> datetime:
    """:func:`snooze`; the new time in the lead's team's time zone, as the person is told."""
    until = snooze(session, lead_id, actor=actor, config=config, now=now)
    return until.astimezone(hours_of(config, get_lead(session, lead_id).team)[1])
