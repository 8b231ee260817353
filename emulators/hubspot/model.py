"""What the HubSpot emulator holds: contacts, notes, owners and the contact property catalog.

Values are stored as HubSpot stores them: every property value is a string, dates are ISO-8601
with milliseconds and a ``Z``, ``numemployees`` is an enumeration of ranges, and
``hs_merged_object_ids`` is a ``;``-separated list.
"""

from __future__ import annotations

import copy
import functools
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

#: HubSpot's default lifecycle stages, in their order. Moving a contact to an earlier stage
#: through the API is refused until the value has been cleared (set to "").
LIFECYCLE_STAGES = (
    "subscriber",
    "lead",
    "marketingqualifiedlead",
    "salesqualifiedlead",
    "opportunity",
    "customer",
    "evangelist",
    "other",
)

LEAD_STATUSES = (
    "NEW",
    "OPEN",
    "IN_PROGRESS",
    "OPEN_DEAL",
    "UNQUALIFIED",
    "ATTEMPTED_TO_CONTACT",
    "CONNECTED",
    "BAD_TIMING",
)

EMPLOYEE_RANGES = ("1-5", "5-25", "25-50", "50-100", "100-500", "500-1000", "1000+")

ANALYTICS_SOURCES = (
    "ORGANIC_SEARCH",
    "PAID_SEARCH",
    "EMAIL_MARKETING",
    "SOCIAL_MEDIA",
    "REFERRALS",
    "OTHER_CAMPAIGNS",
    "DIRECT_TRAFFIC",
    "OFFLINE",
    "PAID_SOCIAL",
)

#: Set by HubSpot itself; a write to one of them is refused (READ_ONLY_VALUE).
READ_ONLY = frozenset({"hs_object_id", "createdate", "lastmodifieddate", "hs_merged_object_ids"})

#: The properties a search returns when the request names none.
DEFAULT_SEARCH_PROPERTIES = (
    "createdate",
    "email",
    "firstname",
    "hs_object_id",
    "lastmodifieddate",
    "lastname",
)
#: Always returned, whatever the request names.
ALWAYS_RETURNED = ("createdate", "hs_object_id", "lastmodifieddate")

NOTE_TO_CONTACT = 202  # associationTypeId, category HUBSPOT_DEFINED
CONTACT_TO_NOTE = 201


def iso(ts: float) -> str:
    """Seconds since the epoch -> ``2024-05-01T10:00:00.123Z`` (HubSpot's datetime text)."""
    moment = datetime.fromtimestamp(round(ts, 3), UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def parse_time(value: Any) -> float | None:
    """A filter value for a datetime property: epoch milliseconds or ISO-8601 text."""
    return _parse_time(str(value).strip())


@functools.lru_cache(maxsize=100_000)
def _parse_time(text: str) -> float | None:
    if text.lstrip("-").isdigit():
        return int(text) / 1000
    try:
        moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.timestamp()


@dataclass(frozen=True)
class PropertyDef:
    name: str
    label: str
    type: str  # string | number | enumeration | datetime | date | bool
    field_type: str
    group: str = "contactinformation"
    options: tuple[str, ...] = ()
    read_only: bool = False

    def as_json(self, owners: dict[str, Owner] | None = None) -> dict[str, Any]:
        options = [
            {
                "label": value.replace("_", " ").title(),
                "value": value,
                "displayOrder": i,
                "hidden": False,
            }
            for i, value in enumerate(self.options)
        ]
        if self.name == "hubspot_owner_id" and owners is not None:
            options = [
                {
                    "label": owner.full_name or owner.email,
                    "value": owner.id,
                    "displayOrder": i,
                    "hidden": False,
                }
                for i, owner in enumerate(owners.values())
                if not owner.archived
            ]
        return {
            "name": self.name,
            "label": self.label,
            "type": self.type,
            "fieldType": self.field_type,
            "groupName": self.group,
            "description": "",
            "options": options,
            "displayOrder": -1,
            "calculated": False,
            "externalOptions": self.name == "hubspot_owner_id",
            "hasUniqueValue": self.name == "email",
            "hidden": False,
            "hubspotDefined": True,
            "modificationMetadata": {
                "archivable": False,
                "readOnlyDefinition": True,
                "readOnlyValue": self.read_only,
            },
            "formField": not self.read_only,
            "archived": False,
            "createdAt": "2019-08-06T02:41:52.000Z",
            "updatedAt": "2019-08-06T02:41:52.000Z",
        }


def _text(name: str, label: str) -> PropertyDef:
    return PropertyDef(name, label, "string", "text")


def _choice(
    name: str, label: str, options: tuple[str, ...], *, kind: str = "select"
) -> PropertyDef:
    return PropertyDef(name, label, "enumeration", kind, options=options)


STANDARD_PROPERTIES: tuple[PropertyDef, ...] = (
    _text("email", "Email"),
    _text("firstname", "First Name"),
    _text("lastname", "Last Name"),
    _text("jobtitle", "Job Title"),
    _text("company", "Company Name"),
    _choice("numemployees", "Number of Employees", EMPLOYEE_RANGES),
    _text("industry", "Industry"),
    _text("country", "Country/Region"),
    _text("phone", "Phone Number"),
    _text("website", "Website URL"),
    _text("city", "City"),
    _choice("hs_analytics_source", "Original Source", ANALYTICS_SOURCES),
    _choice("lifecyclestage", "Lifecycle Stage", LIFECYCLE_STAGES, kind="radio"),
    _choice("hs_lead_status", "Lead Status", LEAD_STATUSES, kind="radio"),
    PropertyDef(
        "hubspot_owner_id", "Contact owner", "enumeration", "select", group="sales_properties"
    ),
    PropertyDef("hs_object_id", "Record ID", "number", "number", read_only=True),
    PropertyDef("createdate", "Create Date", "datetime", "date", read_only=True),
    PropertyDef("lastmodifieddate", "Last Modified Date", "datetime", "date", read_only=True),
    PropertyDef(
        "hs_merged_object_ids", "Merged Contact IDs", "enumeration", "checkbox", read_only=True
    ),
)


@dataclass
class Owner:
    id: str
    email: str
    first_name: str = ""
    last_name: str = ""
    user_id: int = 0
    archived: bool = False

    @property
    def full_name(self) -> str:
        return f"{self.first_name} {self.last_name}".strip()

    def as_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "email": self.email,
            "type": "PERSON",
            "firstName": self.first_name,
            "lastName": self.last_name,
            "userId": self.user_id,
            "userIdIncludingInactive": self.user_id,
            "createdAt": "2023-01-02T03:04:05.000Z",
            "updatedAt": "2023-01-02T03:04:05.000Z",
            "archived": self.archived,
        }


@dataclass
class Snapshot:
    """What search sees of an object from ``visible_at`` on (search lags writes)."""

    visible_at: float
    properties: dict[str, str]
    archived: bool


@dataclass
class CrmObject:
    """A contact or a note. ``history`` holds the search index's view, newest last."""

    id: str
    properties: dict[str, str]
    created: float
    modified: float
    archived: bool = False
    archived_at: float | None = None
    merged_into: str | None = None
    associations: dict[str, list[str]] = field(default_factory=dict)
    history: list[Snapshot] = field(default_factory=list)

    def indexed(self, at: float, lag: float) -> None:
        """Record the current state as what search will show from ``at + lag`` on."""
        self.history.append(Snapshot(at + lag, copy.copy(self.properties), self.archived))
        # Keep the newest snapshot already visible and everything after it.
        visible = [i for i, snap in enumerate(self.history) if snap.visible_at <= at]
        if len(visible) > 1:
            del self.history[: visible[-1]]

    def seen_by_search(self, now: float) -> Snapshot | None:
        for snap in reversed(self.history):
            if snap.visible_at <= now:
                return snap
        return None

    def as_json(self, names: list[str] | None, *, with_history: bool = False) -> dict[str, Any]:
        props = self.properties if names is None else {n: self.properties.get(n) for n in names}
        out: dict[str, Any] = {
            "id": self.id,
            "properties": dict(props),
            "createdAt": iso(self.created),
            "updatedAt": iso(self.modified),
            "archived": self.archived,
        }
        if self.archived and self.archived_at is not None:
            out["archivedAt"] = iso(self.archived_at)
        return out
