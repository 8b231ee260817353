"""Writes to the CRM: recorded by the use cases in the transaction that made them true, one
``crm_writes`` row each, and delivered after the commit by ``bot/workers/crm.py`` on the one
delivery protocol (:mod:`core.queue`): in order per lead, retried with back-off, given up after
a day (marketing told once), never doubled (each row's ``key`` goes to the CRM with it).

Only leads linked to a CRM record get rows, and never for a change the CRM itself made (the
actor ``hubspot`` or ``salesforce``): that would write the CRM's own change back to it. What a
row says is leadbot's vocabulary (``stage``: the stage entered; ``owner``: the Slack user;
``note``: a subject and a text); the worker maps it to the CRM's properties and owners with the
workspace config at sending time.

Kinds:
- ``stage``: ``{"stage": "sal"}``, after every stage entry;
- ``owner``: ``{"owner": "U0REP1"}``, after Accept, an assignment, an offer;
- ``note``: ``{"subject", "text"}``, BANT answers, a reject's reason and comment, an opportunity.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from core.db import insert_or_ignore
from core.lifecycle import Stage
from core.messages import CrmWriteGaveUp, enqueue
from core.models import CrmWriteRow, Lead, Opportunity, Qualification, StageTransition
from core.queue import Queue, backoff

CRM_ACTORS = frozenset({"hubspot", "salesforce"})
#: A write failing this long is given up (marketing is told once).
GIVE_UP_AFTER = timedelta(days=1)
PARKED = frozenset({Stage.NURTURE.value, Stage.UNQUALIFIED.value})

#: The CRM writes on the one protocol: in order per lead.
WRITES: Queue[CrmWriteRow] = Queue(CrmWriteRow, key=("lead_id",))


def linked(lead: Lead) -> bool:
    """A lead whose CRM record may be written: linked, not deleted there, not converted."""
    seen = lead.crm_seen or {}
    return (
        lead.crm_system is not None
        and lead.crm_id is not None
        and lead.crm_deleted_at is None
        and not seen.get("converted")
    )


def _record(
    session: Session, lead: Lead, kind: str, key: str, payload: dict[str, Any], now: datetime
) -> bool:
    session.flush()  # rows added earlier in this transaction keep their place in the lead's queue
    return insert_or_ignore(
        session,
        CrmWriteRow,
        {
            "lead_id": lead.id,
            "kind": kind,
            "payload": payload,
            "key": key,
            "created_at": now,
            "next_attempt_at": now,
            "attempts": 0,
        },
        ("key",),
    )


def stage_entered(session: Session, lead: Lead, moved: StageTransition) -> None:
    """After every stage change (core.services.stages.transition): the stage's mapped values,
    and a note for a reject (the reason and comment) or an opportunity."""
    if not linked(lead) or moved.actor in CRM_ACTORS:
        return
    at = moved.at
    _record(session, lead, "stage", f"stage:{moved.id}", {"stage": moved.to_stage}, at)
    if moved.to_stage in PARKED and moved.reason:
        subject = f"leadbot: {moved.to_stage} ({moved.actor})"
        _record(
            session,
            lead,
            "note",
            f"note:parked:{moved.id}",
            {"subject": subject, "text": f"{subject}\nReason: {moved.reason}"},
            at,
        )
    elif moved.to_stage == Stage.SQO.value:
        opportunity = session.scalars(
            select(Opportunity).where(Opportunity.lead_id == lead.id)
        ).first()
        if opportunity is not None:
            opportunity_noted(session, lead, opportunity, at)


def opportunity_noted(
    session: Session, lead: Lead, opportunity: Opportunity, now: datetime
) -> None:
    subject = f"leadbot: opportunity {opportunity.name}"
    lines = [
        subject,
        f"Amount: {opportunity.amount} {opportunity.currency}",
        f"Expected close: {opportunity.close_date.isoformat()}",
        f"Recorded by: {opportunity.actor}",
    ]
    if opportunity.crm_url:
        lines.append(f"Link: {opportunity.crm_url}")
    _record(
        session,
        lead,
        "note",
        f"note:opportunity:{opportunity.id}",
        {"subject": subject, "text": "\n".join(lines)},
        now,
    )


def bant_recorded(session: Session, lead: Lead, answers: Qualification, now: datetime) -> None:
    """After a BANT submission (whether or not it made an SQL): the answers as a note."""
    if not linked(lead) or answers.actor in CRM_ACTORS:
        return
    session.flush()
    subject = f"leadbot: BANT {answers.met}/4 met ({answers.actor})"
    amount = f" ({answers.budget_amount})" if answers.budget_amount is not None else ""
    lines = [
        subject,
        f"Budget: {answers.budget}{amount}",
        f"Authority: {answers.authority}",
        f"Need: {answers.need}" + (f": {answers.need_text}" if answers.need_text else ""),
        f"Timeline: {answers.timeline}",
    ]
    if answers.notes:
        lines.append(f"Notes: {answers.notes}")
    _record(
        session,
        lead,
        "note",
        f"note:bant:{answers.id}",
        {"subject": subject, "text": "\n".join(lines)},
        now,
    )


def owner_changed(
    session: Session, lead: Lead, *, change_id: int, actor: str, now: datetime
) -> None:
    """After an owner change (core.services.owners.change_owner) to a person."""
    if not linked(lead) or actor in CRM_ACTORS or lead.owner is None:
        return
    _record(session, lead, "owner", f"owner:{change_id}", {"owner": lead.owner}, now)


# --- delivery bookkeeping (the worker's side of the protocol) --------------------------------


@dataclass(frozen=True)
class Attempt:
    """A claimed write: everything the sender needs, read in the claiming transaction."""

    write_id: int
    lead_id: int
    kind: str
    key: str
    payload: dict[str, Any]
    system: str | None
    external_id: str | None
    converted: bool
    deleted: bool
    attempts: int
    created_at: datetime


CLAIMABLE = WRITES.claimable().add_columns(Lead).join(Lead, Lead.id == CrmWriteRow.lead_id)


def claim(session: Session, now: datetime, *, lease: timedelta) -> Attempt | None:
    found = WRITES.claim(session, now, lease, CLAIMABLE)
    if found is None:
        return None
    row, lead = found
    return Attempt(
        row.id,
        row.lead_id,
        row.kind,
        row.key,
        dict(row.payload or {}),
        lead.crm_system,
        lead.crm_id,
        bool((lead.crm_seen or {}).get("converted")),
        lead.crm_deleted_at is not None,
        row.attempts,
        row.created_at,
    )


def delivered(
    session: Session,
    attempt: Attempt,
    now: datetime,
    *,
    written: dict[str, Any] | None = None,
    note: str | None = None,
) -> bool:
    """Record a delivered write. ``written``: the values the CRM now holds because of it,
    stored as what the record last said so that the sync takes them coming back for what they
    are (leadbot's own), not a person's change."""
    row = WRITES.delivered(session, attempt.write_id, attempt.attempts, now)
    if row is None:
        return False
    if written is not None or note:
        row.payload = {
            **row.payload,
            **({"written": written} if written is not None else {}),
            **({"result": note} if note else {}),
        }
    if written:
        lead = session.get(Lead, attempt.lead_id, with_for_update=True)
        if lead is not None:
            seen = dict(lead.crm_seen or {})
            values = dict(seen.get("values") or {})
            for name, value in written.items():
                if name == "__owner__":
                    seen["owner"] = value or None
                else:
                    values[name] = value or None
            seen["values"] = values
            seen["written_at"] = now.isoformat()
            lead.crm_seen = seen
    return True


def failed(
    session: Session,
    attempt: Attempt,
    error: str,
    *,
    now: datetime,
    final: bool = False,
    retry_after: float | None = None,
) -> bool:
    """Record a failed attempt: tried again with back-off, or given up (a refusal that cannot
    change, or a day of failures); marketing is told once per write given up. True when it
    was given up."""
    row = WRITES.still_ours(session, attempt.write_id, attempt.attempts)
    if row is None:
        return False
    give_up = final or now - row.created_at >= GIVE_UP_AFTER
    retry_at = None if give_up else now + backoff(row.attempts, retry_after)
    WRITES.failed(session, attempt.write_id, attempt.attempts, error, now=now, retry_at=retry_at)
    if give_up:
        enqueue(
            session,
            CrmWriteGaveUp(
                attempt.lead_id,
                write_id=attempt.write_id,
                system=attempt.system or "crm",
                what=describe(attempt.kind, attempt.payload),
                error=error[:500],
            ),
            now=now,
        )
    return give_up


def skipped(session: Session, attempt: Attempt, why: str, now: datetime) -> None:
    """A write that must not go (the record was converted or deleted): kept as given up, with
    why, without telling anyone (the sync reported the record's state)."""
    WRITES.failed(session, attempt.write_id, attempt.attempts, why, now=now, retry_at=None)


def describe(kind: str, payload: dict[str, Any]) -> str:
    if kind == "stage":
        return f"the stage {payload.get('stage')}"
    if kind == "owner":
        return f"the owner {payload.get('owner')}"
    return str(payload.get("subject") or "a note")


@dataclass(frozen=True)
class Counts:
    pending: int
    failed: int
    delivered: int


def counts(session: Session) -> Counts:
    pending = session.scalar(
        select(func.count())
        .select_from(CrmWriteRow)
        .where(CrmWriteRow.delivered_at.is_(None), CrmWriteRow.gave_up_at.is_(None))
    )
    failed_ = session.scalar(
        select(func.count())
        .select_from(CrmWriteRow)
        .where(CrmWriteRow.delivered_at.is_(None), CrmWriteRow.gave_up_at.is_not(None))
    )
    done = session.scalar(
        select(func.count()).select_from(CrmWriteRow).where(CrmWriteRow.delivered_at.is_not(None))
    )
    return Counts(int(pending or 0), int(failed_ or 0), int(done or 0))
