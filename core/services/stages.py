"""Stage changes: a compare-and-set on the lead's version plus the audit row, in one transaction."""

from __future__ import annotations

from collections.abc import Collection, Mapping
from datetime import datetime
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from core.lifecycle import OPEN, Stage, check_move
from core.models import Lead, StageTransition
from core.refusals import ErasedLead, Refusal
from core.services import crm_writes, webhook_events
from core.services.leads import stage_entry

_UNSET: Any = object()


class Conflict(Refusal):
    """Somebody else changed the lead first; ``winner`` is their transition (if any)."""

    def __init__(self, lead: Lead, winner: StageTransition | None) -> None:
        self.lead = lead
        self.winner = winner
        if winner is None:
            super().__init__(f"The lead changed meanwhile; it is {lead.stage} now.")
            return
        by_leadbot = winner.actor == "system"
        super().__init__(
            f"Too late: {'leadbot' if by_leadbot else '{winner}'} already moved this lead to "
            f"{winner.to_stage} at {winner.at:%Y-%m-%d %H:%M} UTC.",
            people={} if by_leadbot else {"winner": winner.actor},
        )


def latest_transition(session: Session, lead_id: int) -> StageTransition | None:
    return session.scalars(
        select(StageTransition)
        .where(StageTransition.lead_id == lead_id)
        .order_by(StageTransition.at.desc(), StageTransition.id.desc())
        .limit(1)
    ).first()


def waited_seconds(session: Session, lead: Lead, now: datetime) -> int:
    """How long the lead has been in its current stage."""
    entry = stage_entry(session, lead)
    start = entry.at if entry else lead.stage_changed_at
    return max(0, int((now - start).total_seconds()))


def transition(
    session: Session,
    lead: Lead,
    to: Stage,
    *,
    actor: str,
    now: datetime,
    reason: str | None = None,
    expect: Collection[Stage] | None = None,
    team: str | None = _UNSET,
    details: Mapping[str, Any] | None = None,
) -> StageTransition:
    """Move ``lead`` to ``to`` and record who, why and when.

    ``expect`` is the set of stages the caller believes the lead is in (the alert said ``mql``):
    if it has moved on, :class:`Conflict` names who moved it. A move the table does not allow
    raises :class:`~core.lifecycle.IllegalTransition`. If another transaction changes the lead
    between our read and our write, the version check fails and :class:`Conflict` is raised;
    nothing is written in either case.

    The same transaction records the change's webhook events (``details`` adds what only the
    caller knows, like a reject's reason code and comment) and, for a lead linked to a CRM,
    its writes to the CRM.
    """
    if lead.erased_at is not None:
        raise ErasedLead(lead.id, lead.erased_at)
    current = Stage(lead.stage)
    if expect is not None and current not in expect:
        raise Conflict(lead, latest_transition(session, lead.id))
    check_move(current, to)

    values: dict[str, Any] = {
        "stage": to.value,
        "stage_changed_at": now,
        "updated_at": now,
        "version": Lead.version + 1,
        # A new stage entry: an open one is checked by the next reminders run, which stores the
        # precise time of its first reminder; a closed one has none (core/services/reminders).
        "next_reminder_at": now if to in OPEN else None,
    }
    if team is not _UNSET:
        values["team"] = team
    result = session.execute(
        update(Lead)
        .where(Lead.id == lead.id, Lead.version == lead.version)
        .values(**values)
        .execution_options(synchronize_session=False)
    )
    if result.rowcount != 1:  # type: ignore[attr-defined]
        session.expire(lead)
        session.refresh(lead)
        raise Conflict(lead, latest_transition(session, lead.id))
    session.refresh(lead)
    row = StageTransition(
        lead_id=lead.id,
        from_stage=current.value,
        to_stage=to.value,
        actor=actor,
        reason=reason,
        at=now,
    )
    session.add(row)
    session.flush()
    webhook_events.transitioned(session, lead, row, details=details)
    crm_writes.stage_entered(session, lead, row)
    return row
