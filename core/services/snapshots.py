"""A lead as it was when it was scored: its profile is snapshotted whenever intake scores it
and the fields scoring and learning read differ from its previous snapshot, so training reads
each lead as it was at the moment it was scored, never a value set after the verdict."""

from __future__ import annotations

import bisect
from collections.abc import Collection, Mapping
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from core.config import FIT_FIELDS
from core.learning.features import PROFILE_FEATURES
from core.models import Lead, LeadSnapshot

#: What a snapshot keeps: what the learned features and the fit rules read (no e-mail, names or
#: phone: they identify a person and describe nothing).
SNAPSHOT_FIELDS: tuple[str, ...] = tuple(dict.fromkeys((*PROFILE_FEATURES, *FIT_FIELDS)))


def snapshot_of(lead: Lead) -> dict[str, Any]:
    profile: dict[str, Any] = {name: getattr(lead, name) for name in SNAPSHOT_FIELDS}
    profile["properties"] = dict(lead.properties or {})
    return profile


def record(session: Session, lead: Lead, now: datetime) -> bool:
    """Snapshot the lead's profile as of ``now`` unless it equals its latest snapshot; True if
    a snapshot was written."""
    profile = snapshot_of(lead)
    if lead.id is not None:
        latest = session.scalar(
            select(LeadSnapshot.profile)
            .where(LeadSnapshot.lead_id == lead.id)
            .order_by(LeadSnapshot.taken_at.desc(), LeadSnapshot.id.desc())
            .limit(1)
        )
        if latest == profile:
            return False
    else:
        session.flush()
    session.add(LeadSnapshot(lead_id=lead.id, taken_at=now, profile=profile))
    return True


class History:
    """Every snapshot of some leads, to ask what a lead looked like at a moment."""

    def __init__(self, rows: Mapping[int, list[tuple[datetime, dict[str, Any]]]]) -> None:
        self._rows = rows

    def as_of(self, lead_id: int, moment: datetime) -> dict[str, Any] | None:
        """The lead's latest snapshot taken at or before ``moment``; None when it had none."""
        taken = self._rows.get(lead_id)
        if not taken:
            return None
        index = bisect.bisect_right([at for at, _ in taken], moment)
        return taken[index - 1][1] if index else None

    def moments(self, lead_id: int) -> list[datetime]:
        return [at for at, _ in self._rows.get(lead_id, [])]


def history(session: Session, lead_ids: Collection[int] | None = None) -> History:
    """The snapshots of ``lead_ids`` (of every lead with None), oldest first per lead."""
    query = select(LeadSnapshot.lead_id, LeadSnapshot.taken_at, LeadSnapshot.profile).order_by(
        LeadSnapshot.lead_id, LeadSnapshot.taken_at, LeadSnapshot.id
    )
    if lead_ids is not None:
        query = query.where(LeadSnapshot.lead_id.in_(sorted(lead_ids)))
    rows: dict[int, list[tuple[datetime, dict[str, Any]]]] = {}
    for lead_id, taken_at, profile in session.execute(query):
        rows.setdefault(lead_id, []).append((taken_at, profile))
    return History(rows)
