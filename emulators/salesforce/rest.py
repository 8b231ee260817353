"""Salesforce's REST API over an :class:`Org`: the OAuth token endpoint and ``/services/data``.

``RestApi.handle(method, path, query, headers, body)`` answers one request with a
:class:`Response`; the HTTPS server only moves bytes. Errors are Salesforce's list bodies
(``[{"message", "errorCode", "fields"}]``), token errors OAuth's (``{"error",
"error_description"}``).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import re
from dataclasses import dataclass, field
from datetime import date
from typing import Any
from urllib.parse import parse_qs

from emulators.salesforce import soql
from emulators.salesforce.org import CallRecord, Fault, Locator, Org, project

MIN_VERSION = 31.0
MAX_VERSION = 62.0

_DATA = re.compile(r"^/services/data/v(?P<version>\d+\.\d)(?P<rest>/.*)?$")
_LOCATOR = re.compile(r"^(?P<locator>01g[0-9A-Za-z]+)-(?P<offset>\d+)$")


@dataclass
class Response:
    status: int
    body: Any = None
    headers: dict[str, str] = field(default_factory=dict)
    hang_seconds: float | None = None
    content_type: str = "application/json;charset=UTF-8"

    def raw(self) -> bytes:
        if self.body is None:
            return b""
        if isinstance(self.body, bytes):
            return self.body
        return json.dumps(self.body).encode()


class ApiError(Exception):
    def __init__(
        self, status: int, code: str, message: str, fields: list[str] | None = None
    ) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.fields = fields

    def response(self) -> Response:
        item: dict[str, Any] = {"message": self.message, "errorCode": self.code}
        if self.fields is not None:
            item["fields"] = self.fields
        return Response(self.status, [item])


def _not_found() -> ApiError:
    return ApiError(404, "NOT_FOUND", "The requested resource does not exist")


def _server_error(status: int) -> Response:
    if status == 503:
        return Response(503, [{"errorCode": "SERVER_UNAVAILABLE", "message": "Server busy"}])
    return Response(
        status,
        [
            {
                "errorCode": "UNKNOWN_EXCEPTION",
                "message": "An unexpected error occurred. Please include this ErrorId if you "
                "contact support: 1234567890-12345 (-123456789)",
            }
        ],
    )


def route_of(method: str, path: str) -> str:
    """The fault-injection name of a request: token, versions, limits, query, query_more,
    describe, deleted, get, update, create, delete, or unknown."""
    if path.rstrip("/") == "/services/oauth2/token":
        return "token"
    match = _DATA.match(path)
    if path.rstrip("/") == "/services/data":
        return "versions"
    if match is None:
        return "unknown"
    parts = [p for p in (match.group("rest") or "").split("/") if p]
    if not parts:
        return "unknown"
    if parts[0] == "limits":
        return "limits"
    if parts[0] in ("query", "queryAll"):
        return "query_more" if len(parts) > 1 else "query"
    if parts[0] == "sobjects" and len(parts) >= 2:
        if len(parts) == 2:
            return "create" if method == "POST" else "describe_global"
        if parts[2] == "describe":
            return "describe"
        if parts[2] == "deleted":
            return "deleted"
        return {"GET": "get", "PATCH": "update", "DELETE": "delete"}.get(method, "unknown")
    return "unknown"


class RestApi:
    def __init__(self, org: Org) -> None:
        self.org = org
        self.base_url = ""

    # entry -------------------------------------------------------------------------------------

    def handle(
        self, method: str, path: str, query: str, headers: dict[str, str], body: bytes
    ) -> Response:
        route = route_of(method, path)
        fault = self.org.take_fault(route)
        if fault is not None and fault.expire_session:
            self.org.expire_sessions()
            fault = None
        if fault is not None and not fault.performed:
            response = self._fault_answer(fault)
        else:
            try:
                response = self._dispatch(route, method, path, query, headers, body)
            except ApiError as exc:
                response = exc.response()
            if fault is not None:
                response = self._fault_answer(fault)
        with self.org.lock:
            if route not in ("token", "versions", "unknown") and response.status != 401:
                response.headers["Sforce-Limit-Info"] = (
                    f"api-usage={self.org.api_used}/{self.org.api_max}"
                )
            self.org.calls.append(_call(method, path, route, response))
        return response

    @staticmethod
    def _fault_answer(fault: Fault) -> Response:
        if fault.hang:
            return Response(0, hang_seconds=fault.hold_seconds)
        return _server_error(fault.status)

    def _dispatch(
        self, route: str, method: str, path: str, query: str, headers: dict[str, str], body: bytes
    ) -> Response:
        if route == "token":
            if method != "POST":
                raise ApiError(405, "METHOD_NOT_ALLOWED", "HTTP Method 'GET' not allowed.")
            return self.token(body)
        if route == "versions":
            return Response(200, self.versions())
        match = _DATA.match(path)
        if match is None:
            raise _not_found()
        version = match.group("version")
        if not MIN_VERSION <= float(version) <= MAX_VERSION:
            raise _not_found()
        token = _bearer(headers)
        with self.org.lock:
            session = self.org.session_for(token)
            if session is None:
                raise ApiError(401, "INVALID_SESSION_ID", "Session expired or invalid")
            if self.org.api_used >= self.org.api_max:
                raise ApiError(403, "REQUEST_LIMIT_EXCEEDED", "TotalRequests Limit exceeded.")
            self.org.api_used += 1
            parts = [p for p in (match.group("rest") or "").split("/") if p]
            params = {k: v[-1] for k, v in parse_qs(query, keep_blank_values=True).items()}
            return self._data(route, method, version, parts, params, headers, body, session.user_id)

    def _data(
        self,
        route: str,
        method: str,
        version: str,
        parts: list[str],
        params: dict[str, str],
        headers: dict[str, str],
        body: bytes,
        user_id: str,
    ) -> Response:
        if route == "limits" and method == "GET":
            return Response(200, self.limits())
        if route == "query" and method == "GET":
            return self.query(version, parts[0], params.get("q", ""), headers)
        if route == "query_more" and method == "GET":
            return self.query_more(version, parts[0], parts[1])
        if len(parts) >= 2 and parts[0] == "sobjects":
            sobject = self._sobject(parts[1])
            if route == "describe" and method == "GET":
                return Response(200, self.describe(sobject, version))
            if route == "deleted" and method == "GET":
                return Response(200, self.deleted(sobject, params))
            if route == "create":
                return Response(201, self.create(sobject, _json_body(body), user_id))
            if route == "get":
                fields = [f for f in params.get("fields", "").split(",") if f]
                return Response(200, self.get(sobject, parts[2], fields, version))
            if route == "update":
                self.update(sobject, parts[2], _json_body(body), user_id)
                return Response(204)
            if route == "delete":
                self.delete(sobject, parts[2], user_id)
                return Response(204)
        raise _not_found()

    # OAuth -------------------------------------------------------------------------------------

    def token(self, body: bytes) -> Response:
        form = {k: v[-1] for k, v in parse_qs(body.decode("utf-8", "replace")).items()}
        grant = form.get("grant_type")
        if grant != "client_credentials":
            return Response(
                400,
                {
                    "error": "unsupported_grant_type",
                    "error_description": "grant type not supported",
                },
            )
        if form.get("client_id") != self.org.client_id:
            return Response(
                400,
                {"error": "invalid_client_id", "error_description": "client identifier invalid"},
            )
        if form.get("client_secret") != self.org.client_secret:
            return Response(
                400, {"error": "invalid_client", "error_description": "invalid client credentials"}
            )
        session = self.org.open_session()
        issued = str(int(session.issued_at.timestamp() * 1000))
        identity = f"https://login.salesforce.com/id/{self.org.org_id}/{session.user_id}"
        digest = hmac.new(
            self.org.client_secret.encode(), (identity + issued).encode(), hashlib.sha256
        ).digest()
        return Response(
            200,
            {
                "access_token": session.token,
                "signature": base64.b64encode(digest).decode(),
                "scope": "api",
                "instance_url": self.base_url.rstrip("/"),
                "id": identity,
                "token_type": "Bearer",
                "issued_at": issued,
            },
        )

    def versions(self) -> list[dict[str, str]]:
        versions = []
        number = MIN_VERSION
        while number <= MAX_VERSION:
            versions.append(
                {
                    "label": f"v{number:.1f}",
                    "url": f"/services/data/v{number:.1f}",
                    "version": f"{number:.1f}",
                }
            )
            number += 1.0
        return versions

    def limits(self) -> dict[str, Any]:
        remaining = max(self.org.api_max - self.org.api_used, 0)
        return {
            "DailyApiRequests": {"Max": self.org.api_max, "Remaining": remaining},
            "DailyBulkApiBatches": {"Max": 15000, "Remaining": 15000},
            "DailyAsyncApexExecutions": {"Max": 250000, "Remaining": 250000},
        }

    # query -------------------------------------------------------------------------------------

    def query(self, version: str, endpoint: str, text: str, headers: dict[str, str]) -> Response:
        try:
            parsed = soql.parse(text)
            sobject = self._sobject(parsed.sobject, code="INVALID_TYPE")
            types = self.org.types(sobject)
            compiled = soql.compile_query(parsed, types)
        except soql.SoqlError as exc:
            raise ApiError(400, exc.code, exc.message) from None
        records = self.org.live(sobject, include_deleted=endpoint == "queryAll")
        rows = soql.run(
            compiled,
            records,
            types,
            select=lambda record, fields: project(sobject, record, fields, version),
        )
        batch = _batch_size(headers, self.org.batch_size)
        if len(rows) <= batch:
            return Response(200, {"totalSize": len(rows), "done": True, "records": rows})
        locator = self.org.new_id("QueryLocator")[:15]
        self.org.locators[locator] = Locator(rows, endpoint, batch)
        return Response(200, self._page(version, locator, 0, batch))

    def _page(self, version: str, locator: str, offset: int, batch: int) -> dict[str, Any]:
        stored = self.org.locators[locator]
        rows = stored.records[offset : offset + batch]
        end = offset + len(rows)
        page: dict[str, Any] = {
            "totalSize": len(stored.records),
            "done": end >= len(stored.records),
        }
        if not page["done"]:
            page["nextRecordsUrl"] = f"/services/data/v{version}/{stored.endpoint}/{locator}-{end}"
        page["records"] = rows
        return page

    def query_more(self, version: str, endpoint: str, ident: str) -> Response:
        match = _LOCATOR.match(ident)
        if match is None or match.group("locator") not in self.org.locators:
            raise ApiError(400, "INVALID_QUERY_LOCATOR", "invalid query locator")
        locator = match.group("locator")
        offset = int(match.group("offset"))
        stored = self.org.locators[locator]
        if offset > len(stored.records):
            raise ApiError(400, "INVALID_QUERY_LOCATOR", "invalid query locator")
        return Response(200, self._page(version, locator, offset, stored.batch))

    # sobjects ----------------------------------------------------------------------------------

    def _sobject(self, name: str, code: str = "NOT_FOUND") -> str:
        for known in self.org.schema:
            if known.lower() == name.lower():
                return known
        if code == "INVALID_TYPE":
            raise soql.SoqlError(
                "INVALID_TYPE",
                f"sObject type '{name}' is not supported. If you are attempting to use a custom "
                "object, be sure to append the '__c' after the entity name.",
            )
        raise _not_found()

    def describe(self, sobject: str, version: str) -> dict[str, Any]:
        return {
            "name": sobject,
            "label": sobject,
            "keyPrefix": self.org.new_id(sobject)[:3],
            "updateable": True,
            "createable": True,
            "queryable": True,
            "fields": [f.describe() for f in self.org.schema[sobject].values()],
            "urls": {"sobject": f"/services/data/v{version}/sobjects/{sobject}"},
        }

    def _record(self, sobject: str, record_id: str) -> dict[str, Any]:
        found = self.org.find(record_id)
        if found is None or found[0] != sobject:
            raise _not_found()
        record = found[1]
        if record.get("IsDeleted"):
            raise ApiError(404, "ENTITY_IS_DELETED", "entity is deleted", [])
        return record

    def get(self, sobject: str, record_id: str, fields: list[str], version: str) -> dict[str, Any]:
        record = self._record(sobject, record_id)
        schema = self.org.schema[sobject]
        names = fields or list(schema)
        for name in names:
            if name not in schema:
                raise ApiError(
                    400, "INVALID_FIELD", f"No such column '{name}' on entity '{sobject}'."
                )
        return project(sobject, record, names, version)

    def _validate(self, sobject: str, values: dict[str, Any], *, creating: bool) -> dict[str, Any]:
        schema = self.org.schema[sobject]
        clean: dict[str, Any] = {}
        for name, value in values.items():
            definition = schema.get(name)
            if definition is None:
                raise ApiError(
                    400, "INVALID_FIELD", f"No such column '{name}' on sobject of type {sobject}"
                )
            allowed = definition.createable if creating else definition.updateable
            if not allowed:
                raise ApiError(
                    400,
                    "INVALID_FIELD_FOR_INSERT_UPDATE",
                    f"Unable to create/update fields: {name}. Please check the security settings "
                    "of this field and verify that it is read/write for your profile or "
                    "permission set.",
                    [name],
                )
            clean[name] = self._value(sobject, definition.name, definition.type, value)
        for name, value in clean.items():
            definition = schema[name]
            if definition.restricted:
                active = {v for v, is_active in definition.picklist if is_active}
                if value not in active:
                    raise ApiError(
                        400,
                        "INVALID_OR_NULL_FOR_RESTRICTED_PICKLIST",
                        f"{definition.label}: bad value for restricted picklist field: {value}",
                        [name],
                    )
            if name == "OwnerId":
                self._check_owner(sobject, value)
        return clean

    def _value(self, sobject: str, name: str, kind: str, value: Any) -> Any:
        if value is None:
            return None
        try:
            if kind in soql.DATETIME_TYPES:
                return soql.parse_datetime(str(value))
            if kind in soql.DATE_TYPES:
                return date.fromisoformat(str(value))
            if kind == "int":
                if isinstance(value, bool) or not isinstance(value, int | float | str):
                    raise ValueError(value)
                return int(value)
            if kind in soql.NUMBER_TYPES:
                return float(value)
            if kind in soql.BOOLEAN_TYPES:
                if not isinstance(value, bool):
                    raise ValueError(value)
                return value
        except ValueError:
            raise ApiError(
                400,
                "JSON_PARSER_ERROR",
                f"Cannot deserialize instance of {kind} from {type(value).__name__} value "
                f"{value!r} at [line:1] for field {name} on {sobject}",
            ) from None
        return str(value) if not isinstance(value, str) else value

    def _check_owner(self, sobject: str, owner_id: Any) -> None:
        found = self.org.find(str(owner_id or ""))
        if found is None or found[0] not in ("User", "Group"):
            raise ApiError(
                400,
                "FIELD_INTEGRITY_EXCEPTION",
                f"Owner ID: id value of incorrect type: {owner_id}",
                ["OwnerId"],
            )
        if found[0] == "User" and not found[1].get("IsActive"):
            raise ApiError(
                400,
                "INACTIVE_OWNER_OR_USER",
                f"operation performed with inactive user [{owner_id}] as owner of "
                f"{sobject.lower()}",
                [],
            )

    def create(self, sobject: str, values: dict[str, Any], user_id: str) -> dict[str, Any]:
        clean = self._validate(sobject, values, creating=True)
        if sobject == "Lead":
            missing = [f for f in ("LastName", "Company") if not clean.get(f)]
            if missing:
                raise ApiError(
                    400,
                    "REQUIRED_FIELD_MISSING",
                    f"Required fields are missing: [{', '.join(missing)}]",
                    missing,
                )
            clean.setdefault("Status", "Open - Not Contacted")
        if sobject == "Task":
            who = clean.get("WhoId")
            if who:
                found = self.org.find(str(who))
                if found is None or found[0] not in ("Lead", "Contact") or found[1]["IsDeleted"]:
                    raise ApiError(
                        400,
                        "FIELD_INTEGRITY_EXCEPTION",
                        f"Name ID: id value of incorrect type: {who}",
                        ["WhoId"],
                    )
                if found[1].get("IsConverted"):
                    raise ApiError(
                        400, "CANNOT_UPDATE_CONVERTED_LEAD", "cannot reference converted lead", []
                    )
            clean.setdefault("Status", "Not Started")
            clean.setdefault("Priority", "Normal")
            clean.setdefault("OwnerId", user_id)
        record = self.org.insert(sobject, clean, by=user_id)
        return {"id": record["Id"], "success": True, "errors": []}

    def update(self, sobject: str, record_id: str, values: dict[str, Any], user_id: str) -> None:
        record = self._record(sobject, record_id)
        if sobject == "Lead" and record.get("IsConverted"):
            raise ApiError(
                400, "CANNOT_UPDATE_CONVERTED_LEAD", "cannot reference converted lead", []
            )
        clean = self._validate(sobject, values, creating=False)
        record.update(clean)
        self.org._derive(sobject, record)
        self.org.touch(record, user_id)

    def delete(self, sobject: str, record_id: str, user_id: str) -> None:
        record = self._record(sobject, record_id)
        stamp = self.org.now()
        record["IsDeleted"] = True
        self.org.touch(record, user_id, stamp)
        self.org.deleted_at[record["Id"]] = stamp

    def deleted(self, sobject: str, params: dict[str, str]) -> dict[str, Any]:
        try:
            start = soql.parse_datetime(params["start"])
            end = soql.parse_datetime(params["end"])
        except (KeyError, ValueError):
            raise ApiError(
                400, "MALFORMED_QUERY", "start and end must be dateTime values (ISO 8601)"
            ) from None
        earliest = self.org.earliest_deleted_available()
        if end <= start:
            raise ApiError(400, "INVALID_REPLICATION_DATE", "end date must be after start date")
        if start < earliest:
            raise ApiError(
                400,
                "INVALID_REPLICATION_DATE",
                f"startDate cannot be before the earliest date available: "
                f"{soql.format_datetime(earliest)}",
            )
        found = self.org.deleted_between(sobject, start, end)
        latest = min(end, self.org.now()).replace(second=0, microsecond=0)
        return {
            "deletedRecords": [
                {"id": row["id"], "deletedDate": soql.format_datetime(row["deletedDate"])}
                for row in found
            ],
            "earliestDateAvailable": soql.format_datetime(earliest),
            "latestDateCovered": soql.format_datetime(latest),
        }


def _bearer(headers: dict[str, str]) -> str | None:
    value = headers.get("authorization") or ""
    scheme, _, token = value.partition(" ")
    if scheme.lower() in ("bearer", "oauth") and token:
        return token.strip()
    return None


def _batch_size(headers: dict[str, str], default: int) -> int:
    options = headers.get("sforce-query-options") or ""
    match = re.search(r"batchSize=(\d+)", options)
    if match is None:
        return default
    return min(max(int(match.group(1)), 200), 2000)


def _json_body(body: bytes) -> dict[str, Any]:
    try:
        value = json.loads(body or b"{}")
    except ValueError:
        raise ApiError(
            400, "JSON_PARSER_ERROR", "Unexpected character in the request body"
        ) from None
    if not isinstance(value, dict):
        raise ApiError(400, "JSON_PARSER_ERROR", "Expected a JSON object in the request body")
    return value


def _call(method: str, path: str, route: str, response: Response) -> CallRecord:
    return CallRecord(method, path, route, response.status)
