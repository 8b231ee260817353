"""Every change of a lead's owner, whoever makes it and why, goes through :func:`change_owner`:
it sets the owner and writes the history row in the caller's transaction (the lead row locked
by the caller). Reasons are plain words; people are stored as user IDs, never Slack markup."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from core.models import Lead, OwnerChange

ROUND_ROBIN = "round robin"
ACCOUNT_OWNER = "account owner"
ACCEPTED = "accepted"
WINDOW_ENDED = "claim window ended"


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
    lead.owner = to
    lead.updated_at = now
    lead.version += 1
    session.add(row)
    session.flush()
    return row


def owner_history(session: Session, lead_id: int) -> list[OwnerChange]:
    return list(
        session.scalars(
            select(OwnerChange)
            .where(OwnerChange.lead_id == lead_id)
            .order_by(OwnerChange.at, OwnerChange.id)
        )
    )
