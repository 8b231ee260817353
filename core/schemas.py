"""What leads and events look like on the way in and out (the contract's Lead-in, Event and
Lead-out), validated by pydantic. Limits match the database columns, so anything that passes
validation can be stored on every engine."""

from __future__ import annotations

import math
from datetime import UTC, date, datetime
from decimal import Decimal
from functools import lru_cache
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Discriminator,
    Field,
    Tag,
    WithJsonSchema,
    field_validator,
    model_validator,
)
from pydantic.networks import validate_email

from core.countries import ISO_3166_ALPHA2
from core.lifecycle import Stage

MAX_PROPERTIES = 50
MAX_BATCH = 1000
MAX_DB_ID = 2**63 - 1


def unstorable(text: str) -> str | None:
    """Why ``text`` cannot be stored on every engine, or None. PostgreSQL refuses NUL in text,
    and a lone UTF-16 surrogate (JSON's ``"\\udfff"``) has no UTF-8 encoding, so neither engine
    can store it or send it back. The one rule for every text that comes in."""
    if "\x00" in text:
        return "must not contain NUL characters"
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return "must be valid Unicode text (a lone surrogate such as \\udfff cannot be stored)"
    return None


def check_storable(value: Any) -> Any:
    """A validator: strings that :func:`unstorable` refuses raise ``ValueError``."""
    if isinstance(value, str) and (why := unstorable(value)):
        raise ValueError(why)
    return value


def _clean_text(value: Any) -> Any:
    """Trim strings; an empty string means 'no value'."""
    if isinstance(value, str):
        check_storable(value)
        return value.strip() or None
    return value


_Cleaned = BeforeValidator(_clean_text)
Text50 = Annotated[Annotated[str, Field(max_length=50)] | None, _Cleaned, Field(default=None)]
Text200 = Annotated[Annotated[str, Field(max_length=200)] | None, _Cleaned, Field(default=None)]
Text300 = Annotated[Annotated[str, Field(max_length=300)] | None, _Cleaned, Field(default=None)]
Country = Annotated[Annotated[str, Field(max_length=2)] | None, _Cleaned, Field(default=None)]


def _country(value: str | None) -> str | None:
    if value is None:
        return None
    code = value.upper()
    if code not in ISO_3166_ALPHA2:
        raise ValueError(f"{value!r} is not an ISO 3166 alpha-2 country code (like 'DE' or 'US')")
    return code


def _properties(value: dict[str, Any] | None) -> dict[str, Any] | None:
    if value is None:
        return None
    if len(value) > MAX_PROPERTIES:
        raise ValueError(f"at most {MAX_PROPERTIES} keys (got {len(value)})")
    for key in value:
        if not key or len(key) > 100:
            raise ValueError(f"property names must be 1 to 100 characters ({key[:20]!r})")
    _check_json_text(value)
    return value


MAX_DEPTH = 16


def fits_float(value: int) -> bool:
    """Whether a float can hold ``value`` (roughly): scoring and the learned model read every
    number as a float, and Python's ``float()`` raises for larger integers."""
    try:
        float(value)
    except OverflowError:
        return False
    return True


def _check_json_text(value: Any, depth: int = 0, path: str = "") -> None:
    """JSON every engine stores and returns unchanged: only storable text (keys and values), no
    NaN/Infinity, bounded nesting. The message names where, as ``a.b[2]``."""
    where = f" (at {path})" if path else ""
    if depth > MAX_DEPTH:
        raise ValueError(f"nested deeper than {MAX_DEPTH} levels")
    if isinstance(value, str) and (why := unstorable(value)):
        raise ValueError(f"values {why}{where}")
    if isinstance(value, float) and not math.isfinite(value):
        raise ValueError(f"numbers must be finite (no NaN or Infinity){where}")
    if isinstance(value, int) and not isinstance(value, bool) and not fits_float(value):
        raise ValueError(f"numbers must fit a 64-bit float (at most about 1.8e308){where}")
    if isinstance(value, dict):
        for key, item in value.items():
            if isinstance(key, str) and (why := unstorable(key)):
                raise ValueError(f"keys {why}{where}")
            _check_json_text(item, depth + 1, f"{path}.{key}" if path else str(key))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            _check_json_text(item, depth + 1, f"{path}[{index}]")


MAX_EMAIL = 320


@lru_cache(maxsize=4096)
def _email(value: str) -> str:
    """pydantic's ``EmailStr`` check, lower-cased, and remembered: a batch of events names the
    same few addresses many times over, and the check costs about as much as storing an event."""
    return validate_email(value)[1].lower()


Email = Annotated[
    str,
    AfterValidator(_email),
    Field(max_length=MAX_EMAIL),
    WithJsonSchema({"type": "string", "format": "email", "maxLength": MAX_EMAIL}),
]
Properties = Annotated[dict[str, Any] | None, AfterValidator(_properties)]


class LeadIn(BaseModel):
    """Create or update a lead by e-mail (matched case-insensitively). Unknown fields are refused:
    put custom data in ``properties``."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    email: Email
    first_name: Text200
    last_name: Text200
    title: Text300
    company: Text300
    company_size: int | None = Field(None, ge=1, le=100_000_000, strict=False)
    industry: Text200
    country: Annotated[Country, AfterValidator(_country)]
    phone: Text50
    source: Text200
    campaign: Text200
    properties: Properties = None

    @field_validator("email", mode="before")
    @classmethod
    def _strip_email(cls, value: Any) -> Any:
        return value.strip() if isinstance(value, str) else value

    @field_validator("company_size", mode="before")
    @classmethod
    def _no_bool(cls, value: Any) -> Any:
        if isinstance(value, bool):
            raise ValueError("must be a whole number")
        if isinstance(value, str) and not value.strip():
            return None
        return value

    def profile(self) -> dict[str, Any]:
        """The fields that were given a value (for 'new non-empty values overwrite')."""
        return self.model_dump(exclude_none=True, exclude={"email", "properties"})


class EventIn(BaseModel):
    """A behavioural or product event. ``occurred_at`` without an offset is taken as UTC."""

    model_config = ConfigDict(extra="forbid")

    email: Email | None = None
    lead_id: int | None = Field(None, ge=1, le=MAX_DB_ID)
    type: str = Field(min_length=1, max_length=100, pattern=r"^[A-Za-z0-9_.:-]+$")
    occurred_at: datetime | None = None
    properties: Properties = None
    event_id: Annotated[str, _Cleaned, Field(min_length=1, max_length=200)] | None = None

    @field_validator("occurred_at")
    @classmethod
    def _aware(cls, value: datetime | None) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            value = value.replace(tzinfo=UTC)
        if value.year < 1970:
            raise ValueError("must be after 1970")
        if value.year > 9000:
            raise ValueError("is in the future")
        return value.astimezone(UTC)

    @model_validator(mode="after")
    def _who(self) -> EventIn:
        if self.email is None and self.lead_id is None:
            raise ValueError("needs email or lead_id")
        return self


class EventBatch(BaseModel):
    model_config = ConfigDict(extra="forbid")

    events: list[EventIn] = Field(min_length=1, max_length=MAX_BATCH)


def _event_shape(value: Any) -> str:
    return "batch" if isinstance(value, dict) and "events" in value else "event"


EventsBody = Annotated[
    Annotated[EventIn, Tag("event")] | Annotated[EventBatch, Tag("batch")],
    Discriminator(_event_shape),
]


class EventsAccepted(BaseModel):
    accepted: int
    duplicates: int


class ScoreReason(BaseModel):
    rule: str
    points: float


class ScoreOut(BaseModel):
    fit: float
    grade: Literal["A", "B", "C", "D"]
    engagement: float
    product: float
    reasons: list[ScoreReason]


class HistoryEntry(BaseModel):
    """A stage change, or (``kind = "owner"``) an owner change: then ``from_stage`` and
    ``to_stage`` are the stage it happened in, and ``from_owner``/``to_owner`` say who."""

    kind: Literal["stage", "owner"] = "stage"
    from_stage: Stage
    to_stage: Stage
    actor: str
    reason: str | None
    at: datetime
    from_owner: str | None = None
    to_owner: str | None = None


class QualificationOut(BaseModel):
    budget: str
    budget_amount: Decimal | None
    authority: str
    need: str
    need_text: str | None
    timeline: str
    notes: str | None
    met: int
    actor: str
    created_at: datetime


class OpportunityOut(BaseModel):
    name: str
    amount: Decimal
    currency: str
    close_date: date
    crm_url: str | None
    actor: str
    created_at: datetime


class CrmLinkOut(BaseModel):
    """The CRM record a lead is: ``hubspot`` or ``salesforce``, its id, where to open it."""

    system: str
    id: str
    url: str | None


class LeadOut(BaseModel):
    id: int
    email: str
    first_name: str | None
    last_name: str | None
    title: str | None
    company: str | None
    company_size: int | None
    industry: str | None
    country: str | None
    phone: str | None
    source: str | None
    campaign: str | None
    properties: dict[str, Any]
    stage: Stage
    owner: str | None
    team: str | None
    score: ScoreOut
    created_at: datetime
    updated_at: datetime
    stage_changed_at: datetime
    crm: CrmLinkOut | None = None


class LikelihoodReason(BaseModel):
    feature: str
    value: str | float | None
    points: float


class LikelihoodOut(BaseModel):
    """The learned likelihood: ``base`` plus the reasons' ``points`` is its log-odds."""

    probability: float
    model: int
    base: float
    scale: Literal["log-odds"] = "log-odds"
    reasons: list[LikelihoodReason]


class LeadDetail(LeadOut):
    history: list[HistoryEntry]
    qualification: QualificationOut | None
    opportunity: OpportunityOut | None
    likelihood: LikelihoodOut | None = None
    #: While the lead is on offer to one rep: who, and until when only they may accept.
    offered_to: str | None = None
    offered_until: datetime | None = None


class LeadPage(BaseModel):
    leads: list[LeadOut]
    next_cursor: str | None
