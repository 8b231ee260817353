"""The HubSpot CRM API as the emulator answers it: one ``handle`` call per HTTP request.

Routes (private-app token in ``Authorization: Bearer ...``):

- ``POST /crm/v3/objects/contacts/search`` and ``POST /crm/v3/objects/notes/search``
- ``GET /crm/v3/objects/contacts`` (list, ``archived=true`` for the archived ones)
- ``GET|PATCH /crm/v3/objects/contacts/{id}`` (``idProperty=email``, ``associations=notes``)
- ``POST /crm/v3/objects/notes``, ``GET /crm/v3/objects/notes/{id}``,
  ``POST /crm/v3/objects/notes/batch/read``
- ``GET /crm/v3/owners``
- ``GET /crm/v3/properties/contacts`` and ``GET /crm/v3/properties/contacts/{name}``
- ``GET /account-info/v3/details``
- ``POST /oauth/v2/private-apps/get/access-token-info``

Errors carry HubSpot's body: ``{"status": "error", "message", "correlationId", "category"}``
(rate limits: ``errorType: RATE_LIMIT`` and ``policyName``). Search lags writes by
``search_lag`` seconds (plus up to ``search_jitter``), like HubSpot's search index.
Moving ``lifecyclestage`` to an earlier stage through the API is refused (400,
VALIDATION_ERROR, error ``INVALID_OPTION`` on ``lifecyclestage``) until the value is cleared
with ``""``; a person in HubSpot's own UI may move it anywhere (``set_by_person``).
"""

from __future__ import annotations

import json
import random
import threading
import uuid
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs, unquote

from emulators.hubspot import search
from emulators.hubspot.model import (
    ALWAYS_RETURNED,
    DEFAULT_SEARCH_PROPERTIES,
    LIFECYCLE_STAGES,
    NOTE_TO_CONTACT,
    READ_ONLY,
    STANDARD_PROPERTIES,
    CrmObject,
    Owner,
    PropertyDef,
    iso,
    parse_time,
)

Clock = Callable[[], float]

ALL_SCOPES = (
    "crm.objects.contacts.read",
    "crm.objects.contacts.write",
    "crm.objects.owners.read",
    "crm.schemas.contacts.read",
)

TEN_SECONDLY_ROLLING = "TEN_SECONDLY_ROLLING"
SECONDLY = "SECONDLY"
DAILY = "DAILY"


@dataclass
class RateLimits:
    """HubSpot's limits for a private app (Professional: 190 per 10 s, 650,000 a day; the
    search endpoints: 5 requests a second). Off unless ``enabled``."""

    enabled: bool = False
    per_ten_seconds: int = 190
    search_per_second: int = 5
    per_day: int = 650_000


@dataclass
class Fault:
    """One planned failure of a route: ``status`` 429 (with ``policy``) or 5xx; ``performed``
    does the work first and then answers ``status``; ``hang`` holds the connection
    ``hold_seconds`` and closes it without an answer (after doing the work if ``performed``)."""

    status: int = 500
    policy: str = TEN_SECONDLY_ROLLING
    performed: bool = False
    hang: bool = False
    hold_seconds: float = 5.0


@dataclass
class Answer:
    status: int
    body: Any = None
    headers: dict[str, str] = field(default_factory=dict)
    hold_seconds: float | None = None


@dataclass(frozen=True)
class CallRecord:
    route: str
    method: str
    path: str
    status: int
    body: Any


class _HttpError(Exception):
    def __init__(self, status: int, category: str, message: str, **extra: Any) -> None:
        super().__init__(message)
        self.status = status
        self.category = category
        self.message = message
        self.extra = extra


def error_body(category: str, message: str, **extra: Any) -> dict[str, Any]:
    return {
        "status": "error",
        "message": message,
        "correlationId": str(uuid.uuid4()),
        "category": category,
        **extra,
    }


def _invalid(problems: list[dict[str, str]]) -> _HttpError:
    inner = [
        {
            "isValid": False,
            "message": p["message"],
            "error": p["error"],
            "name": p["name"],
            "localizedErrorMessage": p["message"],
        }
        for p in problems
    ]
    return _HttpError(
        400,
        "VALIDATION_ERROR",
        "Property values were not valid: " + json.dumps(inner),
        errors=[
            {"message": p["message"], "code": p["error"], "context": {"propertyName": [p["name"]]}}
            for p in problems
        ],
    )


class HubSpotApi:
    def __init__(
        self,
        *,
        tokens: set[str],
        scopes: tuple[str, ...],
        clock: Clock,
        portal_id: int,
        search_lag: float = 0.0,
        search_jitter: float = 0.0,
        result_cap: int = search.RESULT_CAP,
        rate_limits: RateLimits | None = None,
        seed: int = 0,
    ) -> None:
        self.tokens = tokens
        self.scopes = set(scopes)
        self.clock = clock
        self.portal_id = portal_id
        self.search_lag = search_lag
        self.search_jitter = search_jitter
        self.result_cap = result_cap
        self.rate_limits = rate_limits or RateLimits()
        self.lock = threading.RLock()
        self.contacts: dict[str, CrmObject] = {}
        self.notes: dict[str, CrmObject] = {}
        self.owners: dict[str, Owner] = {}
        self.properties: dict[str, PropertyDef] = {p.name: p for p in STANDARD_PROPERTIES}
        self.calls: list[CallRecord] = []
        self.faults: dict[str, deque[Fault]] = {}
        self._next_id = 100
        self._random = random.Random(seed)
        self._ten_second_log: deque[float] = deque()
        self._search_log: deque[float] = deque()
        self._daily: tuple[int, int] = (0, 0)  # (day number, calls that day)

    # --- ids, time, indexing -------------------------------------------------------------

    def new_id(self) -> str:
        self._next_id += 1
        return str(self._next_id)

    def lag(self) -> float:
        extra = self._random.uniform(0, self.search_jitter) if self.search_jitter else 0.0
        return self.search_lag + extra

    def touch(self, obj: CrmObject, at: float, *, modified_name: str = "lastmodifieddate") -> None:
        """A write at ``at``: the modification time moves and search sees it after the lag."""
        obj.modified = at
        obj.properties[modified_name] = iso(at)
        obj.indexed(at, self.lag())

    def resolve(self, contact_id: str) -> CrmObject | None:
        """A merged-away id answers with the contact it was merged into."""
        seen = set()
        contact = self.contacts.get(contact_id)
        while contact is not None and contact.merged_into and contact.id not in seen:
            seen.add(contact.id)
            contact = self.contacts.get(contact.merged_into)
        return contact

    # --- the request ---------------------------------------------------------------------

    def handle(
        self, method: str, path: str, query: str, headers: dict[str, str], raw: bytes
    ) -> Answer:
        route, params = _route(method, path)
        with self.lock:
            answer = self._handle(route, params, method, path, query, headers, raw)
            self.calls.append(CallRecord(route, method, path, answer.status, answer.body))
            return answer

    def _handle(
        self,
        route: str,
        params: list[str],
        method: str,
        path: str,
        query: str,
        headers: dict[str, str],
        raw: bytes,
    ) -> Answer:
        if route == "not_found":
            return Answer(404, error_body("OBJECT_NOT_FOUND", f"No route for {method} {path}"))
        token = _bearer(headers.get("authorization"))
        if route == "token_info":
            return self._token_info(raw)
        if token is None or token not in self.tokens:
            return Answer(
                401,
                error_body(
                    "INVALID_AUTHENTICATION",
                    "Authentication credentials not found. This API supports OAuth 2.0 "
                    "authentication and you can find more details at "
                    "https://developers.hubspot.com/docs/methods/auth/oauth-overview",
                ),
            )
        needed = _SCOPES.get(route)
        if needed and needed not in self.scopes:
            return Answer(
                403,
                error_body(
                    "MISSING_SCOPES",
                    "This app hasn't been granted all required scopes to make this call. "
                    "Read more about required scopes here: https://developers.hubspot.com/scopes.",
                    errors=[
                        {
                            "message": "One or more of the following scopes are required.",
                            "context": {"requiredGranularScopes": [needed]},
                        }
                    ],
                    links={"scopes": "https://developers.hubspot.com/scopes"},
                ),
            )
        limited = self._rate_limit(route)
        if limited is not None:
            return limited
        fault = self._take_fault(route)
        if fault is not None and not fault.performed:
            return self._fault_answer(fault)
        try:
            body = json.loads(raw) if raw else None
        except ValueError:
            answer = Answer(400, error_body("VALIDATION_ERROR", "Invalid input JSON: not JSON"))
        else:
            try:
                answer = self._dispatch(route, params, _query(query), body)
            except _HttpError as exc:
                answer = Answer(exc.status, error_body(exc.category, exc.message, **exc.extra))
        if fault is not None:
            return self._fault_answer(fault)
        if not route.endswith("search") and self.rate_limits.enabled:
            answer.headers.update(self._limit_headers())
        return answer

    def _dispatch(
        self, route: str, params: list[str], q: dict[str, list[str]], body: Any
    ) -> Answer:
        now = self.clock()
        if route == "contacts.search":
            return Answer(200, self._search(self.contacts, body, now, contact=True))
        if route == "notes.search":
            return Answer(200, self._search(self.notes, body, now, contact=False))
        if route == "contacts.list":
            return Answer(200, self._list_contacts(q))
        if route == "contacts.get":
            return Answer(200, self._get_contact(params[0], q))
        if route == "contacts.update":
            return Answer(200, self._update_contact(params[0], q, body, now))
        if route == "notes.create":
            return Answer(201, self._create_note(body, now))
        if route == "notes.get":
            note = self.notes.get(params[0])
            if note is None or note.archived:
                raise _HttpError(404, "OBJECT_NOT_FOUND", "resource not found")
            return Answer(200, note.as_json(_names(q)))
        if route == "notes.batch_read":
            return self._batch_read_notes(body)
        if route == "owners.list":
            return Answer(200, self._owners(q))
        if route == "properties.list":
            return Answer(
                200, {"results": [p.as_json(self.owners) for p in self.properties.values()]}
            )
        if route == "properties.get":
            prop = self.properties.get(params[0])
            if prop is None:
                raise _HttpError(
                    404, "OBJECT_NOT_FOUND", f"Unable to find property {params[0]} for contacts"
                )
            return Answer(200, prop.as_json(self.owners))
        if route == "account.details":
            return Answer(
                200,
                {
                    "portalId": self.portal_id,
                    "accountType": "STANDARD",
                    "timeZone": "Etc/UTC",
                    "companyCurrency": "USD",
                    "additionalCurrencies": [],
                    "utcOffset": "+00:00",
                    "utcOffsetMilliseconds": 0,
                    "uiDomain": "app.hubspot.com",
                    "dataHostingLocation": "na1",
                },
            )
        raise AssertionError(route)

    # --- auth, limits, faults --------------------------------------------------------------

    def _token_info(self, raw: bytes) -> Answer:
        try:
            token = json.loads(raw or b"{}").get("tokenKey")
        except (ValueError, AttributeError):
            token = None
        if token not in self.tokens:
            return Answer(
                401, error_body("INVALID_AUTHENTICATION", "The access token is not valid")
            )
        return Answer(
            200,
            {"userId": 1, "hubId": self.portal_id, "appId": 1, "scopes": sorted(self.scopes)},
        )

    def _rate_limit(self, route: str) -> Answer | None:
        limits = self.rate_limits
        if not limits.enabled:
            return None
        now = self.clock()
        day = int(now // 86_400)
        if self._daily[0] != day:
            self._daily = (day, 0)
        if self._daily[1] >= limits.per_day:
            return self._limit_answer(DAILY)
        if route.endswith("search"):
            log, window, cap, policy = self._search_log, 1.0, limits.search_per_second, SECONDLY
        else:
            log, window, cap = self._ten_second_log, 10.0, limits.per_ten_seconds
            policy = TEN_SECONDLY_ROLLING
        while log and log[0] <= now - window:
            log.popleft()
        if len(log) >= cap:
            return self._limit_answer(policy)
        log.append(now)
        self._daily = (day, self._daily[1] + 1)
        return None

    def _limit_headers(self) -> dict[str, str]:
        limits = self.rate_limits
        return {
            "X-HubSpot-RateLimit-Daily": str(limits.per_day),
            "X-HubSpot-RateLimit-Daily-Remaining": str(max(0, limits.per_day - self._daily[1])),
            "X-HubSpot-RateLimit-Interval-Milliseconds": "10000",
            "X-HubSpot-RateLimit-Max": str(limits.per_ten_seconds),
            "X-HubSpot-RateLimit-Remaining": str(
                max(0, limits.per_ten_seconds - len(self._ten_second_log))
            ),
        }

    def _limit_answer(self, policy: str) -> Answer:
        words = {
            TEN_SECONDLY_ROLLING: "ten_secondly_rolling",
            SECONDLY: "secondly",
            DAILY: "daily",
        }[policy]
        body = {
            "status": "error",
            "message": f"You have reached your {words} limit.",
            "errorType": "RATE_LIMIT",
            "correlationId": str(uuid.uuid4()),
            "policyName": policy,
            "groupName": f"publicapi:private-app:{self.portal_id}",
        }
        headers = self._limit_headers() if policy != SECONDLY else {}
        return Answer(429, body, headers)

    def _take_fault(self, route: str) -> Fault | None:
        for key in (route, "*"):
            queue = self.faults.get(key)
            if queue:
                return queue.popleft()
        return None

    def _fault_answer(self, fault: Fault) -> Answer:
        if fault.hang:
            return Answer(0, None, hold_seconds=fault.hold_seconds)
        if fault.status == 429:
            return self._limit_answer(fault.policy)
        category = {502: "BAD_GATEWAY", 503: "SERVICE_UNAVAILABLE", 504: "GATEWAY_TIMEOUT"}
        return Answer(
            fault.status,
            error_body(
                category.get(fault.status, "INTERNAL_ERROR"),
                "internal error" if fault.status == 500 else "The service is unavailable",
            ),
        )

    # --- contacts --------------------------------------------------------------------------

    def _kind(self, name: str) -> str:
        prop = self.properties.get(name)
        if prop is not None:
            return {"datetime": "datetime", "date": "datetime", "number": "number"}.get(
                prop.type, "string"
            )
        if name in ("hs_lastmodifieddate", "hs_createdate", "hs_timestamp"):
            return "datetime"
        return "string"

    def _search(
        self, store: dict[str, CrmObject], body: Any, now: float, *, contact: bool
    ) -> dict[str, Any]:
        try:
            query = search.parse_query(body, self.result_cap)
        except search.SearchError as exc:
            raise _HttpError(400, "VALIDATION_ERROR", str(exc)) from exc
        rows = []
        for obj in store.values():
            snap = obj.seen_by_search(now)
            if snap is None or snap.archived:
                continue
            rows.append((obj.id, snap.properties, obj.associations))
        total, page = search.run(query, rows, self._kind)
        if query.properties is not None:
            names = list(dict.fromkeys([*query.properties, *ALWAYS_RETURNED]))
        elif contact:
            names = list(DEFAULT_SEARCH_PROPERTIES)
        else:
            names = ["hs_createdate", "hs_lastmodifieddate", "hs_object_id"]
        if contact:
            names = [n for n in names if n in self.properties]
        results = []
        for obj_id, props in page:
            obj = store[obj_id]
            results.append(
                {
                    "id": obj_id,
                    "properties": {n: props.get(n) for n in names},
                    "createdAt": iso(obj.created),
                    "updatedAt": props.get("lastmodifieddate")
                    or props.get("hs_lastmodifieddate")
                    or iso(obj.modified),
                    "archived": False,
                }
            )
        out: dict[str, Any] = {"total": total, "results": results}
        end = query.after + len(page)
        if end < total:
            out["paging"] = {"next": {"after": str(end), "link": f"?after={end}"}}
        return out

    def _list_contacts(self, q: dict[str, list[str]]) -> dict[str, Any]:
        archived = _flag(q, "archived")
        limit = min(int(_one(q, "limit") or 10), 100)
        after = _one(q, "after")
        names = _names(q) or ["createdate", "email", "firstname", "lastmodifieddate", "lastname"]
        rows = sorted(
            (c for c in self.contacts.values() if c.archived == archived and not c.merged_into),
            key=lambda c: int(c.id),
        )
        if after:
            rows = [c for c in rows if int(c.id) > int(after)]
        page = rows[:limit]
        out: dict[str, Any] = {"results": [c.as_json(names) for c in page]}
        if len(rows) > limit:
            out["paging"] = {"next": {"after": page[-1].id, "link": f"?after={page[-1].id}"}}
        return out

    def _find_contact(self, key: str, q: dict[str, list[str]]) -> CrmObject:
        key = unquote(key)
        if _one(q, "idProperty") == "email":
            found = next(
                (
                    c
                    for c in self.contacts.values()
                    if (c.properties.get("email") or "").lower() == key.lower()
                    and not c.merged_into
                ),
                None,
            )
        else:
            found = self.resolve(key)
        if found is None or found.archived != _flag(q, "archived"):
            raise _HttpError(404, "OBJECT_NOT_FOUND", "resource not found")
        return found

    def _get_contact(self, key: str, q: dict[str, list[str]]) -> dict[str, Any]:
        contact = self._find_contact(key, q)
        names = _names(q) or ["createdate", "email", "firstname", "lastmodifieddate", "lastname"]
        names = list(dict.fromkeys([*names, "hs_object_id"]))
        out = contact.as_json(names)
        wanted = {a for value in q.get("associations", []) for a in value.split(",") if a}
        if wanted:
            out["associations"] = {
                kind: {"results": [{"id": i, "type": "contact_to_note"} for i in ids]}
                for kind, ids in contact.associations.items()
                if kind in wanted and ids
            }
        return out

    def validate(self, contact: CrmObject, values: dict[str, str]) -> None:
        problems = []
        for name, value in values.items():
            prop = self.properties.get(name)
            if prop is None:
                problems.append(
                    {
                        "name": name,
                        "error": "PROPERTY_DOESNT_EXIST",
                        "message": f'Property "{name}" does not exist',
                    }
                )
                continue
            if name in READ_ONLY:
                problems.append(
                    {
                        "name": name,
                        "error": "READ_ONLY_VALUE",
                        "message": f'"{name}" is a read only property; its value cannot be set.',
                    }
                )
                continue
            if value == "":
                continue
            if name == "hubspot_owner_id":
                if value not in self.owners or self.owners[value].archived:
                    problems.append(
                        {
                            "name": name,
                            "error": "INVALID_OPTION",
                            "message": f"{value} is not a valid owner id",
                        }
                    )
                continue
            if prop.type == "enumeration" and prop.options and value not in prop.options:
                problems.append(
                    {
                        "name": name,
                        "error": "INVALID_OPTION",
                        "message": f"{value} was not one of the allowed options: "
                        f"[{', '.join(prop.options)}]",
                    }
                )
                continue
            if name == "lifecyclestage":
                current = contact.properties.get("lifecyclestage") or ""
                if current and LIFECYCLE_STAGES.index(value) < LIFECYCLE_STAGES.index(current):
                    problems.append(
                        {
                            "name": name,
                            "error": "INVALID_OPTION",
                            "message": f"{value} is not a valid lifecycle stage for "
                            f"this contact: it cannot move backwards from "
                            f"{current}; clear the property first",
                        }
                    )
        if problems:
            raise _invalid(problems)

    def _update_contact(
        self, key: str, q: dict[str, list[str]], body: Any, now: float
    ) -> dict[str, Any]:
        contact = self._find_contact(key, q)
        values = body.get("properties") if isinstance(body, dict) else None
        if not isinstance(values, dict):
            raise _HttpError(400, "VALIDATION_ERROR", "Invalid input JSON: properties required")
        text = {str(k): "" if v is None else _as_text(v) for k, v in values.items()}
        self.validate(contact, text)
        self.write(contact, text, now)
        names = list(dict.fromkeys([*text, *ALWAYS_RETURNED]))
        return contact.as_json(names)

    def write(self, contact: CrmObject, values: dict[str, str], now: float) -> None:
        for name, value in values.items():
            if value == "":
                contact.properties.pop(name, None)
            else:
                contact.properties[name] = value
        self.touch(contact, now)

    # --- notes -----------------------------------------------------------------------------

    def _create_note(self, body: Any, now: float) -> dict[str, Any]:
        if not isinstance(body, dict) or not isinstance(body.get("properties"), dict):
            raise _HttpError(400, "VALIDATION_ERROR", "Invalid input JSON: properties required")
        props = {str(k): _as_text(v) for k, v in body["properties"].items() if v is not None}
        if "hs_timestamp" not in props or parse_time(props["hs_timestamp"]) is None:
            raise _HttpError(
                400,
                "VALIDATION_ERROR",
                'Property values were not valid: [{"isValid":false,"message":"hs_timestamp is '
                'required and must be a datetime","error":"REQUIRED_PROPERTY",'
                '"name":"hs_timestamp"}]',
            )
        contacts = []
        for assoc in body.get("associations") or []:
            try:
                target = str(assoc["to"]["id"])
                types = assoc["types"]
            except (KeyError, TypeError) as exc:
                raise _HttpError(400, "VALIDATION_ERROR", "Invalid association") from exc
            if not any(
                t.get("associationCategory") == "HUBSPOT_DEFINED"
                and int(t.get("associationTypeId", 0)) == NOTE_TO_CONTACT
                for t in types
                if isinstance(t, dict)
            ):
                raise _HttpError(
                    400,
                    "VALIDATION_ERROR",
                    "association type not supported by the emulator: use HUBSPOT_DEFINED "
                    f"{NOTE_TO_CONTACT} (note to contact)",
                )
            contact = self.resolve(target)
            if contact is None or contact.archived:
                raise _HttpError(
                    400,
                    "VALIDATION_ERROR",
                    f"One or more associations are invalid: contact {target} does not exist",
                )
            contacts.append(contact)
        note_id = self.new_id()
        props["hs_object_id"] = note_id
        props["hs_createdate"] = iso(now)
        note = CrmObject(note_id, props, created=now, modified=now)
        note.associations["contact"] = [c.id for c in contacts]
        self.touch(note, now, modified_name="hs_lastmodifieddate")
        self.notes[note_id] = note
        for contact in contacts:
            contact.associations.setdefault("notes", []).append(note_id)
        return note.as_json(None)

    def _batch_read_notes(self, body: Any) -> Answer:
        if not isinstance(body, dict) or not isinstance(body.get("inputs"), list):
            raise _HttpError(400, "VALIDATION_ERROR", "Invalid input JSON: inputs required")
        if len(body["inputs"]) > 100:
            raise _HttpError(400, "VALIDATION_ERROR", "at most 100 inputs per batch")
        names = body.get("properties") or None
        results, missing = [], []
        for item in body["inputs"]:
            note = self.notes.get(str(item.get("id"))) if isinstance(item, dict) else None
            if note is None or note.archived:
                missing.append(str(item.get("id")) if isinstance(item, dict) else "?")
            else:
                results.append(note.as_json(names))
        now = iso(self.clock())
        out: dict[str, Any] = {
            "status": "COMPLETE",
            "results": results,
            "startedAt": now,
            "completedAt": now,
        }
        if missing:
            out["numErrors"] = 1
            out["errors"] = [
                {
                    "status": "error",
                    "category": "OBJECT_NOT_FOUND",
                    "message": "Could not get some NOTE objects, they may be deleted or not exist.",
                    "context": {"ids": missing},
                }
            ]
            return Answer(207, out)
        return Answer(200, out)

    # --- owners ----------------------------------------------------------------------------

    def _owners(self, q: dict[str, list[str]]) -> dict[str, Any]:
        limit = min(int(_one(q, "limit") or 100), 500)
        after = int(_one(q, "after") or 0)
        email = (_one(q, "email") or "").lower()
        archived = _flag(q, "archived")
        rows = [
            o
            for o in self.owners.values()
            if o.archived == archived and (not email or o.email.lower() == email)
        ]
        page = rows[after : after + limit]
        out: dict[str, Any] = {"results": [o.as_json() for o in page]}
        if after + limit < len(rows):
            out["paging"] = {
                "next": {"after": str(after + limit), "link": f"?after={after + limit}"}
            }
        return out


_SCOPES = {
    "contacts.search": "crm.objects.contacts.read",
    "contacts.list": "crm.objects.contacts.read",
    "contacts.get": "crm.objects.contacts.read",
    "contacts.update": "crm.objects.contacts.write",
    "notes.search": "crm.objects.contacts.read",
    "notes.get": "crm.objects.contacts.read",
    "notes.batch_read": "crm.objects.contacts.read",
    "notes.create": "crm.objects.contacts.write",
    "owners.list": "crm.objects.owners.read",
    "properties.list": "crm.schemas.contacts.read",
    "properties.get": "crm.schemas.contacts.read",
}

ROUTES = (
    "contacts.search",
    "contacts.list",
    "contacts.get",
    "contacts.update",
    "notes.search",
    "notes.get",
    "notes.batch_read",
    "notes.create",
    "owners.list",
    "properties.list",
    "properties.get",
    "account.details",
    "token_info",
)


def _route(method: str, path: str) -> tuple[str, list[str]]:
    parts = [p for p in path.split("/") if p]
    if parts[:3] == ["crm", "v3", "objects"] and len(parts) >= 4:
        kind, rest = parts[3], parts[4:]
        if kind == "contacts":
            if rest == ["search"] and method == "POST":
                return "contacts.search", []
            if not rest and method == "GET":
                return "contacts.list", []
            if len(rest) == 1 and method == "GET":
                return "contacts.get", rest
            if len(rest) == 1 and method == "PATCH":
                return "contacts.update", rest
        if kind == "notes":
            if rest == ["search"] and method == "POST":
                return "notes.search", []
            if rest == ["batch", "read"] and method == "POST":
                return "notes.batch_read", []
            if not rest and method == "POST":
                return "notes.create", []
            if len(rest) == 1 and method == "GET":
                return "notes.get", rest
    if parts == ["crm", "v3", "owners"] and method == "GET":
        return "owners.list", []
    if parts[:4] == ["crm", "v3", "properties", "contacts"] and method == "GET":
        if len(parts) == 4:
            return "properties.list", []
        if len(parts) == 5:
            return "properties.get", [parts[4]]
    if parts == ["account-info", "v3", "details"] and method == "GET":
        return "account.details", []
    if parts == ["oauth", "v2", "private-apps", "get", "access-token-info"] and method == "POST":
        return "token_info", []
    return "not_found", []


def _bearer(header: str | None) -> str | None:
    if not header or not header.lower().startswith("bearer "):
        return None
    return header[7:].strip() or None


def _query(text: str) -> dict[str, list[str]]:
    return parse_qs(text, keep_blank_values=True)


def _one(q: dict[str, list[str]], name: str) -> str | None:
    values = q.get(name)
    return values[-1] if values else None


def _flag(q: dict[str, list[str]], name: str) -> bool:
    return (_one(q, name) or "").lower() == "true"


def _names(q: dict[str, list[str]]) -> list[str] | None:
    names = [n for value in q.get("properties", []) for n in value.split(",") if n]
    return names or None


def _as_text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)
