"""BANT qualification (SAL -> SQL) and opportunities (SQL -> SQO).

What "met" means for each criterion (also in the README):
- Budget: ``approved``. (``being_set`` is progress, not a budget.)
- Authority: ``decision_maker``.
- Need: ``critical`` or ``important``.
- Timeline: ``under_1_month`` or ``1_3_months`` (a purchase within the quarter).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal, InvalidOperation

from sqlalchemy.orm import Session

from core import access
from core.businesstime import hours_of
from core.config import WorkspaceConfig
from core.lifecycle import IllegalTransition, Stage
from core.messages import AlertRefresh, enqueue
from core.models import Lead, Opportunity, Qualification
from core.services.handoff import Refused, get_lead, hand_over
from core.services.stages import transition

BUDGET = {"none": "None", "being_set": "Being set", "approved": "Approved"}
AUTHORITY = {"decision_maker": "Decision maker", "influencer": "Influencer", "none": "No authority"}
NEED = {
    "critical": "Critical",
    "important": "Important",
    "nice_to_have": "Nice to have",
    "none": "None",
}
TIMELINE = {
    "under_1_month": "Under 1 month",
    "1_3_months": "1-3 months",
    "3_6_months": "3-6 months",
    "over_6_months": "Over 6 months",
    "unknown": "Unknown",
}
MET = {
    "budget": {"approved"},
    "authority": {"decision_maker"},
    "need": {"critical", "important"},
    "timeline": {"under_1_month", "1_3_months"},
}
CURRENCIES = ("EUR", "USD", "GBP", "CHF", "CAD", "AUD", "JPY", "SEK", "NOK", "DKK", "PLN", "INR")
MAX_AMOUNT = Decimal("999999999999.99")


class Invalid(Exception):
    """Bad answers; ``errors`` maps a field to what is wrong with it (shown inline in the modal)."""

    def __init__(self, errors: dict[str, str]) -> None:
        self.errors = errors
        super().__init__("; ".join(f"{k}: {v}" for k, v in errors.items()))


@dataclass(frozen=True)
class Bant:
    budget: str
    authority: str
    need: str
    timeline: str
    budget_amount: Decimal | None = None
    need_text: str | None = None
    notes: str | None = None

    def met(self) -> dict[str, bool]:
        return {key: getattr(self, key) in values for key, values in MET.items()}


@dataclass(frozen=True)
class Qualified:
    stage: Stage
    met: dict[str, bool]
    accepted_first: bool

    @property
    def missing(self) -> list[str]:
        return [name for name, ok in self.met.items() if not ok]


def parse_amount(text: str | None, field: str, *, required: bool) -> Decimal | None:
    if text is None or not str(text).strip():
        if required:
            raise Invalid({field: "Enter an amount."})
        return None
    cleaned = str(text).strip().replace(",", "").replace("_", "")
    try:
        amount = Decimal(cleaned)
    except InvalidOperation as exc:
        raise Invalid({field: f"{text!r} is not a number."}) from exc
    if not amount.is_finite() or amount <= 0:
        raise Invalid({field: "The amount must be more than 0."})
    if amount > MAX_AMOUNT or amount.as_tuple().exponent < -2:  # type: ignore[operator]
        raise Invalid({field: "Use at most 12 digits and 2 decimals."})
    return amount


def build_bant(
    *,
    budget: str | None,
    authority: str | None,
    need: str | None,
    timeline: str | None,
    budget_amount: str | None = None,
    need_text: str | None = None,
    notes: str | None = None,
) -> Bant:
    """Validate the modal's answers; every problem is reported at once."""
    errors: dict[str, str] = {}
    for field, value, options in (
        ("budget", budget, BUDGET),
        ("authority", authority, AUTHORITY),
        ("need", need, NEED),
        ("timeline", timeline, TIMELINE),
    ):
        if value not in options:
            errors[field] = "Choose one of the options."
    amount = None
    try:
        amount = parse_amount(budget_amount, "budget_amount", required=False)
    except Invalid as exc:
        errors.update(exc.errors)
    for field, text, limit in (("need_text", need_text, 2000), ("notes", notes, 3000)):
        if text and len(text) > limit:
            errors[field] = f"At most {limit} characters."
    if errors:
        raise Invalid(errors)
    assert budget and authority and need and timeline
    return Bant(
        budget,
        authority,
        need,
        timeline,
        amount,
        (need_text or "").strip() or None,
        (notes or "").strip() or None,
    )


def _check_worker(config: WorkspaceConfig, lead: Lead, actor: str, what: str) -> None:
    if not access.can_work_lead(config, actor, lead.owner, lead.team):
        raise Refused(access.refusal(what, "the lead's owner or a manager of its team"))


def qualify(
    session: Session,
    lead_id: int,
    answers: Bant,
    *,
    actor: str,
    config: WorkspaceConfig,
    now: datetime,
) -> Qualified:
    """Record the answers; SQL when at least ``bant_required`` criteria are met, else the lead
    stays SAL. A rep of the team who qualifies an MQL/PQL accepts it in the same step."""
    lead = get_lead(session, lead_id, lock=True)
    stage = Stage(lead.stage)
    accepted_first = False
    if stage in (Stage.MQL, Stage.PQL):
        if not access.can_handle_alert(config, actor, lead.team):
            raise Refused(
                access.refusal("qualifying this lead", f"the {lead.team or 'sales'} team")
            )
        hand_over(
            session,
            lead,
            owner=actor,
            actor=actor,
            config=config,
            now=now,
            reason="accepted while qualifying",
        )
        accepted_first = True
    elif stage is Stage.SAL:
        _check_worker(config, lead, actor, "qualifying this lead")
    else:
        raise IllegalTransition(stage, Stage.SQL)
    met = answers.met()
    session.add(
        Qualification(
            lead_id=lead.id,
            budget=answers.budget,
            budget_amount=answers.budget_amount,
            authority=answers.authority,
            need=answers.need,
            need_text=answers.need_text,
            timeline=answers.timeline,
            notes=answers.notes,
            met=sum(met.values()),
            actor=actor,
            created_at=now,
        )
    )
    result = Stage.SAL
    if sum(met.values()) >= config.qualification.bant_required:
        names = ", ".join(name.title() for name, ok in met.items() if ok)
        transition(session, lead, Stage.SQL, actor=actor, now=now, reason=f"BANT met: {names}")
        result = Stage.SQL
    enqueue(session, AlertRefresh(lead.id), now=now)
    session.flush()
    return Qualified(result, met, accepted_first)


def record_opportunity(
    session: Session,
    lead_id: int,
    *,
    name: str | None,
    amount: str | None,
    currency: str | None,
    close_date: date | None,
    crm_url: str | None,
    actor: str,
    config: WorkspaceConfig,
    now: datetime,
) -> Opportunity:
    """An opportunity for an SQL makes it an SQO. "Not in the past" is judged by the date in
    the lead's team's time zone (UTC for an unrouted lead)."""
    lead = get_lead(session, lead_id, lock=True)
    _check_worker(config, lead, actor, "recording an opportunity")
    today = now.astimezone(hours_of(config, lead.team)[1]).date()
    errors: dict[str, str] = {}
    try:
        value = parse_amount(amount, "amount", required=True)
    except Invalid as exc:
        errors.update(exc.errors)
        value = None
    if currency not in CURRENCIES:
        errors["currency"] = "Choose a currency."
    if close_date is None:
        errors["close_date"] = "Pick the expected close date."
    elif close_date < today:
        errors["close_date"] = "The close date cannot be in the past."
    title = (name or "").strip()
    if not title or len(title) > 300:
        errors["name"] = "Name the opportunity (at most 300 characters)."
    link = (crm_url or "").strip() or None
    if link and (len(link) > 2000 or not link.startswith(("https://", "http://"))):
        errors["crm_url"] = "A link starts with https:// (at most 2000 characters)."
    if errors:
        raise Invalid(errors)
    assert value is not None and close_date is not None and currency is not None
    transition(
        session,
        lead,
        Stage.SQO,
        actor=actor,
        now=now,
        reason=f"opportunity {title}: {value} {currency}, closing {close_date.isoformat()}",
    )
    opportunity = Opportunity(
        lead_id=lead.id,
        name=title,
        amount=value,
        currency=currency,
        close_date=close_date,
        crm_url=link,
        actor=actor,
        created_at=now,
    )
    session.add(opportunity)
    enqueue(session, AlertRefresh(lead.id), now=now)
    session.flush()
    return opportunity
