"""Process settings (environment) and the workspace config (TOML), both validated by pydantic.

The workspace config is what a sales-ops person edits by hand, so every error names the key path
(``teams[1].business_hours.start``) and unknown keys are refused: a typo must never pass silently.
"""

from __future__ import annotations

import functools
import re
import tomllib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import time
from pathlib import Path
from typing import Annotated, Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    field_serializer,
    field_validator,
    model_validator,
)
from pydantic_settings import BaseSettings, SettingsConfigDict

from core import crm as crm_rules
from core.refusals import LeadbotError

GRADES = ("A", "B", "C", "D")
WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
FIT_FIELDS = ("title", "company_size", "industry", "country", "source", "campaign", "company")
DEFAULT_CONFIG_PATH = "leadbot.toml"


class Settings(BaseSettings):
    """Process settings from the environment (names as in the contract)."""

    model_config = SettingsConfigDict(extra="ignore", populate_by_name=True)

    database_url: str = Field("sqlite:///leadbot.db", alias="LEADBOT_DATABASE_URL")
    config_path: str = Field(DEFAULT_CONFIG_PATH, alias="LEADBOT_CONFIG")
    slack_bot_token: str | None = Field(None, alias="SLACK_BOT_TOKEN")
    slack_signing_secret: str | None = Field(None, alias="SLACK_SIGNING_SECRET")
    slack_app_token: str | None = Field(None, alias="SLACK_APP_TOKEN")
    slack_api_url: str = Field("https://slack.com/api/", alias="LEADBOT_SLACK_API_URL")
    host: str = Field("127.0.0.1", alias="LEADBOT_HOST")
    port: int = Field(3000, alias="LEADBOT_PORT", ge=1, le=65535)
    # Seconds each webhook delivery attempt may take (connect, and each wait for the answer).
    webhook_timeout: float = Field(10.0, alias="LEADBOT_WEBHOOK_TIMEOUT", gt=0, le=60)
    # A HubSpot private-app token (pat-...) and the API's base URL (the emulator's in tests).
    hubspot_access_token: str | None = Field(None, alias="HUBSPOT_ACCESS_TOKEN")
    hubspot_api_url: str = Field("https://api.hubapi.com", alias="LEADBOT_HUBSPOT_API_URL")


# --- building blocks -------------------------------------------------------------------------

_DURATION = re.compile(r"^(\d+)([mhd])$")
_CLOCK = re.compile(r"^([01]\d|2[0-3]):([0-5]\d)$")


@dataclass(frozen=True)
class Duration:
    """A business-time duration: ``m`` minutes and ``h`` hours of business time, ``d`` whole
    business days (a business day is one of the team's working days, whatever its length)."""

    amount: int
    unit: Literal["m", "h", "d"]

    @classmethod
    def parse(cls, text: str) -> Duration:
        match = _DURATION.match(text.strip()) if isinstance(text, str) else None
        if not match:
            raise ValueError(
                f"{text!r} is not a duration; write a whole number and m, h or d, like '4h'"
            )
        amount, unit = int(match.group(1)), match.group(2)
        if amount <= 0:
            raise ValueError(f"{text!r} must be longer than zero")
        return cls(amount, unit)  # type: ignore[arg-type]

    @property
    def minutes(self) -> int:
        """Business minutes for ``m``/``h`` units (``d`` counts days, not minutes)."""
        return self.amount * (60 if self.unit == "h" else 1)

    def __str__(self) -> str:
        return f"{self.amount}{self.unit}"


def _duration(value: Any) -> Duration:
    if isinstance(value, Duration):
        return value
    if not isinstance(value, str):
        raise ValueError("must be a string like '4h', '30m' or '3d'")
    return Duration.parse(value)


def _clock(value: Any) -> time:
    if isinstance(value, time):
        return value
    if not isinstance(value, str) or not _CLOCK.match(value):
        raise ValueError(f"{value!r} is not a time of day; write HH:MM, like '09:00'")
    hours, minutes = value.split(":")
    return time(int(hours), int(minutes))


def _timezone(value: str) -> str:
    try:
        ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise ValueError(
            f"unknown time zone {value!r}; use an IANA name like 'Europe/Berlin'"
        ) from exc
    return value


def _slack_id(prefixes: str, what: str) -> Any:
    pattern = re.compile(rf"^[{prefixes}][A-Z0-9]{{2,}}$")

    def check(value: str) -> str:
        if not pattern.match(value):
            raise ValueError(
                f"{value!r} is not a Slack {what} ID (it starts with {' or '.join(prefixes)}, "
                "like the ID in the Slack app's 'Copy ID' menu)"
            )
        return value

    return AfterValidator(check)


DurationField = Annotated[Duration, Field(json_schema_extra={"type": "string"})]
ChannelId = Annotated[str, _slack_id("CGD", "channel")]
UserId = Annotated[str, _slack_id("UW", "user")]
Grade = Literal["A", "B", "C", "D"]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


# --- sections --------------------------------------------------------------------------------


class Marketing(_Strict):
    channel: ChannelId
    members: list[UserId] = []


class BusinessHours(_Strict):
    start: time = time(9, 0)
    end: time = time(18, 0)
    days: list[Literal["mon", "tue", "wed", "thu", "fri", "sat", "sun"]] = [
        "mon",
        "tue",
        "wed",
        "thu",
        "fri",
    ]

    @field_validator("start", "end", mode="before")
    @classmethod
    def _parse_clock(cls, value: Any) -> time:
        return _clock(value)

    @field_serializer("start", "end")
    def _clock_text(self, value: time) -> str:
        return value.strftime("%H:%M")

    @field_validator("days")
    @classmethod
    def _days(cls, value: list[str]) -> list[str]:
        if not value:
            raise ValueError("needs at least one day")
        if len(set(value)) != len(value):
            raise ValueError("lists a day twice")
        return value

    @model_validator(mode="after")
    def _order(self) -> BusinessHours:
        if self.end <= self.start:
            raise ValueError("end must be later than start")
        return self

    @property
    def weekdays(self) -> frozenset[int]:
        """Python weekday numbers (Monday is 0)."""
        return _weekdays(tuple(self.days))


@functools.lru_cache(maxsize=64)  # asked for on every step of the SLA maths
def _weekdays(days: tuple[str, ...]) -> frozenset[int]:
    return frozenset(WEEKDAYS.index(day) for day in days)


class Route(_Strict):
    country: list[str] | None = None
    industry: list[str] | None = None
    source: list[str] | None = None
    company_size_at_least: int | None = Field(None, ge=1)
    company_size_below: int | None = Field(None, ge=1)
    default: bool = False

    @field_validator("country")
    @classmethod
    def _countries(cls, value: list[str] | None) -> list[str] | None:
        if value is None:
            return None
        bad = [code for code in value if not re.fullmatch(r"[A-Za-z]{2}", code)]
        if bad:
            raise ValueError(f"not ISO 3166 alpha-2 country codes: {', '.join(map(repr, bad))}")
        return [code.upper() for code in value]

    @model_validator(mode="after")
    def _not_empty(self) -> Route:
        conditions = self.model_dump(exclude={"default"}, exclude_none=True)
        if not conditions and not self.default:
            raise ValueError("a route needs at least one condition, or default = true")
        return self


_USER_ID = re.compile(r"^[UW][A-Z0-9]{2,}$")


class Rep(_Strict):
    """A rep of a team: a plain ID in the config weighs 1 and has no cap."""

    id: UserId
    weight: float = Field(1.0, gt=0, allow_inf_nan=False)
    max_open: int | None = Field(None, ge=1)

    @model_validator(mode="before")
    @classmethod
    def _plain_id(cls, value: Any) -> Any:
        if isinstance(value, str):
            if not _USER_ID.match(value):
                raise ValueError(
                    f"{value!r} is not a Slack user ID (it starts with U or W, like the ID in "
                    "the Slack app's 'Copy ID' menu)"
                )
            return {"id": value}
        return value


class Team(_Strict):
    name: str = Field(min_length=1, max_length=50, pattern=r"^[a-z0-9][a-z0-9_-]*$")
    channel: ChannelId
    timezone: Annotated[str, AfterValidator(_timezone)] = "UTC"
    business_hours: BusinessHours = Field(default_factory=BusinessHours)
    # In the file: ``reps = ["U0REP1", { id = "U0REP2", weight = 2, max_open = 25 }]``.
    rep_entries: list[Rep] = Field([], alias="reps")
    managers: list[UserId] = []
    route: Route
    #: Who is offered a new MQL/PQL: ``claim`` (the first to click) or ``round_robin``.
    assign: Literal["claim", "round_robin"] = "claim"
    #: Business minutes the offered rep has before the whole team may accept.
    claim_minutes: int = Field(15, ge=1, le=7 * 24 * 60)

    @field_validator("rep_entries")
    @classmethod
    def _unique_reps(cls, value: list[Rep]) -> list[Rep]:
        ids = [rep.id for rep in value]
        dupes = sorted({rep for rep in ids if ids.count(rep) > 1})
        if dupes:
            raise ValueError(f"lists a rep twice ({', '.join(dupes)})")
        return value

    @property
    def reps(self) -> list[str]:
        return [rep.id for rep in self.rep_entries]

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)


class FitRule(_Strict):
    field: str
    contains: list[str] | None = None
    in_: list[str] | None = Field(None, alias="in")
    equals: str | int | None = None
    at_least: float | None = None
    below: float | None = None
    points: int = Field(ge=-100, le=100)

    @field_validator("field")
    @classmethod
    def _known_field(cls, value: str) -> str:
        if value not in FIT_FIELDS and not value.startswith("properties."):
            raise ValueError(
                f"unknown field {value!r}; use one of {', '.join(FIT_FIELDS)} or properties.NAME"
            )
        return value

    @model_validator(mode="after")
    def _one_operator(self) -> FitRule:
        given = [
            name
            for name, value in (
                ("contains", self.contains),
                ("in", self.in_),
                ("equals", self.equals),
                ("at_least", self.at_least),
                ("below", self.below),
            )
            if value is not None
        ]
        if len(given) != 1:
            raise ValueError(
                "needs exactly one of contains, in, equals, at_least, below"
                + (f" (has {', '.join(given)})" if given else "")
            )
        return self


class LearnedModel(_Strict):
    """``[scoring.model]``: what the learned likelihood predicts and what it may decide."""

    positive_stage: Literal["sal", "sql", "sqo"] = "sql"
    window_days: int = Field(90, ge=1, le=3650)
    use: Literal["off", "shadow", "on"] = "shadow"
    mql_likelihood: float = Field(0.6, gt=0, lt=1)


class Scoring(_Strict):
    mql_threshold: float = Field(50, gt=0)
    min_grade: Grade = "C"
    half_life_days: float = Field(30, gt=0, le=3650)
    hand_raisers: list[str] = []
    pql_threshold: float = Field(40, gt=0)
    events: dict[str, int] = {}
    product_events: dict[str, int] = {}
    fit: list[FitRule] = []
    model: LearnedModel = Field(default_factory=LearnedModel)

    @field_validator("events", "product_events")
    @classmethod
    def _points(cls, value: dict[str, int]) -> dict[str, int]:
        bad = [name for name, points in value.items() if not -1000 <= points <= 1000]
        if bad:
            raise ValueError(f"points must be between -1000 and 1000 ({', '.join(bad)})")
        return value

    @model_validator(mode="after")
    def _consistent(self) -> Scoring:
        unknown = [name for name in self.hand_raisers if name not in self.events]
        if unknown:
            raise ValueError(
                f"hand_raisers {', '.join(map(repr, unknown))} must be keys of scoring.events"
            )
        both = sorted(set(self.events) & set(self.product_events))
        if both:
            raise ValueError(
                f"event types in both scoring.events and scoring.product_events: {', '.join(both)}"
            )
        return self

    def grade_allows(self, grade: str) -> bool:
        return GRADES.index(grade) <= GRADES.index(self.min_grade)


class Sla(_Strict):
    mql_accept: DurationField = Duration(4, "h")
    mql_escalate: DurationField = Duration(8, "h")
    sal_qualify: DurationField = Duration(3, "d")
    sql_opportunity: DurationField = Duration(14, "d")

    @field_validator("*", mode="before")
    @classmethod
    def _parse(cls, value: Any) -> Duration:
        return _duration(value)

    @field_serializer("*")
    def _text(self, value: Duration) -> str:
        return str(value)


class Qualification(_Strict):
    bant_required: int = Field(3, ge=1, le=4)


DEFAULT_AWAY_STATUSES = (
    "vacation",
    "holiday",
    "out of office",
    "ooo",
    "sick",
    ":palm_tree:",
    ":face_with_thermometer:",
)


class Routing(_Strict):
    #: A Slack status whose text or emoji matches ``away_statuses`` means away.
    use_slack_status: bool = False
    away_statuses: list[Annotated[str, Field(min_length=1)]] = list(DEFAULT_AWAY_STATUSES)
    #: A new MQL from the e-mail domain of an open, owned lead goes to that owner.
    match_accounts: bool = True


def _property_name(value: str) -> str:
    if not crm_rules.PROPERTY_NAME.match(value):
        raise ValueError(
            f"{value!r} is not a HubSpot property's internal name (lower case letters, digits "
            "and underscores, like 'jobtitle')"
        )
    return value


PropertyName = Annotated[str, AfterValidator(_property_name)]
LEAD_STAGES = ("lead", "mql", "pql", "sal", "sql", "sqo", "nurture", "unqualified")


class HubSpotCrm(_Strict):
    """``[crm.hubspot]``: what maps to what. Both tables are merged over the defaults; an empty
    string in ``fields`` drops a default mapping."""

    fields: dict[PropertyName, str] = {}
    stages: dict[str, dict[PropertyName, str]] = {}

    @field_validator("fields")
    @classmethod
    def _fields(cls, value: dict[str, str]) -> dict[str, str]:
        return _field_map(value, crm_rules.DEFAULT_HUBSPOT_FIELDS, "HubSpot property", "contacts")

    @field_validator("stages")
    @classmethod
    def _stages(cls, value: dict[str, dict[str, str]]) -> dict[str, dict[str, str]]:
        return _stage_map(value)

    @property
    def field_map(self) -> dict[str, str]:
        """HubSpot property -> lead field, the defaults included."""
        return _merged(crm_rules.DEFAULT_HUBSPOT_FIELDS, self.fields)

    @property
    def stage_map(self) -> dict[str, dict[str, str]]:
        """leadbot stage -> properties written on entering it, the defaults included."""
        merged = {k: dict(v) for k, v in crm_rules.DEFAULT_HUBSPOT_STAGES.items()}
        merged.update({k: dict(v) for k, v in self.stages.items()})
        return {k: v for k, v in merged.items() if v}


def _merged(defaults: Mapping[str, str], fields: Mapping[str, str]) -> dict[str, str]:
    """The CRM's fields over the defaults; an empty target drops a default."""
    merged = {**defaults, **fields}
    return {name: target for name, target in merged.items() if target}


def _field_map(
    value: dict[str, str], defaults: Mapping[str, str], source: str, records: str
) -> dict[str, str]:
    """``[crm.<system>.fields]`` checked: known lead fields, each filled once, e-mail filled."""
    for name, lead_field in value.items():
        if lead_field and lead_field not in crm_rules.LEAD_FIELDS:
            raise ValueError(
                f"{name} = {lead_field!r}: not a lead field (one of "
                f'{", ".join(crm_rules.LEAD_FIELDS)}, or "" to drop a default)'
            )
    targets = list(_merged(defaults, value).values())
    dupes = sorted({t for t in targets if targets.count(t) > 1})
    if dupes:
        raise ValueError(
            f"more than one {source} fills {', '.join(dupes)} "
            f'(set the default\'s {source.split()[-1]} to "" to replace it)'
        )
    if "email" not in targets:
        raise ValueError(f"some {source} must fill email ({records} are matched by e-mail)")
    return value


def _stage_map(value: dict[str, dict[str, str]]) -> dict[str, dict[str, str]]:
    for stage in value:
        if stage not in LEAD_STAGES:
            raise ValueError(f"{stage!r} is not a leadbot stage (one of {', '.join(LEAD_STAGES)})")
    return value


_SF_USER_ID = re.compile(r"^005[A-Za-z0-9]{12}(?:[A-Za-z0-9]{3})?$")


def _crm_owner_id(value: str) -> str:
    if not (value.isdigit() or _SF_USER_ID.match(value)):
        raise ValueError(
            f"{value!r} is not a HubSpot owner id (digits, like '512345') nor a Salesforce "
            "User id (15 or 18 characters starting 005)"
        )
    return value


_SF_FIELD = re.compile(r"^[A-Za-z][A-Za-z0-9_]{0,79}$")


def _sf_field(value: str) -> str:
    if not _SF_FIELD.match(value):
        raise ValueError(
            f"{value!r} is not a Salesforce field's API name (letters, digits and underscores, "
            "like 'Status' or 'Score__c')"
        )
    return value


SalesforceField = Annotated[str, AfterValidator(_sf_field)]


class SalesforceCrm(_Strict):
    """``[crm.salesforce]``: which Leads are MQLs, and what maps to what. ``fields`` and
    ``stages`` are merged over the defaults; an empty string in ``fields`` drops a default."""

    mql_when: dict[SalesforceField, list[str]] = Field(
        default_factory=lambda: {"Status": ["Marketing Qualified"]}
    )
    fields: dict[SalesforceField, str] = {}
    stages: dict[str, dict[SalesforceField, str]] = {}

    @field_validator("mql_when")
    @classmethod
    def _mql_when(cls, value: dict[str, list[str]]) -> dict[str, list[str]]:
        if not value:
            raise ValueError('name at least one field, like { Status = ["Marketing Qualified"] }')
        for name, allowed in value.items():
            if not allowed:
                raise ValueError(f"{name}: list at least one value")
        return value

    @field_validator("fields")
    @classmethod
    def _fields(cls, value: dict[str, str]) -> dict[str, str]:
        return _field_map(value, crm_rules.DEFAULT_SALESFORCE_FIELDS, "Lead field", "Leads")

    @field_validator("stages")
    @classmethod
    def _stages(cls, value: dict[str, dict[str, str]]) -> dict[str, dict[str, str]]:
        return _stage_map(value)

    @property
    def field_map(self) -> dict[str, str]:
        """Lead field -> lead field, the defaults included."""
        return _merged(crm_rules.DEFAULT_SALESFORCE_FIELDS, self.fields)

    @property
    def stage_map(self) -> dict[str, dict[str, str]]:
        merged = {k: dict(v) for k, v in crm_rules.DEFAULT_SALESFORCE_STAGES.items()}
        merged.update({k: dict(v) for k, v in self.stages.items()})
        return {k: v for k, v in merged.items() if v}


class Crm(_Strict):
    """``[crm]``: absent (or no ``system``) means no CRM."""

    system: Literal["hubspot", "salesforce"] | None = None
    qualify: Literal["crm", "leadbot"] = "crm"
    sync_every_seconds: int = Field(60, ge=10, le=86_400)
    hubspot: HubSpotCrm = Field(default_factory=HubSpotCrm)
    salesforce: SalesforceCrm = Field(default_factory=SalesforceCrm)
    owners: dict[UserId, Annotated[str, AfterValidator(_crm_owner_id)]] = {}

    @model_validator(mode="after")
    def _owner_ids(self) -> Crm:
        for user, owner in self.owners.items():
            if self.system == "salesforce":
                if not _SF_USER_ID.match(owner):
                    raise ValueError(
                        f"owners.{user}: {owner!r} is not a Salesforce User id "
                        "(15 or 18 characters starting 005)"
                    )
            elif not owner.isdigit():
                raise ValueError(
                    f"owners.{user}: {owner!r} is not a HubSpot owner id (digits, like '512345')"
                )
        return self

    @property
    def field_map(self) -> dict[str, str]:
        """The CRM's field -> lead field, for the configured system."""
        return self.salesforce.field_map if self.system == "salesforce" else self.hubspot.field_map

    @property
    def stage_map(self) -> dict[str, dict[str, str]]:
        """leadbot stage -> the CRM values written on entering it, for the configured system."""
        return self.salesforce.stage_map if self.system == "salesforce" else self.hubspot.stage_map


class Privacy(_Strict):
    """``[privacy]``: how long raw events and leads that went nowhere are kept (days)."""

    events_days: int = Field(400, ge=1, le=36_500)
    anonymize_unqualified_days: int = Field(365, ge=1, le=36_500)
    anonymize_nurture_days: int = Field(730, ge=1, le=36_500)


class WorkspaceConfig(_Strict):
    marketing: Marketing
    teams: list[Team] = []
    scoring: Scoring = Field(default_factory=Scoring)
    sla: Sla = Field(default_factory=Sla)
    qualification: Qualification = Field(default_factory=Qualification)
    routing: Routing = Field(default_factory=Routing)
    crm: Crm = Field(default_factory=Crm)
    privacy: Privacy = Field(default_factory=Privacy)

    @model_validator(mode="after")
    def _unique_teams(self) -> WorkspaceConfig:
        names = [team.name for team in self.teams]
        dupes = sorted({name for name in names if names.count(name) > 1})
        if dupes:
            raise ValueError(f"team names must be unique ({', '.join(dupes)})")
        return self

    def team(self, name: str | None) -> Team | None:
        return next((team for team in self.teams if team.name == name), None)

    def is_manager(self, user: str, team: str | None = None) -> bool:
        return any(user in t.managers for t in self.teams if team is None or t.name == team)

    def is_marketing(self, user: str) -> bool:
        return user in self.marketing.members


# --- loading ---------------------------------------------------------------------------------


class ConfigError(LeadbotError):
    """The workspace config is unreadable or invalid; ``errors`` holds one line per problem."""

    def __init__(self, path: str, errors: list[str]) -> None:
        self.path = path
        self.errors = errors
        super().__init__(f"{path}: " + "; ".join(errors))


def key_path(loc: Iterable[int | str]) -> str:
    """``("teams", 1, "business_hours", "start")`` -> ``teams[1].business_hours.start``."""
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        elif part in ("function-after", "function-before") or "[" in str(part):
            continue
        else:
            out += ("." if out else "") + ("in" if part == "in_" else str(part))
    return out or "(top level)"


def describe(error: ValidationError) -> list[str]:
    lines = []
    for item in error.errors():
        message = item["msg"].removeprefix("Value error, ")
        if item["type"] == "extra_forbidden":
            message = "unknown key (check the spelling)"
        elif item["type"] == "missing":
            message = "required key is missing"
        lines.append(f"{key_path(item['loc'])}: {message}")
    return lines


def parse_config(data: dict[str, Any], source: str = "<config>") -> WorkspaceConfig:
    try:
        return WorkspaceConfig.model_validate(data)
    except ValidationError as exc:
        raise ConfigError(source, describe(exc)) from exc


def load_config(path: str | Path) -> WorkspaceConfig:
    path = Path(path)
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError as exc:
        raise ConfigError(str(path), ["file not found"]) from exc
    except UnicodeDecodeError as exc:
        raise ConfigError(
            str(path), [f"not UTF-8 text ({exc.reason} at byte {exc.start})"]
        ) from exc
    except OSError as exc:
        raise ConfigError(str(path), [f"cannot be read: {exc.strerror or exc}"]) from exc
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(str(path), [f"not valid TOML: {exc}"]) from exc
    return parse_config(data, str(path))
