"""A lead as it was when it was scored: its profile is snapshotted whenever intake scores it
and the fields scoring and learning read differ from its previous snapshot, so training reads
each lead as it was at the moment it was scored, never a value set after the verdict."""

from __future__ import annotations

import bisect
from collections.abc import Collection, Mapping
from datetime import datetime
from typing import Any

from sqlalchemy import insert, select
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
    known: dict[int, Any] = session.info.setdefault(LATEST, {})
    if lead.id is not None and lead.id in known:
        if known[lead.id] == profile:
            return False
    elif lead.id is not None:
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
    batch = session.info.get(BATCH)
    if batch is not None:  # written together by write_batch
        batch.append({"lead_id": lead.id, "taken_at": now, "profile": profile})
    else:
        session.add(LeadSnapshot(lead_id=lead.id, taken_at=now, profile=profile))
    known[lead.id] = profile
    return True


#: ``session.info`` key: each lead's latest snapshot profile known in this transaction.
LATEST = "leadbot_latest_snapshots"
#: ``session.info`` key: snapshots of a batch waiting for :func:`write_batch`.
BATCH = "leadbot_snapshot_batch"


def prefetch(session: Session, lead_ids: Collection[int]) -> None:
    """Read the latest snapshot of each lead in one query, so that :func:`record` for a batch
    of leads reads nothing more (a lead with none is known to have none)."""
    if not lead_ids:
        return
    known: dict[int, Any] = session.info.setdefault(LATEST, {})
    rows = session.execute(
        select(LeadSnapshot.lead_id, LeadSnapshot.profile)
        .where(LeadSnapshot.lead_id.in_(list(lead_ids)))
        .order_by(LeadSnapshot.lead_id, LeadSnapshot.taken_at, LeadSnapshot.id)
    )
    latest = {lead_id: None for lead_id in lead_ids}
    for lead_id, profile in rows:
        latest[lead_id] = profile
    known.update(latest)
    session.info[BATCH] = []


def write_batch(session: Session) -> None:
    """Insert the snapshots :func:`record` kept since :func:`prefetch`, in one statement."""
    batch = session.info.pop(BATCH, None)
    if batch:
        session.execute(insert(LeadSnapshot), batch)


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
