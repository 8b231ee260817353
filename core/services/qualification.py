"""BANT qualification (SAL -> SQL) and opportunities (SQL -> SQO).

:data:`QUESTIONS` holds the questions, their answers and what counts as met (the README lists
them for users): a budget ``being_set`` is progress, not a budget; a timeline is met by a
purchase within the quarter.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal, InvalidOperation

from sqlalchemy.orm import Session

from core import access
from core.access import Action
from core.businesstime import hours_of
from core.config import WorkspaceConfig
from core.lifecycle import QUALIFIED, IllegalTransition, Stage
from core.messages import AlertRefresh, enqueue
from core.models import Lead, Opportunity, Qualification
from core.refusals import Invalid
from core.services import crm_writes
from core.services.handoff import check_may_accept, hand_over
from core.services.leads import get_lead, latest_qualification
from core.services.stages import transition


@dataclass(frozen=True)
class Question:
    """One BANT criterion: its answers (code -> label) and which of them count as met."""

    key: str
    label: str
    options: Mapping[str, str]
    met: frozenset[str]


#: The BANT questions, in the order the form asks them; the only definition of each.
QUESTIONS: tuple[Question, ...] = (
    Question(
        "budget",
        "Budget",
        {"none": "None", "being_set": "Being set", "approved": "Approved"},
        frozenset({"approved"}),
    ),
    Question(
        "authority",
        "Authority",
        {"decision_maker": "Decision maker", "influencer": "Influencer", "none": "No authority"},
        frozenset({"decision_maker"}),
    ),
    Question(
        "need",
        "Need",
        {
            "critical": "Critical",
            "important": "Important",
            "nice_to_have": "Nice to have",
            "none": "None",
        },
        frozenset({"critical", "important"}),
    ),
    Question(
        "timeline",
        "Timeline",
        {
            "under_1_month": "Under 1 month",
            "1_3_months": "1-3 months",
            "3_6_months": "3-6 months",
            "over_6_months": "Over 6 months",
            "unknown": "Unknown",
        },
        frozenset({"under_1_month", "1_3_months"}),
    ),
)
#: The free-text answers and their limits (characters).
TEXT_LIMITS = {"need_text": 2000, "notes": 3000}
#: Every answer the form collects (and a Qualification row stores).
FIELDS: tuple[str, ...] = (*(q.key for q in QUESTIONS), "budget_amount", *TEXT_LIMITS)
CURRENCIES = ("EUR", "USD", "GBP", "CHF", "CAD", "AUD", "JPY", "SEK", "NOK", "DKK", "PLN", "INR")
MAX_AMOUNT = Decimal("999999999999.99")


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
        return {q.key: getattr(self, q.key) in q.met for q in QUESTIONS}


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
    # As the column stores it (2 decimals), so what is shown before a reload is what is stored.
    return amount.quantize(Decimal("0.01"))


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
    chosen = {"budget": budget, "authority": authority, "need": need, "timeline": timeline}
    for question in QUESTIONS:
        if chosen[question.key] not in question.options:
            errors[question.key] = "Choose one of the options."
    amount = None
    try:
        amount = parse_amount(budget_amount, "budget_amount", required=False)
    except Invalid as exc:
        errors.update(exc.errors)
    texts = {"need_text": need_text, "notes": notes}
    for field, limit in TEXT_LIMITS.items():
        text = texts[field]
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


#: How many criteria the form asks about (the SQL threshold is a number of these).
CRITERIA = len(QUESTIONS)


def team_today(config: WorkspaceConfig, team: str | None, now: datetime) -> date:
    """The date in the team's time zone (UTC for an unrouted lead): what "not in the past"
    and a form's default date are judged by."""
    return now.astimezone(hours_of(config, team)[1]).date()


@dataclass(frozen=True)
class BantForm:
    lead: Lead
    answers: dict[str, object] | None  # the latest answers, to start the form from


@dataclass(frozen=True)
class OpportunityForm:
    lead: Lead
    currencies: tuple[str, ...]
    today: date
    default_name: str


def _check_qualify(
    session: Session, lead: Lead, actor: str, config: WorkspaceConfig, now: datetime
) -> Stage:
    """Permission first, then the stage, so nobody learns a stage they may not see. Qualifying
    an MQL/PQL accepts it: not while it is offered to someone else."""
    access.check(Action.QUALIFY, config, actor, lead)
    stage = Stage(lead.stage)
    if stage in QUALIFIED:
        check_may_accept(session, lead, actor, config, now)
    elif stage is not Stage.SAL:
        raise IllegalTransition(stage, Stage.SQL)
    return stage


def bant_form(
    session: Session, lead_id: int, *, actor: str, config: WorkspaceConfig, now: datetime
) -> BantForm:
    """What the BANT form opens with, after the checks :func:`qualify` makes."""
    lead = get_lead(session, lead_id)
    _check_qualify(session, lead, actor, config, now)
    last = latest_qualification(session, lead.id)
    answers = {name: getattr(last, name) for name in FIELDS} if last else None
    return BantForm(lead, answers)


def _check_opportunity(lead: Lead, actor: str, config: WorkspaceConfig) -> None:
    access.check(Action.OPPORTUNITY, config, actor, lead)
    if Stage(lead.stage) is not Stage.SQL:
        raise IllegalTransition(Stage(lead.stage), Stage.SQO)


def opportunity_form(
    session: Session, lead_id: int, *, actor: str, config: WorkspaceConfig, now: datetime
) -> OpportunityForm:
    """What the opportunity form opens with, after the checks :func:`record_opportunity`
    makes."""
    lead = get_lead(session, lead_id)
    _check_opportunity(lead, actor, config)
    default = f"{lead.company or lead.full_name}: new business"[:300]
    return OpportunityForm(lead, tuple(CURRENCIES), team_today(config, lead.team, now), default)


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
    stage = _check_qualify(session, lead, actor, config, now)
    accepted_first = False
    if stage in QUALIFIED:
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
    met = answers.met()
    recorded = Qualification(
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
    session.add(recorded)
    result = Stage.SAL
    if sum(met.values()) >= config.qualification.bant_required:
        names = ", ".join(name.title() for name, ok in met.items() if ok)
        transition(session, lead, Stage.SQL, actor=actor, now=now, reason=f"BANT met: {names}")
        result = Stage.SQL
    crm_writes.bant_recorded(session, lead, recorded, now)
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
    _check_opportunity(lead, actor, config)
    today = team_today(config, lead.team, now)
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
    # Stored before the move, so the move's webhook events carry it; a refused move rolls
    # both back.
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
    transition(
        session,
        lead,
        Stage.SQO,
        actor=actor,
        now=now,
        reason=f"opportunity {title}: {value} {currency}, closing {close_date.isoformat()}",
    )
    enqueue(session, AlertRefresh(lead.id), now=now)
    session.flush()
    return opportunity
