"""A Salesforce org in memory: objects and their fields, records, users and queues, sessions,
the daily API allowance and planned faults.

Everything here is guarded by one lock (``Org.lock``); the REST layer (``rest.py``) and the test
API (``SalesforceEmulator``) both go through it.
"""

from __future__ import annotations

import copy
import itertools
import secrets
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any

from emulators.salesforce.soql import format_datetime

_BASE62 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
_SUFFIX = "ABCDEFGHIJKLMNOPQRSTUVWXYZ012345"

# Key prefixes of the objects the emulator knows.
PREFIXES = {
    "Lead": "00Q",
    "User": "005",
    "Group": "00G",
    "Task": "00T",
    "Account": "001",
    "Contact": "003",
    "Opportunity": "006",
    "Organization": "00D",
    "QueryLocator": "01g",
}

LEAD_STATUSES = [
    ("Open - Not Contacted", True),
    ("Working - Contacted", True),
    ("Marketing Qualified", True),
    ("Sales Qualified", True),
    ("Nurture", True),
    ("Closed - Converted", True),
    ("Closed - Not Converted", True),
    ("Recycled", False),
]
LEAD_SOURCES = [("Web", True), ("Phone Inquiry", True), ("Partner Referral", True), ("Other", True)]
INDUSTRIES = [("Technology", True), ("Finance", True), ("Retail", True), ("Healthcare", True)]
RATINGS = [("Hot", True), ("Warm", True), ("Cold", True)]
TASK_STATUSES = [
    ("Not Started", True),
    ("In Progress", True),
    ("Completed", True),
    ("Waiting on someone else", True),
    ("Deferred", True),
]
TASK_PRIORITIES = [("High", True), ("Normal", True), ("Low", True)]


def salesforce_id(prefix: str, number: int) -> str:
    """An 18-character id: 15 characters (ordered by ``number``) plus Salesforce's checksum."""
    digits = ""
    for _ in range(10):
        number, rest = divmod(number, 62)
        digits = _BASE62[rest] + digits
    base = prefix + "5j" + digits
    suffix = ""
    for chunk in range(3):
        bits = 0
        for offset, char in enumerate(base[chunk * 5 : chunk * 5 + 5]):
            if "A" <= char <= "Z":
                bits |= 1 << offset
        suffix += _SUFFIX[bits]
    return base + suffix


@dataclass
class FieldDef:
    name: str
    type: str
    label: str = ""
    updateable: bool = True
    createable: bool = True
    nillable: bool = True
    picklist: list[tuple[str, bool]] = field(default_factory=list)
    restricted: bool = False
    reference_to: list[str] = field(default_factory=list)
    length: int = 0
    custom: bool = False

    def describe(self) -> dict[str, Any]:
        values = [
            {
                "active": active,
                "defaultValue": index == 0 and self.name == "Status",
                "label": value,
                "validFor": None,
                "value": value,
            }
            for index, (value, active) in enumerate(self.picklist)
        ]
        return {
            "name": self.name,
            "label": self.label or self.name,
            "type": self.type,
            "updateable": self.updateable,
            "createable": self.createable,
            "nillable": self.nillable,
            "filterable": self.type not in ("textarea",),
            "custom": self.custom,
            "length": self.length,
            "picklistValues": values,
            "restrictedPicklist": self.restricted,
            "referenceTo": list(self.reference_to),
        }


def _ro(name: str, type: str, label: str, **more: Any) -> FieldDef:
    """A field the API may read but not write."""
    return FieldDef(name, type, label, updateable=False, createable=False, **more)


def _system_fields() -> list[FieldDef]:
    return [
        _ro("Id", "id", "Record ID", nillable=False),
        _ro("IsDeleted", "boolean", "Deleted", nillable=False),
        _ro("CreatedDate", "datetime", "Created Date"),
        _ro("CreatedById", "reference", "Created By ID", reference_to=["User"]),
        _ro("LastModifiedDate", "datetime", "Last Modified Date"),
        _ro("LastModifiedById", "reference", "Last Modified By", reference_to=["User"]),
        _ro("SystemModstamp", "datetime", "System Modstamp"),
    ]


def default_schema() -> dict[str, dict[str, FieldDef]]:
    lead = [
        *_system_fields(),
        _ro("MasterRecordId", "reference", "Master Record ID", reference_to=["Lead"]),
        FieldDef("FirstName", "string", "First Name", length=40),
        FieldDef("LastName", "string", "Last Name", nillable=False, length=80),
        _ro("Name", "string", "Full Name", length=121),
        FieldDef("Title", "string", "Title", length=128),
        FieldDef("Company", "string", "Company", nillable=False, length=255),
        FieldDef("Email", "email", "Email", length=80),
        FieldDef("Phone", "phone", "Phone", length=40),
        FieldDef("Website", "url", "Website", length=255),
        FieldDef("Country", "string", "Country", length=80),
        FieldDef("City", "string", "City", length=40),
        FieldDef("Description", "textarea", "Description", length=32000),
        FieldDef("LeadSource", "picklist", "Lead Source", picklist=list(LEAD_SOURCES)),
        FieldDef("Industry", "picklist", "Industry", picklist=list(INDUSTRIES)),
        FieldDef("Rating", "picklist", "Rating", picklist=list(RATINGS)),
        FieldDef(
            "Status",
            "picklist",
            "Lead Status",
            nillable=False,
            picklist=list(LEAD_STATUSES),
            restricted=True,
        ),
        FieldDef("NumberOfEmployees", "int", "Employees"),
        FieldDef("AnnualRevenue", "currency", "Annual Revenue"),
        FieldDef(
            "OwnerId", "reference", "Owner ID", nillable=False, reference_to=["User", "Group"]
        ),
        _ro("IsConverted", "boolean", "Converted", nillable=False),
        _ro("ConvertedDate", "date", "Converted Date"),
        _ro("ConvertedAccountId", "reference", "Converted Account ID"),
        _ro("ConvertedContactId", "reference", "Converted Contact ID"),
        _ro("ConvertedOpportunityId", "reference", "Converted Opportunity ID"),
    ]
    task = [
        *_system_fields(),
        FieldDef("WhoId", "reference", "Name ID", reference_to=["Lead", "Contact"]),
        FieldDef("WhatId", "reference", "Related To ID"),
        FieldDef("Subject", "combobox", "Subject", length=255),
        FieldDef("Description", "textarea", "Description", length=32000),
        FieldDef("Status", "picklist", "Status", nillable=False, picklist=list(TASK_STATUSES)),
        FieldDef(
            "Priority", "picklist", "Priority", nillable=False, picklist=list(TASK_PRIORITIES)
        ),
        FieldDef("ActivityDate", "date", "Due Date Only"),
        FieldDef("OwnerId", "reference", "Assigned To ID", reference_to=["User", "Group"]),
        _ro("IsClosed", "boolean", "Closed"),
    ]
    user = [
        *_system_fields(),
        FieldDef("Username", "string", "Username", length=80),
        _ro("Name", "string", "Full Name", length=121),
        FieldDef("Email", "email", "Email", length=128),
        FieldDef("IsActive", "boolean", "Active"),
        _ro("UserType", "picklist", "User Type", picklist=[("Standard", True)]),
    ]
    group = [
        *_system_fields(),
        FieldDef("Name", "string", "Name", length=40),
        FieldDef("Type", "picklist", "Type", picklist=[("Queue", True), ("Regular", True)]),
        FieldDef("Email", "email", "Email", length=255),
    ]
    opportunity = [
        *_system_fields(),
        FieldDef("Name", "string", "Name", length=120),
        FieldDef("StageName", "picklist", "Stage", picklist=[("Prospecting", True)]),
        FieldDef("AccountId", "reference", "Account ID", reference_to=["Account"]),
    ]
    named = [*_system_fields(), FieldDef("Name", "string", "Name", length=255)]
    return {
        "Lead": {f.name: f for f in lead},
        "Task": {f.name: f for f in task},
        "User": {f.name: f for f in user},
        "Group": {f.name: f for f in group},
        "Opportunity": {f.name: f for f in opportunity},
        "Account": {f.name: f for f in named},
        "Contact": {f.name: f for f in named},
    }


@dataclass
class Session:
    token: str
    user_id: str
    issued_at: datetime
    valid: bool = True


@dataclass
class Fault:
    """One planned failure of one route.

    ``status`` answers with that HTTP status and Salesforce's error body for it. ``performed``
    carries the request out first and only then answers with the failure (or hangs): a client
    that trusts the answer and simply tries again does it twice. ``hang`` holds the connection
    for ``hold_seconds`` and closes it without an answer. ``expire_session`` ends every session
    before the request is looked at, so it gets ``INVALID_SESSION_ID``.
    """

    status: int = 503
    performed: bool = False
    hang: bool = False
    hold_seconds: float = 5.0
    expire_session: bool = False


@dataclass
class Locator:
    records: list[dict[str, Any]]
    endpoint: str
    batch: int


@dataclass
class CallRecord:
    method: str
    path: str
    route: str
    status: int


class Org:
    def __init__(
        self,
        *,
        client_id: str,
        client_secret: str,
        clock: Callable[[], float] = time.time,
        api_max: int = 100_000,
        batch_size: int = 2000,
    ) -> None:
        self.lock = threading.RLock()
        self.clock = clock
        self.client_id = client_id
        self.client_secret = client_secret
        self.schema = default_schema()
        self.records: dict[str, dict[str, dict[str, Any]]] = {name: {} for name in self.schema}
        self.deleted_at: dict[str, datetime] = {}
        self.sessions: dict[str, Session] = {}
        self.locators: dict[str, Locator] = {}
        self.faults: dict[str, list[Fault]] = {}
        self.calls: list[CallRecord] = []
        self.api_max = api_max
        self.api_used = 0
        self.batch_size = batch_size
        self.recycle_days = 15
        self._counter = itertools.count(1)
        self.org_id = salesforce_id(PREFIXES["Organization"], 7)
        # The integration user the connected app runs as, and an administrator for "a person".
        self.integration_user_id = self.add_user(
            "integration@leadbot.example", "Integration User", username="integration"
        )
        self.admin_user_id = self.add_user("admin@example.com", "Admin User", username="admin")

    # helpers -----------------------------------------------------------------------------------

    def now(self) -> datetime:
        """The org's time at Salesforce's precision for stamps: whole seconds."""
        return datetime.fromtimestamp(int(self.clock()), UTC)

    def new_id(self, sobject: str) -> str:
        return salesforce_id(PREFIXES[sobject], next(self._counter))

    def types(self, sobject: str) -> dict[str, str]:
        return {name: f.type for name, f in self.schema[sobject].items()}

    def find(self, record_id: str) -> tuple[str, dict[str, Any]] | None:
        """The object name and record for ``record_id`` (15 or 18 characters), deleted or not."""
        for sobject, records in self.records.items():
            if len(record_id) == 18 and record_id in records:
                return sobject, records[record_id]
            if len(record_id) == 15:
                for key, record in records.items():
                    if key[:15] == record_id:
                        return sobject, record
        return None

    def _blank(self, sobject: str, by: str, stamp: datetime) -> dict[str, Any]:
        record: dict[str, Any] = dict.fromkeys(self.schema[sobject])
        for name, definition in self.schema[sobject].items():
            if definition.type == "boolean":
                record[name] = False
        record.update(
            Id=self.new_id(sobject),
            IsDeleted=False,
            CreatedDate=stamp,
            CreatedById=by,
            LastModifiedDate=stamp,
            LastModifiedById=by,
            SystemModstamp=stamp,
        )
        return record

    def insert(
        self,
        sobject: str,
        values: dict[str, Any],
        *,
        by: str | None = None,
        stamp: datetime | None = None,
    ) -> dict[str, Any]:
        """Store a record without validation (the test API's way in)."""
        with self.lock:
            stamp = stamp or self.now()
            record = self._blank(sobject, by or self.admin_user_id, stamp)
            record.update(values)
            self._derive(sobject, record)
            self.records[sobject][record["Id"]] = record
            return record

    def _derive(self, sobject: str, record: dict[str, Any]) -> None:
        if "Name" in record and sobject in ("Lead", "User") and "LastName" in self.schema[sobject]:
            parts = [record.get("FirstName"), record.get("LastName")]
            record["Name"] = " ".join(p for p in parts if p) or None
        if sobject == "Task":
            record["IsClosed"] = record.get("Status") == "Completed"
        if sobject == "Lead" and not record.get("OwnerId"):
            record["OwnerId"] = self.admin_user_id

    def touch(self, record: dict[str, Any], by: str, stamp: datetime | None = None) -> None:
        stamp = stamp or self.now()
        record["LastModifiedDate"] = stamp
        record["LastModifiedById"] = by
        record["SystemModstamp"] = stamp

    def add_user(
        self, email: str, name: str, *, active: bool = True, username: str | None = None
    ) -> str:
        with self.lock:
            record = self._blank("User", "", self.now())
            record.update(
                Email=email,
                Name=name,
                Username=f"{username or email}@org.example",
                IsActive=active,
                UserType="Standard",
            )
            record["CreatedById"] = record["LastModifiedById"] = record["Id"]
            self.records["User"][record["Id"]] = record
            return str(record["Id"])

    def add_queue(self, name: str) -> str:
        with self.lock:
            record = self._blank("Group", self.admin_user_id, self.now())
            record.update(Name=name, Type="Queue")
            self.records["Group"][record["Id"]] = record
            return str(record["Id"])

    # sessions ----------------------------------------------------------------------------------

    def open_session(self) -> Session:
        with self.lock:
            token = f"{self.org_id[:15]}!AQ4AQ{secrets.token_urlsafe(40)}"
            session = Session(token, self.integration_user_id, self.now())
            self.sessions[token] = session
            return session

    def session_for(self, token: str | None) -> Session | None:
        session = self.sessions.get(token or "")
        return session if session is not None and session.valid else None

    def expire_sessions(self) -> None:
        with self.lock:
            for session in self.sessions.values():
                session.valid = False

    # faults ------------------------------------------------------------------------------------

    def add_fault(self, route: str, fault: Fault, times: int = 1) -> None:
        with self.lock:
            self.faults.setdefault(route, []).extend(copy.copy(fault) for _ in range(times))

    def take_fault(self, route: str) -> Fault | None:
        with self.lock:
            for key in (route, "*"):
                queue = self.faults.get(key)
                if queue:
                    return queue.pop(0)
            return None

    # reading -----------------------------------------------------------------------------------

    def live(self, sobject: str, *, include_deleted: bool) -> list[dict[str, Any]]:
        records = self.records[sobject].values()
        if include_deleted:
            return [r for r in records if self._in_recycle_bin(r) or not r.get("IsDeleted")]
        return [r for r in records if not r.get("IsDeleted")]

    def _in_recycle_bin(self, record: dict[str, Any]) -> bool:
        deleted = self.deleted_at.get(record["Id"])
        if deleted is None:
            return False
        return deleted >= self.now() - timedelta(days=self.recycle_days)

    def deleted_between(self, sobject: str, start: datetime, end: datetime) -> list[dict[str, Any]]:
        prefix = PREFIXES[sobject]
        return [
            {"id": record_id, "deletedDate": stamp}
            for record_id, stamp in sorted(self.deleted_at.items(), key=lambda kv: kv[1])
            if record_id.startswith(prefix) and start <= stamp <= end
        ]

    def earliest_deleted_available(self) -> datetime:
        return self.now() - timedelta(days=self.recycle_days)


def json_value(value: Any) -> Any:
    if isinstance(value, datetime):
        return format_datetime(value)
    if isinstance(value, date):
        return value.isoformat()
    return value


def project(
    sobject: str, record: dict[str, Any], fields: Iterable[str], version: str
) -> dict[str, Any]:
    out: dict[str, Any] = {
        "attributes": {
            "type": sobject,
            "url": f"/services/data/v{version}/sobjects/{sobject}/{record['Id']}",
        }
    }
    for name in fields:
        out[name] = json_value(record.get(name))
    return out
