"""What people do with leads from Slack besides the handoff: find them, nurture or disqualify
them, assign them, list their own."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import and_, func, or_, select
from sqlalchemy.orm import InstrumentedAttribute, Session

from core import access
from core.access import Action
from core.config import WorkspaceConfig
from core.lifecycle import OPEN, QUALIFIED, Stage
from core.messages import AlertRefresh, AssignedDm, enqueue
from core.models import Lead, search_key
from core.refusals import Refused, UnknownLead
from core.schemas import MAX_DB_ID
from core.services.handoff import hand_over, tell_marketing_parked
from core.services.leads import get_lead
from core.services.owners import assigned_by, change_owner
from core.services.stages import transition, waited_seconds

LOOKUP_LIMIT = 5


def find_lead(session: Session, ref: str) -> Lead:
    """LEAD as people type it: an id (``42`` or ``#42``) or an e-mail address."""
    text = ref.strip().strip("<>")
    if text.lower().startswith("mailto:"):  # Slack may auto-link an address: <mailto:a@b|a@b>
        text = text.split("|")[-1]
    digits = text.removeprefix("#")
    if digits.isdigit() and 0 < int(digits) <= MAX_DB_ID:
        return get_lead(session, int(digits))
    if "@" in text:
        lead = session.scalars(
            select(Lead).where(Lead.email == text.lower(), Lead.erased_at.is_(None))
        ).first()
        if lead:
            return lead
    raise UnknownLead(f"No lead matches {ref.strip()!r} (give an id like 42 or an e-mail address).")


@dataclass
class Found:
    leads: list[Lead]
    more: int


def _starts_with(session: Session, column: InstrumentedAttribute[str | None], key: str) -> Any:
    """``column`` (a case-folded key) starts with ``key``, as a range its index serves.
    PostgreSQL's ``text_pattern_ops`` index serves LIKE 'key%'; SQLite's LIKE is case-insensitive
    and so never uses a plain index: there the prefix is the range [key, key's successor)."""
    if session.get_bind().dialect.name == "postgresql":
        escaped = key.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
        return column.like(escaped + "%", escape="\\")
    upper = _successor(key)
    return and_(column >= key, column < upper) if upper is not None else column >= key


def _successor(key: str) -> str | None:
    """The least string above every string that starts with ``key`` (None: there is none)."""
    while key:
        code = ord(key[-1]) + 1
        if 0xD800 <= code <= 0xDFFF:  # surrogates are not text: skip to the next character
            code = 0xE000
        if code <= 0x10FFFF:
            return key[:-1] + chr(code)
        key = key[:-1]
    return None


def lookup(session: Session, query: str, limit: int = LOOKUP_LIMIT) -> Found:
    """Exact e-mail or id; else case-insensitive prefix of company, full name or last name
    (the ``limit`` most recently updated, and how many more matched)."""
    text = query.strip()
    try:
        return Found([find_lead(session, text)], 0)
    except UnknownLead:
        pass
    key = search_key(text, 401)
    if key is None:
        return Found([], 0)
    condition = or_(
        *(
            _starts_with(session, c, key)
            for c in (Lead.company_key, Lead.name_key, Lead.last_name_key)
        )
    )
    leads = list(
        session.scalars(
            select(Lead)
            .where(condition)
            .order_by(Lead.updated_at.desc(), Lead.id.desc())
            .limit(limit)
        )
    )
    if len(leads) < limit:  # the page holds every match
        return Found(leads, 0)
    # Counted apart: a window count in the page's query made SQLite copy every match (1.4 ms
    # instead of 0.9 ms for a prefix matching 1,111 of a million leads; PostgreSQL gains little).
    total = session.scalar(select(func.count()).select_from(Lead).where(condition)) or 0
    return Found(leads, total - len(leads))


def park(
    session: Session,
    lead_id: int,
    to: Stage,
    *,
    actor: str,
    reason: str | None,
    config: WorkspaceConfig,
    now: datetime,
) -> Lead:
    """``/lead nurture`` and ``/lead disqualify``: the owner or a manager of the team."""
    lead = get_lead(session, lead_id, lock=True)
    access.check(Action.NURTURE if to is Stage.NURTURE else Action.DISQUALIFY, config, actor, lead)
    text = (reason or "").strip()[:500] or ("nurture" if to is Stage.NURTURE else "disqualified")
    waiting = Stage(lead.stage) in QUALIFIED
    waited = waited_seconds(session, lead, now) if waiting else 0
    moved = transition(session, lead, to, actor=actor, now=now, reason=text)
    enqueue(session, AlertRefresh(lead.id), now=now)
    if waiting:  # it never reached sales: marketing hears why, as with Reject
        tell_marketing_parked(session, lead, moved, actor=actor, waited=waited, now=now)
    return lead


def check_can_assign(
    session: Session, lead_id: int, *, actor: str, config: WorkspaceConfig
) -> Lead:
    """The lead, if ``actor`` may assign it (what the assign form checks before it opens)."""
    lead = get_lead(session, lead_id)
    access.check(Action.ASSIGN, config, actor, lead)
    return lead


def assign(
    session: Session,
    lead_id: int,
    new_owner: str,
    *,
    actor: str,
    config: WorkspaceConfig,
    now: datetime,
) -> Lead:
    """Managers give a lead to a rep of the team. A waiting MQL/PQL becomes their SAL; an open
    lead changes hands. The new owner gets a DM."""
    lead = get_lead(session, lead_id, lock=True)
    access.check(Action.ASSIGN, config, actor, lead)
    if lead.team is None:
        teams = [t for t in access.sales_teams(config, new_owner) if actor in t.managers]
    else:
        teams = [t for t in access.sales_teams(config, new_owner) if t.name == lead.team]
    if not teams:
        raise Refused(
            f"{{owner}} is not a rep or manager of the {lead.team or 'your'} team.",
            people={"owner": new_owner},
        )
    stage = Stage(lead.stage)
    if stage in QUALIFIED:
        hand_over(
            session,
            lead,
            owner=new_owner,
            actor=actor,
            config=config,
            now=now,
            reason=f"assigned to {new_owner}",
        )
    elif stage in OPEN:
        if lead.owner == new_owner:
            raise Refused("The lead is already {owner}'s.", people={"owner": new_owner})
        change_owner(session, lead, to=new_owner, actor=actor, reason=assigned_by(actor), now=now)
    else:
        raise Refused(f"The lead is {stage.value}, so there is nothing to assign.")
    enqueue(session, AlertRefresh(lead.id), now=now)
    enqueue(session, AssignedDm(lead.id, owner=new_owner, actor=actor), now=now)
    session.flush()
    return lead


def mine(session: Session, user: str) -> list[Lead]:
    """The user's open leads, by stage (SAL first), oldest in the stage first."""
    order = {Stage.SAL.value: 0, Stage.SQL.value: 1, Stage.MQL.value: 2, Stage.PQL.value: 3}
    leads = session.scalars(
        select(Lead).where(
            Lead.owner == user, Lead.stage.in_([s.value for s in OPEN]), Lead.erased_at.is_(None)
        )
    ).all()
    return sorted(
        leads, key=lambda lead: (order.get(lead.stage, 9), lead.stage_changed_at, lead.id)
    )
