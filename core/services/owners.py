"""Every change of a lead's owner, whoever makes it and why, goes through :func:`change_owner`:
it sets the owner, writes the history row and records the ``lead.owner_changed`` webhook
event, in the caller's transaction (the lead row locked by the caller). Reasons are plain
words; people are stored as user IDs, never Slack markup."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy.orm import Session

from core.models import Lead, OwnerChange
from core.services import crm_writes, webhook_events

ROUND_ROBIN = "round robin"
ACCOUNT_OWNER = "account owner"
ACCEPTED = "accepted"
WINDOW_ENDED = "claim window ended"
QUALIFIED_AGAIN = "qualified again"


def assigned_by(user: str) -> str:
    return f"assigned by {user}"


def change_owner(
    session: Session, lead: Lead, *, to: str | None, actor: str, reason: str, now: datetime
) -> OwnerChange | None:
    """Make ``to`` the owner of ``lead`` (None: nobody) and record from whom, by whom and why.
    Nothing is written when the owner stays the same."""
    if lead.owner == to:
        return None
    row = OwnerChange(
        lead_id=lead.id,
        stage=lead.stage,
        from_owner=lead.owner,
        to_owner=to,
        actor=actor,
        reason=reason,
        at=now,
    )
    previous = lead.owner
    lead.owner = to
    lead.updated_at = now
    lead.version += 1
    session.add(row)
    session.flush()
    webhook_events.owner_changed(
        session, lead, previous=previous, actor=actor, reason=reason, now=now
    )
    crm_writes.owner_changed(session, lead, change_id=row.id, actor=actor, now=now)
    return row
