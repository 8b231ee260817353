"""HubSpot adapter: contacts in (a search cursor that survives HubSpot's real behaviour), writes
out (properties, owner, notes that are never doubled), owners, and ``check``.

Built on httpx rather than ``hubspot-api-client``: that client's retries are a urllib3
``Retry`` (no say over the wait per ``policyName``, no way to inject the sleep in tests) and
its base URL is fixed per generated sub-client.

Reading contacts. ``POST /crm/v3/objects/contacts/search`` sorted by ``lastmodifieddate``
ascending, 200 a page. Every page is a fresh query that starts at the last modification time
read (keyset paging) instead of ``after`` offsets: offsets shift when a contact is modified
while the pages are read (one would be skipped) and stop at 10,000 results, while a fresh,
narrower query per page has neither problem. When a whole page shares one modification time
the pages go on at that exact time by ``hs_object_id``. Search lags writes by seconds, and not
every write by the same amount, so each sync re-reads an overlap window before its cursor and
skips a contact already seen at that same modification time.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import httpx

from core import crm
from core.crm import CrmChange, CrmWrite

log = logging.getLogger(__name__)

PAGE_SIZE = 200
OVERLAP_SECONDS = 60.0
TOKEN_SETTING = "HUBSPOT_ACCESS_TOKEN"
URL_SETTING = "LEADBOT_HUBSPOT_API_URL"
REQUIRED_SCOPES = (
    "crm.objects.contacts.read",
    "crm.objects.contacts.write",
    "crm.objects.owners.read",
    "crm.schemas.contacts.read",
)
#: Always read with a contact, whatever the mapping says.
SYNC_PROPERTIES = (
    "email",
    "lastmodifieddate",
    crm.LIFECYCLE_PROPERTY,
    crm.LEAD_STATUS_PROPERTY,
    crm.OWNER_PROPERTY,
    "hs_merged_object_ids",
)
NOTE_CONTACT_ASSOCIATION = {"associationCategory": "HUBSPOT_DEFINED", "associationTypeId": 202}

Sleep = Callable[[float], None]


class HubSpotError(Exception):
    """HubSpot answered with an error (or not at all); ``str()`` is one line for an operator."""

    def __init__(
        self,
        message: str,
        *,
        status: int | None = None,
        category: str | None = None,
        body: Any = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.category = category
        self.body = body


class HubSpotAuthError(HubSpotError):
    """401: the token is wrong, expired or revoked."""


class HubSpotUnreachable(HubSpotError):
    """No answer at all (connection refused, DNS, timeouts) after every retry."""


class HubSpotDailyLimit(HubSpotError):
    """The account's daily API allowance is spent: waiting seconds will not help."""


class HubSpotRefused(HubSpotError):
    """A 4xx other than 401/429: the request itself is wrong (a property, an option)."""


@dataclass
class SyncCursor:
    """Where the contact sync stands: the newest modification time read (epoch ms), and the
    contacts read in the overlap window before it, with the modification time they were read at.
    Stored as JSON between syncs."""

    since_ms: int | None = None
    seen: dict[str, int] = field(default_factory=dict)

    def to_json(self) -> str:
        return json.dumps({"since_ms": self.since_ms, "seen": self.seen}, separators=(",", ":"))

    @classmethod
    def from_json(cls, text: str | None) -> SyncCursor:
        if not text:
            return cls()
        data = json.loads(text)
        return cls(data.get("since_ms"), {str(k): int(v) for k, v in data.get("seen", {}).items()})


@dataclass(frozen=True)
class Owner:
    id: str
    email: str
    name: str


@dataclass(frozen=True)
class WriteResult:
    """What a write did: ``cleared_first`` when the lifecycle stage had to be cleared before
    moving backwards; ``note_id`` of the note (found again rather than added twice:
    ``already_there``)."""

    cleared_first: bool = False
    note_id: str | None = None
    already_there: bool = False


def _ms(text: str | None) -> int | None:
    if not text:
        return None
    if text.isdigit():
        return int(text)
    try:
        moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return round(moment.timestamp() * 1000)


def _iso_ms(ms: int) -> datetime:
    return datetime.fromtimestamp(ms / 1000, UTC)


def contact_url(portal_id: int | str, contact_id: str, ui_domain: str = "app.hubspot.com") -> str:
    return f"https://{ui_domain}/contacts/{portal_id}/record/0-1/{contact_id}"


class HubSpotClient:
    def __init__(
        self,
        token: str,
        base_url: str = "https://api.hubapi.com",
        *,
        timeout: float = 10.0,
        sleep: Sleep = time.sleep,
        max_attempts: int = 8,
        page_size: int = PAGE_SIZE,
        overlap_seconds: float = OVERLAP_SECONDS,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        if not 1 <= page_size <= 200:
            raise ValueError("page_size must be 1..200 (HubSpot's search limit)")
        self.base_url = base_url.rstrip("/")
        self.sleep = sleep
        self.max_attempts = max_attempts
        self.page_size = page_size
        self.overlap_ms = round(overlap_seconds * 1000)
        self.http = httpx.Client(
            base_url=self.base_url,
            headers={"Authorization": f"Bearer {token}", "User-Agent": "leadbot-hubspot/1"},
            timeout=timeout,
            transport=transport,
        )
        self._token = token
        self.waited: list[tuple[str, float]] = []  # (why, seconds): what back-off cost

    def close(self) -> None:
        self.http.close()

    def __enter__(self) -> HubSpotClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # --- one request, retried as HubSpot asks --------------------------------------------

    def _wait(self, why: str, seconds: float) -> None:
        self.waited.append((why, seconds))
        self.sleep(seconds)

    def request(
        self,
        method: str,
        path: str,
        *,
        body: Any = None,
        params: Mapping[str, Any] | None = None,
        retry_unsafe: bool = True,
    ) -> Any:
        """One call. 429 waits by its ``policyName`` (SECONDLY: a second; TEN_SECONDLY_ROLLING:
        growing waits up to the ten seconds; DAILY: raise), 5xx and timeouts back off and try
        again (only when ``retry_unsafe``; else they raise, for the caller to look before it
        repeats a write). Returns the decoded body (None for an empty one)."""
        failures = 0
        limited = 0
        while True:
            try:
                answer = self.http.request(method, path, json=body, params=params)
            except httpx.TransportError as exc:
                failures += 1
                reason = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
                if not retry_unsafe or failures >= self.max_attempts:
                    raise HubSpotUnreachable(
                        f"{URL_SETTING}: no answer from {self.base_url} ({reason})"
                    ) from exc
                self._wait("no answer", min(30.0, 0.5 * 2 ** (failures - 1)))
                continue
            status = answer.status_code
            if status < 400:
                return answer.json() if answer.content else None
            payload = _json(answer)
            message = payload.get("message") if isinstance(payload, dict) else None
            category = payload.get("category") if isinstance(payload, dict) else None
            if status == 429:
                policy = payload.get("policyName") if isinstance(payload, dict) else None
                if policy == "DAILY":
                    raise HubSpotDailyLimit(
                        "HubSpot's daily API limit for this account is reached; the sync "
                        "goes on tomorrow",
                        status=429,
                        category="RATE_LIMIT",
                        body=payload,
                    )
                limited += 1
                if limited > 4 * self.max_attempts:
                    raise HubSpotError(
                        f"HubSpot kept answering 429 ({policy}) for {method} {path}",
                        status=429,
                        category="RATE_LIMIT",
                        body=payload,
                    )
                self._wait(f"429 {policy}", _rate_wait(policy, limited, answer.headers))
                continue
            if status >= 500:
                failures += 1
                if not retry_unsafe or failures >= self.max_attempts:
                    raise HubSpotError(
                        f"HubSpot answered {status} for {method} {path}: {message or 'no detail'}",
                        status=status,
                        category=category,
                        body=payload,
                    )
                self._wait(f"{status}", min(30.0, 0.5 * 2 ** (failures - 1)))
                continue
            if status == 401:
                raise HubSpotAuthError(
                    f"{TOKEN_SETTING}: HubSpot refused the token ({message or 'unauthorized'})",
                    status=401,
                    category=category,
                    body=payload,
                )
            if status == 403 and category == "MISSING_SCOPES":
                raise HubSpotRefused(
                    f"{TOKEN_SETTING}: the private app lacks a scope: {_scopes_needed(payload)}",
                    status=403,
                    category=category,
                    body=payload,
                )
            raise HubSpotRefused(
                f"HubSpot refused {method} {path} ({status} {category or ''}): "
                f"{message or answer.text[:200]}",
                status=status,
                category=category,
                body=payload,
            )

    # --- contacts in -------------------------------------------------------------------------

    def sync_properties(self, field_map: Mapping[str, str]) -> list[str]:
        return list(dict.fromkeys([*field_map, *SYNC_PROPERTIES]))

    def changes(
        self, cursor: SyncCursor, field_map: Mapping[str, str]
    ) -> Iterator[tuple[list[CrmChange], SyncCursor]]:
        """Pages of contacts modified since ``cursor`` (minus the overlap window), each with the
        cursor to store once that page is applied. A contact appears again only when it was
        modified again."""
        properties = self.sync_properties(field_map)
        high = cursor.since_ms or 0
        lower = max(0, high - self.overlap_ms) if cursor.since_ms is not None else 0
        seen = dict(cursor.seen)
        strict = False
        tie: str | None = None  # paging by id at exactly ``lower``; "" = from the first id
        while True:
            if tie is not None:
                filters = [
                    {"propertyName": "lastmodifieddate", "operator": "EQ", "value": str(lower)}
                ]
                if tie:
                    filters.append({"propertyName": "hs_object_id", "operator": "GT", "value": tie})
                sort = "hs_object_id"
            else:
                filters = [
                    {
                        "propertyName": "lastmodifieddate",
                        "operator": "GT" if strict else "GTE",
                        "value": str(lower),
                    }
                ]
                sort = "lastmodifieddate"
            page = self.request(
                "POST",
                "/crm/v3/objects/contacts/search",
                body={
                    "filterGroups": [{"filters": filters}],
                    "sorts": [{"propertyName": sort, "direction": "ASCENDING"}],
                    "properties": properties,
                    "limit": self.page_size,
                },
            )
            results = page.get("results") or []
            fresh = []
            for row in results:
                props = row.get("properties") or {}
                modified = _ms(props.get("lastmodifieddate") or row.get("updatedAt"))
                if modified is None:
                    continue
                contact_id = str(row["id"])
                if seen.get(contact_id) == modified:
                    continue
                seen[contact_id] = modified
                high = max(high, modified)
                fresh.append(self.change_of(contact_id, props, modified, field_map))
            floor = high - self.overlap_ms
            seen = {k: v for k, v in seen.items() if v >= floor}
            yield fresh, SyncCursor(high if high else cursor.since_ms, dict(seen))
            full = len(results) >= self.page_size
            if tie is not None:
                if full:
                    tie = str(results[-1]["id"])
                else:
                    tie, strict = None, True
                continue
            if not full:
                return
            last = _ms((results[-1].get("properties") or {}).get("lastmodifieddate"))
            if last is None or last == lower:
                tie = ""  # a whole page at one time: go on at that time, by id
            else:
                lower, strict = last, False

    @staticmethod
    def change_of(
        contact_id: str,
        props: Mapping[str, str | None],
        modified_ms: int,
        field_map: Mapping[str, str],
    ) -> CrmChange:
        merged = tuple(i for i in (props.get("hs_merged_object_ids") or "").split(";") if i)
        fields = crm.lead_fields(props, field_map)
        email = fields.get("email")
        return CrmChange(
            system="hubspot",
            external_id=contact_id,
            email=email if isinstance(email, str) else None,
            modified_at=_iso_ms(modified_ms),
            fields=fields,
            owner_external_id=props.get(crm.OWNER_PROPERTY) or None,
            stage=props.get(crm.LIFECYCLE_PROPERTY) or None,
            status=props.get(crm.LEAD_STATUS_PROPERTY) or None,
            merged_ids=merged,
        )

    def archived_changes(self, cursor: SyncCursor) -> list[CrmChange]:
        """Contacts archived (deleted) since the cursor's overlap window."""
        floor = max(0, (cursor.since_ms or 0) - self.overlap_ms)
        out = []
        after: str | None = None
        while True:
            params: dict[str, Any] = {"archived": "true", "limit": 100, "properties": "email"}
            if after:
                params["after"] = after
            page = self.request("GET", "/crm/v3/objects/contacts", params=params)
            for row in page.get("results") or []:
                when = _ms(row.get("archivedAt")) or _ms(row.get("updatedAt")) or 0
                if cursor.since_ms is not None and when < floor:
                    continue
                email = (row.get("properties") or {}).get("email")
                out.append(
                    CrmChange(
                        system="hubspot",
                        external_id=str(row["id"]),
                        email=email.lower() if email else None,
                        modified_at=_iso_ms(when),
                        archived=True,
                    )
                )
            after = ((page.get("paging") or {}).get("next") or {}).get("after")
            if not after:
                return out

    def get_contact(self, contact_id: str, properties: Iterable[str] = ()) -> dict[str, Any] | None:
        try:
            return dict(
                self.request(
                    "GET",
                    f"/crm/v3/objects/contacts/{contact_id}",
                    params={"properties": ",".join(properties)} if properties else None,
                )
            )
        except HubSpotRefused as exc:
            if exc.status == 404:
                return None
            raise

    # --- writes out --------------------------------------------------------------------------

    def set_properties(self, contact_id: str, properties: Mapping[str, str]) -> WriteResult:
        """PATCH the properties; a lifecycle stage earlier than the contact's is cleared first
        (HubSpot refuses to move it backwards otherwise)."""
        current = None
        if properties.get(crm.LIFECYCLE_PROPERTY):
            contact = self.get_contact(contact_id, [crm.LIFECYCLE_PROPERTY])
            if contact is None:
                raise HubSpotRefused(f"HubSpot has no contact {contact_id}", status=404)
            current = (contact.get("properties") or {}).get(crm.LIFECYCLE_PROPERTY)
        steps = crm.property_steps(properties, current)
        try:
            for step in steps:
                self._patch(contact_id, step)
        except HubSpotRefused as exc:
            # Someone moved the stage on between the read and the write: clear, then set.
            if exc.status != 400 or crm.LIFECYCLE_PROPERTY not in str(exc) or len(steps) > 1:
                raise
            self._patch(contact_id, {crm.LIFECYCLE_PROPERTY: ""})
            self._patch(contact_id, dict(properties))
            return WriteResult(cleared_first=True)
        return WriteResult(cleared_first=len(steps) > 1)

    def _patch(self, contact_id: str, properties: Mapping[str, str]) -> None:
        self.request(
            "PATCH", f"/crm/v3/objects/contacts/{contact_id}", body={"properties": dict(properties)}
        )

    def set_owner(self, contact_id: str, owner_id: str | None) -> WriteResult:
        self._patch(contact_id, {crm.OWNER_PROPERTY: owner_id or ""})
        return WriteResult()

    def find_note(self, contact_id: str, key: str) -> str | None:
        """The id of the contact's note that carries ``key``'s marker, read through the
        contact's associations (not search, which lags: a note added a second ago is there)."""
        contact = self.request(
            "GET", f"/crm/v3/objects/contacts/{contact_id}", params={"associations": "notes"}
        )
        ids = [
            str(item["id"])
            for item in (
                ((contact.get("associations") or {}).get("notes") or {}).get("results") or []
            )
        ]
        marker = crm.note_marker(key)
        for start in range(0, len(ids), 100):
            batch = self.request(
                "POST",
                "/crm/v3/objects/notes/batch/read",
                body={
                    "properties": ["hs_note_body"],
                    "inputs": [{"id": i} for i in ids[start : start + 100]],
                },
            )
            for note in batch.get("results") or []:
                if marker in ((note.get("properties") or {}).get("hs_note_body") or ""):
                    return str(note["id"])
        return None

    def add_note(self, contact_id: str, text: str, key: str, at: datetime) -> WriteResult:
        """Add a note to the contact, once: it carries ``key``'s marker, and before every
        attempt the contact's notes are looked through for it, so a retry after a timeout or a
        5xx whose write went through finds the note instead of adding a second."""
        body = {
            "properties": {
                "hs_timestamp": at.astimezone(UTC).isoformat().replace("+00:00", "Z"),
                "hs_note_body": f"{text}\n\n{crm.note_marker(key)}",
            },
            "associations": [{"to": {"id": contact_id}, "types": [NOTE_CONTACT_ASSOCIATION]}],
        }
        failures = 0
        while True:
            found = self.find_note(contact_id, key)
            if found is not None:
                return WriteResult(note_id=found, already_there=True)
            try:
                created = self.request(
                    "POST", "/crm/v3/objects/notes", body=body, retry_unsafe=False
                )
            except (HubSpotRefused, HubSpotDailyLimit, HubSpotAuthError):
                raise
            except HubSpotError:
                # A 5xx or no answer: the note may exist all the same. Look before trying again.
                failures += 1
                if failures >= self.max_attempts:
                    raise
                self._wait("note not confirmed", min(30.0, 0.5 * 2 ** (failures - 1)))
                continue
            return WriteResult(note_id=str(created["id"]))

    def apply(self, write: CrmWrite, at: datetime) -> WriteResult:
        if not write.external_id:
            raise ValueError("a HubSpot write needs the contact's id")
        if write.kind == "set_properties":
            return self.set_properties(write.external_id, write.properties)
        if write.kind == "set_owner":
            return self.set_owner(write.external_id, write.properties.get(crm.OWNER_PROPERTY))
        return self.add_note(write.external_id, write.note or "", write.key, at)

    # --- owners --------------------------------------------------------------------------------

    def owners(self) -> list[Owner]:
        out: list[Owner] = []
        after: str | None = None
        while True:
            params: dict[str, Any] = {"limit": 100}
            if after:
                params["after"] = after
            page = self.request("GET", "/crm/v3/owners", params=params)
            for row in page.get("results") or []:
                name = f"{row.get('firstName') or ''} {row.get('lastName') or ''}".strip()
                out.append(Owner(str(row["id"]), (row.get("email") or "").lower(), name))
            after = ((page.get("paging") or {}).get("next") or {}).get("after")
            if not after:
                return out

    def owner_by_email(self, email: str) -> Owner | None:
        wanted = email.strip().lower()
        return next((o for o in self.owners() if o.email == wanted), None)

    # --- check ---------------------------------------------------------------------------------

    def account(self) -> dict[str, Any]:
        return dict(self.request("GET", "/account-info/v3/details"))

    def check(
        self, field_map: Mapping[str, str], stage_map: Mapping[str, Mapping[str, str]]
    ) -> list[str]:
        """Everything that would make the sync or a write fail, one line each (empty: fine)."""
        problems: list[str] = []
        try:
            info = self.request(
                "POST",
                "/oauth/v2/private-apps/get/access-token-info",
                body={"tokenKey": self._token},
            )
            scopes = set(info.get("scopes") or [])
            problems += [
                f"{TOKEN_SETTING}: the private app lacks the scope {scope} (add it in HubSpot: "
                "Settings > Integrations > Private apps)"
                for scope in REQUIRED_SCOPES
                if scope not in scopes
            ]
        except HubSpotUnreachable as exc:
            return [str(exc)]
        except HubSpotAuthError:
            return [
                f"{TOKEN_SETTING}: HubSpot does not accept this token (wrong, expired or revoked)"
            ]
        except HubSpotRefused as exc:
            if exc.status == 404:
                return [f"{URL_SETTING}: {self.base_url} does not answer like HubSpot's API"]
            problems.append(str(exc))
        try:
            listing = self.request("GET", "/crm/v3/properties/contacts")
        except HubSpotError as exc:
            problems.append(str(exc))
            return problems
        catalog = {p["name"]: p for p in listing.get("results") or []}
        for prop, lead_field in field_map.items():
            if prop not in catalog:
                problems.append(
                    f"crm.hubspot.fields.{prop}: HubSpot has no contact property {prop!r} "
                    f"(mapped to {lead_field})"
                )
        for stage, properties in stage_map.items():
            for prop, value in properties.items():
                definition = catalog.get(prop)
                if definition is None:
                    problems.append(
                        f"crm.hubspot.stages.{stage}: HubSpot has no contact property {prop!r}"
                    )
                    continue
                options = [o.get("value") for o in definition.get("options") or []]
                if definition.get("type") == "enumeration" and options and value not in options:
                    problems.append(
                        f"crm.hubspot.stages.{stage}: {prop} has no option {value!r} in HubSpot "
                        f"(it has: {', '.join(map(str, options))})"
                    )
        for needed in (crm.LIFECYCLE_PROPERTY, crm.OWNER_PROPERTY):
            if needed not in catalog:
                problems.append(f"HubSpot has no contact property {needed!r}")
        return problems


def match_owners(
    slack_emails: Mapping[str, str | None],
    owners: Iterable[Owner],
    overrides: Mapping[str, str],
) -> tuple[dict[str, str], list[str]]:
    """Slack user -> HubSpot owner id: ``[crm.owners]`` first, else by e-mail. Returns the
    matches and one line per Slack user left unmatched."""
    by_email = {o.email: o.id for o in owners if o.email}
    known = {o.id for o in owners}
    matches: dict[str, str] = {}
    problems: list[str] = []
    for user, email in slack_emails.items():
        if user in overrides:
            if overrides[user] not in known:
                problems.append(f"crm.owners.{user}: HubSpot has no owner {overrides[user]}")
            else:
                matches[user] = overrides[user]
            continue
        owner_id = by_email.get((email or "").lower()) if email else None
        if owner_id is None:
            seen = f"e-mail {email}" if email else "no e-mail visible (scope users:read.email)"
            problems.append(f"{user}: no HubSpot owner matches this Slack user ({seen})")
        else:
            matches[user] = owner_id
    return matches, problems


def _json(answer: httpx.Response) -> Any:
    try:
        return answer.json()
    except ValueError:
        return None


def _rate_wait(policy: str | None, attempt: int, headers: httpx.Headers) -> float:
    if policy == "SECONDLY":
        return 1.0
    retry_after = headers.get("Retry-After")
    if retry_after and retry_after.isdigit():
        return float(retry_after)
    interval = headers.get("X-HubSpot-RateLimit-Interval-Milliseconds")
    ceiling = int(interval) / 1000 if interval and interval.isdigit() else 10.0
    return min(ceiling, float(2 ** (attempt - 1)))


def _scopes_needed(payload: Any) -> str:
    try:
        needed = payload["errors"][0]["context"]["requiredGranularScopes"]
        return ", ".join(needed)
    except (KeyError, IndexError, TypeError):
        return "see HubSpot's answer"
