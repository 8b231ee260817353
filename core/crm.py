"""The CRM port: what a change from a CRM is, what a write to one is, and the mapping rules.

Pure: no HTTP, no database, no clock. An adapter (``bot/crm/``) turns a CRM's records into
``CrmChange`` values and carries ``CrmWrite`` values out; the rules here decide what maps to
what, and how a lifecycle stage may move.
"""

from __future__ import annotations

import re
from collections.abc import Collection, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Literal

from core.countries import ISO_3166_ALPHA2

CrmSystem = Literal["hubspot", "salesforce"]
WriteKind = Literal["set_properties", "set_owner", "add_note"]

#: Lead fields a CRM property may fill (the intake API's Lead-in fields).
LEAD_FIELDS = (
    "email",
    "first_name",
    "last_name",
    "title",
    "company",
    "company_size",
    "industry",
    "country",
    "phone",
    "source",
    "campaign",
)

#: HubSpot contact property -> lead field, unless ``[crm.hubspot.fields]`` says otherwise.
DEFAULT_HUBSPOT_FIELDS: dict[str, str] = {
    "email": "email",
    "firstname": "first_name",
    "lastname": "last_name",
    "jobtitle": "title",
    "company": "company",
    "numemployees": "company_size",
    "industry": "industry",
    "country": "country",
    "phone": "phone",
    "hs_analytics_source": "source",
}

#: leadbot stage -> contact properties written on entering it, unless ``[crm.hubspot.stages]``
#: says otherwise.
DEFAULT_HUBSPOT_STAGES: dict[str, dict[str, str]] = {
    "mql": {"lifecyclestage": "marketingqualifiedlead"},
    "sal": {"hs_lead_status": "IN_PROGRESS"},
    "sql": {"lifecyclestage": "salesqualifiedlead"},
    "sqo": {"lifecyclestage": "opportunity"},
    "nurture": {"hs_lead_status": "BAD_TIMING"},
    "unqualified": {"hs_lead_status": "UNQUALIFIED"},
}

#: Salesforce Lead field -> lead field, unless ``[crm.salesforce.fields]`` says otherwise.
DEFAULT_SALESFORCE_FIELDS: dict[str, str] = {
    "Email": "email",
    "FirstName": "first_name",
    "LastName": "last_name",
    "Title": "title",
    "Company": "company",
    "NumberOfEmployees": "company_size",
    "Industry": "industry",
    "Country": "country",
    "Phone": "phone",
    "LeadSource": "source",
}

#: leadbot stage -> Lead fields written on entering it, unless ``[crm.salesforce.stages]``
#: says otherwise. A converted Lead is never written, so there is no ``sqo``.
DEFAULT_SALESFORCE_STAGES: dict[str, dict[str, str]] = {
    "mql": {"Status": "Marketing Qualified"},
    "sal": {"Status": "Working - Contacted"},
    "sql": {"Status": "Sales Qualified"},
    "nurture": {"Status": "Nurture"},
    "unqualified": {"Status": "Closed - Not Converted"},
}

#: HubSpot's default lifecycle stages in order. The API refuses to move a contact to an earlier
#: one unless the value is cleared first.
LIFECYCLE_ORDER = (
    "subscriber",
    "lead",
    "marketingqualifiedlead",
    "salesqualifiedlead",
    "opportunity",
    "customer",
    "evangelist",
    "other",
)
LIFECYCLE_PROPERTY = "lifecyclestage"
OWNER_PROPERTY = "hubspot_owner_id"
LEAD_STATUS_PROPERTY = "hs_lead_status"
#: The first lifecycle stage that makes an MQL when ``qualify = "crm"``.
MQL_LIFECYCLE = "marketingqualifiedlead"

PROPERTY_NAME = re.compile(r"^[a-z][a-z0-9_]{0,99}$")


@dataclass(frozen=True)
class CrmChange:
    """One record as a CRM holds it now, read by a sync.

    ``fields`` holds lead fields already mapped and cleaned (``company_size`` an int, ``country``
    an ISO code); ``merged_ids`` are records merged into this one (their leads belong to it);
    ``archived`` and ``deleted`` mean the record is gone from the CRM.

    ``values`` are the record's raw values that stages map to (HubSpot: ``lifecyclestage`` and
    ``hs_lead_status``; Salesforce: the Lead's fields), ``qualifies`` whether the CRM calls it
    an MQL (HubSpot: lifecycle stage MQL or later; Salesforce: ``mql_when``), ``converted``
    and ``opportunity_id`` a Salesforce conversion, ``by_integration`` that leadbot's own
    integration user made the last change, and ``url`` where a person opens the record.
    """

    system: CrmSystem
    external_id: str
    email: str | None
    modified_at: datetime
    fields: Mapping[str, str | int] = field(default_factory=dict)
    owner_external_id: str | None = None
    stage: str | None = None
    status: str | None = None
    archived: bool = False
    merged_ids: tuple[str, ...] = ()
    deleted: bool = False
    values: Mapping[str, str | None] = field(default_factory=dict)
    qualifies: bool = False
    converted: bool = False
    opportunity_id: str | None = None
    by_integration: bool = False
    url: str | None = None


@dataclass(frozen=True)
class CrmWrite:
    """One change leadbot makes in a CRM. ``key`` is leadbot's own id for it: carried to the
    CRM (a note's marker) so that a retry after a timeout is recognised, not doubled."""

    lead_id: int
    kind: WriteKind
    key: str
    external_id: str | None = None
    properties: Mapping[str, str] = field(default_factory=dict)
    note: str | None = None
    reason: str | None = None


# --- fields in -----------------------------------------------------------------------------


def employees(value: str) -> int | None:
    """HubSpot's ``numemployees`` ranges ("100-500", "1000+") or a plain number -> the lower
    bound, which is what a fit rule like ``at_least = 200`` can honestly use."""
    text = value.strip().replace(",", "")
    match = re.match(r"^(\d+)\s*(?:[-+].*)?$", text)
    if not match:
        return None
    number = int(match.group(1))
    return number if number >= 1 else None


def clean_field(name: str, value: str | None) -> str | int | None:
    """A CRM value -> what the lead field accepts, or None when it cannot be used."""
    if value is None:
        return None
    text = value.strip()
    if not text:
        return None
    if name == "company_size":
        return employees(text)
    if name == "country":
        code = text.upper()
        return code if code in ISO_3166_ALPHA2 else None
    if name == "email":
        return text.lower()
    if name == "source":
        return text.lower()
    return text


def lead_fields(
    properties: Mapping[str, str | None], mapping: Mapping[str, str]
) -> dict[str, str | int]:
    """CRM properties -> lead fields by ``mapping`` (property -> field); unusable values are
    left out, never guessed."""
    out: dict[str, str | int] = {}
    for prop, lead_field in mapping.items():
        value = clean_field(lead_field, properties.get(prop))
        if value is not None:
            out[lead_field] = value
    return out


# --- lifecycle -----------------------------------------------------------------------------


def lifecycle_rank(stage: str | None) -> int | None:
    if not stage:
        return None
    try:
        return LIFECYCLE_ORDER.index(stage)
    except ValueError:
        return None


def moves_backwards(current: str | None, target: str) -> bool:
    """True when setting ``target`` over ``current`` needs the value cleared first."""
    now, then = lifecycle_rank(current), lifecycle_rank(target)
    return now is not None and then is not None and then < now


def property_steps(
    properties: Mapping[str, str], current_lifecycle: str | None
) -> list[dict[str, str]]:
    """The writes that set ``properties`` on a record whose lifecycle stage is
    ``current_lifecycle``: one, or (moving the stage backwards) a clear and then the set."""
    target = properties.get(LIFECYCLE_PROPERTY)
    if target and moves_backwards(current_lifecycle, target):
        return [{LIFECYCLE_PROPERTY: ""}, dict(properties)]
    return [dict(properties)] if properties else []


def crm_qualifies(lifecycle: str | None) -> bool:
    """With ``qualify = "crm"``: the CRM's stage makes an MQL from marketingqualifiedlead on."""
    rank, mql = lifecycle_rank(lifecycle), lifecycle_rank(MQL_LIFECYCLE)
    return rank is not None and mql is not None and rank >= mql


def stage_for_lifecycle(
    lifecycle: str | None, stages: Mapping[str, Mapping[str, str]]
) -> str | None:
    """The leadbot stage whose mapping writes this lifecycle stage (``sql`` for
    salesqualifiedlead with the defaults), or None."""
    if not lifecycle:
        return None
    for stage, properties in stages.items():
        if properties.get(LIFECYCLE_PROPERTY) == lifecycle:
            return stage
    return None


def writes_for_stage(
    lead_id: int,
    stage: str,
    stages: Mapping[str, Mapping[str, str]],
    key: str,
    external_id: str | None = None,
) -> CrmWrite | None:
    """The write that entering ``stage`` makes, or None when the stage maps to nothing."""
    properties = stages.get(stage)
    if not properties:
        return None
    return CrmWrite(lead_id, "set_properties", key, external_id, dict(properties))


#: The funnel's order, furthest last: when a record's values match more than one stage's
#: mapping, the furthest wins.
FUNNEL = ("lead", "nurture", "unqualified", "mql", "pql", "sal", "sql", "sqo")


def stage_for_values(
    values: Mapping[str, str | None],
    stages: Mapping[str, Mapping[str, str]],
    changed: Collection[str] | None = None,
) -> str | None:
    """The leadbot stage a record's ``values`` say, by the stage mapping read backwards: a
    stage whose every mapped value the record holds (and, with ``changed``, one of whose mapped
    names is among the changed ones: a lead status left over from an earlier stage says
    nothing). The furthest in :data:`FUNNEL` when several match."""
    found = [
        stage
        for stage, mapped in stages.items()
        if mapped
        and all(values.get(name) == value for name, value in mapped.items())
        and (changed is None or any(name in changed for name in mapped))
    ]
    if not found:
        return None
    return max(found, key=lambda s: FUNNEL.index(s) if s in FUNNEL else -1)


def changed_names(before: Mapping[str, str | None], after: Mapping[str, str | None]) -> set[str]:
    """The names whose value differs (a missing name is no value)."""
    return {name for name in set(before) | set(after) if before.get(name) != after.get(name)}


def is_echo(change_values: Mapping[str, str | None], written: Mapping[str, str]) -> bool:
    """A change whose values are exactly what leadbot last wrote is leadbot's own write coming
    back, not a person's change: it must not be applied (or written back) again."""
    return bool(written) and all(change_values.get(k) == v for k, v in written.items())


def note_marker(key: str) -> str:
    """The text a note carries so that leadbot can find it again (``[leadbot:KEY]``)."""
    return f"[leadbot:{key}]"
