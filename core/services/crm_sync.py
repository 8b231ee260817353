"""A page of CRM changes in, through the same use cases as intake and Slack.

Each :class:`~core.crm.CrmChange` becomes or updates a lead (matched by the CRM id, then by
e-mail; the link stored), then, as the CRM's own changes:

- an owner set in the CRM is an owner change (actor ``hubspot``/``salesforce``);
- with ``[crm] qualify = "crm"`` a record the CRM calls an MQL, that leadbot has not handed
  over, becomes an MQL and is alerted as usual;
- a stage moved by hand is a stage change where the lifecycle allows it;
- a converted Salesforce Lead with an opportunity makes an SQO, and is never written again;
- a deleted or archived record is reported (``crm_deleted_at``), not kept in sync.

What the record said last is kept on the lead (``crm_seen``); a change is what differs from it.
leadbot's own writes update ``crm_seen`` when they are delivered, so when they come back they
differ from nothing and are not taken for a person's change (no echo); a record read before the
write landed (its modification time earlier than the write) is not taken as a change either.
Changes made with the actor of the CRM record no writes (core/services/crm_writes).

The page's cursor is stored in the same transaction as its changes: a process killed between
pages loses nothing and applies nothing twice.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from pydantic import ValidationError
from sqlalchemy import select
from sqlalchemy.orm import Session

from core import crm
from core.config import WorkspaceConfig
from core.lifecycle import QUALIFIED, TRANSITIONS, Stage, can_move
from core.messages import AlertRefresh, enqueue
from core.models import CrmSyncState, Lead
from core.routing import route_lead
from core.schemas import LeadIn
from core.services import privacy
from core.services.intake import QUALIFY_FROM, enqueue_alert, new_lead_values, upsert_lead
from core.services.leads import profile_of
from core.services.offers import offer_lead
from core.services.owners import change_owner
from core.services.stages import transition

NAMES = {"hubspot": "HubSpot", "salesforce": "Salesforce"}
#: The reason of an MQL the CRM made (``[crm] qualify = "crm"``).
QUALIFY_REASONS = {"hubspot": "HubSpot lifecycle stage", "salesforce": "Salesforce Lead status"}


def suppressed(session: Session, email: str) -> bool:
    """An erased person's e-mail must not come back from the CRM: the sync skips the record
    (counted in ``SyncReport.suppressed``) until ``leadbot lead unsuppress``."""
    return privacy.is_suppressed(session, email)


@dataclass
class SyncReport:
    seen: int = 0
    created: int = 0
    updated: int = 0
    unchanged: int = 0
    qualified: int = 0
    stage_changes: int = 0
    owner_changes: int = 0
    converted: int = 0
    deleted: int = 0
    echoes: int = 0
    suppressed: int = 0
    skipped: list[str] = field(default_factory=list)
    unmatched_owners: set[str] = field(default_factory=set)

    @property
    def changed(self) -> int:
        return (
            self.created
            + self.updated
            + self.qualified
            + self.stage_changes
            + self.owner_changes
            + self.converted
            + self.deleted
        )

    def add(self, other: SyncReport) -> None:
        for name in (
            "seen",
            "created",
            "updated",
            "unchanged",
            "qualified",
            "stage_changes",
            "owner_changes",
            "converted",
            "deleted",
            "echoes",
            "suppressed",
        ):
            setattr(self, name, getattr(self, name) + getattr(other, name))
        self.skipped += other.skipped
        self.unmatched_owners |= other.unmatched_owners


def sync_state(session: Session, system: str, *, lock: bool = False) -> CrmSyncState:
    state = session.get(CrmSyncState, system, with_for_update=lock)
    if state is None:
        state = CrmSyncState(system=system, cursor=None, last_seen=0, seen_total=0)
        session.add(state)
        session.flush()
    return state


def find_linked(session: Session, system: str, external_id: str) -> Lead | None:
    return session.scalars(
        select(Lead).where(Lead.crm_system == system, Lead.crm_id == external_id).with_for_update()
    ).first()


def apply_page(
    session: Session,
    changes: Sequence[crm.CrmChange],
    *,
    config: WorkspaceConfig,
    owners: Mapping[str, str],
    cursor: str | None,
    now: datetime,
    by_status: Mapping[str, str] | None = None,
    system: str | None = None,
) -> SyncReport:
    """Apply one page of changes and store ``cursor`` with it, in the caller's transaction.
    ``owners`` maps a CRM owner id to the Slack user it is."""
    report = SyncReport()
    system = system or config.crm.system or (changes[0].system if changes else "hubspot")
    for change in changes:
        report.seen += 1
        if change.deleted or change.archived:
            _gone(session, change, now, report)
            continue
        _apply_one(session, change, config, owners, now, by_status, report)
    state = sync_state(session, system, lock=True)
    if cursor is not None:
        state.cursor = cursor
    state.seen_total += report.seen
    return report


def _gone(session: Session, change: crm.CrmChange, now: datetime, report: SyncReport) -> None:
    lead = find_linked(session, change.system, change.external_id)
    if lead is not None and lead.crm_deleted_at is None:
        lead.crm_deleted_at = now
        report.deleted += 1


def _apply_one(
    session: Session,
    change: crm.CrmChange,
    config: WorkspaceConfig,
    owners: Mapping[str, str],
    now: datetime,
    by_status: Mapping[str, str] | None,
    report: SyncReport,
) -> None:
    name = NAMES.get(change.system, change.system)
    lead = find_linked(session, change.system, change.external_id)
    if lead is None and change.merged_ids:
        lead = _survivor(session, change)
    if change.email and suppressed(session, change.email):
        report.suppressed += 1
        return
    created = False
    if lead is None:
        if not change.email:
            report.skipped.append(f"{name} {change.external_id}: no e-mail, not imported")
            return
        lead = session.scalars(
            select(Lead).where(Lead.email == change.email).with_for_update()
        ).first()
        if lead is not None and lead.crm_id is not None and lead.crm_system == change.system:
            report.skipped.append(
                f"{name} {change.external_id}: e-mail {change.email} is already the lead of "
                f"{name} record {lead.crm_id}"
            )
            return
        if lead is None:
            lead = Lead(**new_lead_values(change.email, now))
            lead.set_search_keys()
            session.add(lead)
            created = True
        lead.crm_system, lead.crm_id = change.system, change.external_id
        session.flush()
    elif change.email and change.email != lead.email:
        taken = session.scalar(select(Lead.id).where(Lead.email == change.email))
        if taken is None:
            lead.email = change.email
    try:
        data = LeadIn.model_validate({**dict(change.fields), "email": lead.email})
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in exc.errors()
        )
        report.skipped.append(f"{name} {change.external_id}: {problems}")
        data = LeadIn.model_validate({"email": lead.email})
    _, outcome, _ = upsert_lead(session, data, config=config, now=now, by_status=by_status)
    if created:
        report.created += 1
    elif outcome == "unchanged":
        report.unchanged += 1
    else:
        report.updated += 1

    seen: dict[str, Any] = dict(lead.crm_seen or {})
    first = not seen.get("at")
    stale = _stale(seen, change.modified_at)
    values = {k: v for k, v in change.values.items()}
    before = dict(seen.get("values") or {})
    echo = change.by_integration or (not first and not crm.changed_names(before, values))

    if not stale and not change.by_integration:
        _owner(session, lead, change, seen, first, owners, now, report)
        newly = change.qualifies and not seen.get("qualifies")
        if config.crm.qualify == "crm" and newly:
            qualified = _qualify(session, lead, change, config, now, by_status, report)
        else:
            qualified = False
        if not qualified and not first:
            _moved_by_hand(session, lead, change, before, values, config, now, report)
    if change.converted and not seen.get("converted"):
        _converted(session, lead, change, now, report)
    if echo and not first:
        report.echoes += 1

    if not stale:
        seen.update(
            owner=change.owner_external_id,
            values=values,
            qualifies=change.qualifies,
            at=change.modified_at.isoformat(),
        )
    if change.converted:
        seen["converted"] = True
        if change.opportunity_id:
            seen["opportunity_id"] = change.opportunity_id
    if change.url:
        seen["url"] = change.url
    if seen != (lead.crm_seen or {}):
        lead.crm_seen = seen


def _stale(seen: Mapping[str, Any], modified: datetime) -> bool:
    """Read before leadbot's last write (or an earlier read) landed: says nothing new."""
    for key in ("written_at", "at"):
        text = seen.get(key)
        if text and modified < datetime.fromisoformat(text):
            return True
    return False


def _survivor(session: Session, change: crm.CrmChange) -> Lead | None:
    """HubSpot merged records into this one: the lead of a merged-away record is its lead."""
    for merged in change.merged_ids:
        lead = find_linked(session, change.system, merged)
        if lead is not None:
            lead.crm_id = change.external_id
            lead.crm_deleted_at = None
            session.flush()
            return lead
    return None


def _owner(
    session: Session,
    lead: Lead,
    change: crm.CrmChange,
    seen: Mapping[str, Any],
    first: bool,
    owners: Mapping[str, str],
    now: datetime,
    report: SyncReport,
) -> None:
    external = change.owner_external_id
    if not first and external == seen.get("owner"):
        return
    name = NAMES.get(change.system, change.system)
    if external is None:
        if first:
            return
        to = None
    else:
        mapped = owners.get(external)
        if mapped is None:
            report.unmatched_owners.add(external)
            return
        to = mapped
    if change_owner(
        session, lead, to=to, actor=change.system, reason=f"owner set in {name}", now=now
    ):
        report.owner_changes += 1
        enqueue(session, AlertRefresh(lead.id), now=now)


def _qualify(
    session: Session,
    lead: Lead,
    change: crm.CrmChange,
    config: WorkspaceConfig,
    now: datetime,
    by_status: Mapping[str, str] | None,
    report: SyncReport,
) -> bool:
    if Stage(lead.stage) not in QUALIFY_FROM:
        return False  # leadbot has it already (or handed it over)
    team = route_lead(config.teams, profile_of(lead))
    session.flush()
    moved = transition(
        session,
        lead,
        Stage.MQL,
        actor=change.system,
        now=now,
        reason=QUALIFY_REASONS.get(change.system, "CRM stage"),
        team=team.name if team else None,
    )
    enqueue_alert(session, lead, moved, now)
    if lead.owner is None:  # an owner the CRM set keeps the lead; else the team decides
        offer_lead(session, lead, moved, config=config, now=now, by_status=by_status)
    report.qualified += 1
    return True


def _moved_by_hand(
    session: Session,
    lead: Lead,
    change: crm.CrmChange,
    before: Mapping[str, str | None],
    values: Mapping[str, str | None],
    config: WorkspaceConfig,
    now: datetime,
    report: SyncReport,
) -> None:
    changed = crm.changed_names(before, values)
    if not changed:
        return
    target = crm.stage_for_values(values, config.crm.stage_map, changed)
    if target is None or target == lead.stage or Stage(target) in QUALIFIED:
        return
    name = NAMES.get(change.system, change.system)
    shown = ", ".join(f"{k} {values.get(k)}" for k in sorted(changed) if values.get(k))
    if not can_move(lead.stage, target):
        report.skipped.append(
            f"lead {lead.id}: {name} says {target} ({shown}) but a {lead.stage} lead cannot "
            f"move there; left as it is"
        )
        return
    transition(
        session, lead, Stage(target), actor=change.system, now=now, reason=f"{name}: {shown}"
    )
    enqueue(session, AlertRefresh(lead.id), now=now)
    report.stage_changes += 1


def path_to(start: Stage, goal: Stage) -> list[Stage] | None:
    """The shortest run of allowed moves from ``start`` to ``goal`` (without it), or None."""
    previous: dict[Stage, Stage | None] = {start: None}
    todo = deque([start])
    while todo:
        here = todo.popleft()
        if here is goal:
            steps = []
            node: Stage | None = here
            while node is not None and node is not start:
                steps.append(node)
                node = previous[node]
            return steps[::-1]
        for there in sorted(TRANSITIONS[here]):
            if there not in previous:
                previous[there] = here
                todo.append(there)
    return None


def _converted(
    session: Session,
    lead: Lead,
    change: crm.CrmChange,
    now: datetime,
    report: SyncReport,
) -> None:
    """A converted Lead: with an opportunity, the lead becomes an SQO (through the stages the
    lifecycle requires, each recorded with the CRM as actor); never written again."""
    report.converted += 1
    if not change.opportunity_id or Stage(lead.stage) is Stage.SQO:
        return
    steps = path_to(Stage(lead.stage), Stage.SQO)
    name = NAMES.get(change.system, change.system)
    if steps is None:
        report.skipped.append(
            f"lead {lead.id}: converted in {name} (opportunity {change.opportunity_id}) but it "
            f"is {lead.stage} in leadbot; left as it is"
        )
        return
    reason = f"converted in {name}: opportunity {change.opportunity_id}"
    for step in steps:
        transition(session, lead, step, actor=change.system, now=now, reason=reason)
    enqueue(session, AlertRefresh(lead.id), now=now)


def take_lease(
    session: Session, system: str, holder: str, now: datetime, until: datetime
) -> str | None:
    """Hold the sync of ``system`` until ``until`` (one sync at a time across processes: the
    state row is locked while this looks). None when taken; else who holds it."""
    state = sync_state(session, system, lock=True)
    if (
        state.lease_holder not in (None, holder)
        and state.lease_until is not None
        and state.lease_until > now
    ):
        return state.lease_holder
    state.lease_holder = holder
    state.lease_until = until
    return None


def holds_lease(session: Session, system: str, holder: str, until: datetime) -> bool:
    """Still ours? Renewed to ``until`` if so (called with every page, in its transaction)."""
    state = sync_state(session, system, lock=True)
    if state.lease_holder != holder:
        return False
    state.lease_until = until
    return True


def finish(
    session: Session,
    system: str,
    holder: str,
    *,
    started: datetime,
    now: datetime,
    seconds: float,
    seen: int,
    error: str | None,
) -> None:
    state = sync_state(session, system, lock=True)
    if state.lease_holder == holder:
        state.lease_holder = None
        state.lease_until = None
    state.last_sync_at = started
    state.last_duration = seconds
    state.last_seen = seen
    state.last_error = error


def restart(session: Session, system: str) -> None:
    """``crm sync --full``: read everything again from the start."""
    sync_state(session, system, lock=True).cursor = None
