"""Salesforce adapter: Leads in, field writes and completed Tasks out, over the REST API.

Authentication is the OAuth 2.0 client-credentials flow of a connected app
(``LEADBOT_SALESFORCE_URL`` + ``SALESFORCE_CLIENT_ID`` + ``SALESFORCE_CLIENT_SECRET``); the
access token is cached and fetched again when Salesforce answers ``INVALID_SESSION_ID``.
HTTP goes through ``simple-salesforce`` on a requests session of our own (timeouts, and the CA
bundle when one is given).

Inputs and outputs are plain dataclasses of this module: :class:`LeadChange` pages from
:meth:`SalesforceClient.read_changes` (each with the :class:`ReadCursor` to store with it),
:class:`WriteResult` from the writes, and one-line problems from :meth:`SalesforceClient.check`.
"""

from __future__ import annotations

import hashlib
import json
import os
import random
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any, Literal, TypeVar, cast
from urllib.parse import urlparse

import requests
from simple_salesforce.api import Salesforce, SFType
from simple_salesforce.exceptions import SalesforceError as LibraryError

API_VERSION = "62.0"

URL_SETTING = "LEADBOT_SALESFORCE_URL"
ID_SETTING = "SALESFORCE_CLIENT_ID"
SECRET_SETTING = "SALESFORCE_CLIENT_SECRET"

#: Lead field -> leadbot lead field, unless ``[crm.salesforce.fields]`` says otherwise.
DEFAULT_FIELDS: dict[str, str] = {
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

#: Read with every Lead whatever the mapping: what the sync itself needs.
SYSTEM_FIELDS = (
    "Id",
    "SystemModstamp",
    "LastModifiedById",
    "IsDeleted",
    "MasterRecordId",
    "Email",
    "OwnerId",
    "Status",
    "IsConverted",
    "ConvertedOpportunityId",
    "ConvertedDate",
)

QUEUE_PREFIX = "00G"
USER_PREFIX = "005"
TASK_SUBJECT_LENGTH = 255

T = TypeVar("T")


# errors --------------------------------------------------------------------------------------


class SalesforceError(Exception):
    """A problem with one line for the operator (``line``)."""

    def __init__(self, line: str) -> None:
        super().__init__(line)
        self.line = line


class SalesforceSetupError(SalesforceError):
    """The settings are wrong: the URL, the client id or the secret. Retrying will not help."""


class SalesforceUnavailable(SalesforceError):
    """Try later: Salesforce failed, timed out, or the daily API allowance is used up."""

    def __init__(self, line: str, retry_after: float, *, limit: bool = False) -> None:
        super().__init__(line)
        self.retry_after = retry_after
        self.limit = limit


class SalesforceRefused(SalesforceError):
    """Salesforce refused the request for good (``code`` is its errorCode)."""

    def __init__(self, line: str, code: str, fields: Sequence[str] = ()) -> None:
        super().__init__(line)
        self.code = code
        self.fields = tuple(fields)


# settings ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class SalesforceSettings:
    url: str
    client_id: str
    client_secret: str

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> SalesforceSettings:
        env = os.environ if env is None else env
        missing = [name for name in (URL_SETTING, ID_SETTING, SECRET_SETTING) if not env.get(name)]
        if missing:
            raise SalesforceSetupError(
                f"{', '.join(missing)} {'is' if len(missing) == 1 else 'are'} not set "
                "(the connected app's client-credentials flow needs all three)"
            )
        return cls(env[URL_SETTING], env[ID_SETTING], env[SECRET_SETTING]).validated()

    def validated(self) -> SalesforceSettings:
        parsed = urlparse(self.url)
        if parsed.scheme != "https" or not parsed.hostname:
            raise SalesforceSetupError(
                f"{URL_SETTING}={self.url!r} is not an https:// URL "
                "(use the org's My Domain URL, https://NAME.my.salesforce.com)"
            )
        return SalesforceSettings(self.url.rstrip("/"), self.client_id, self.client_secret)


# what the adapter reads and writes -------------------------------------------------------------


@dataclass(frozen=True)
class LeadChange:
    """One Lead as Salesforce holds it now, read because its SystemModstamp moved."""

    id: str
    modstamp: datetime
    email: str | None
    status: str | None
    fields: dict[str, Any]  # leadbot field -> value, through the field mapping
    values: dict[str, Any]  # Salesforce field -> value, everything read
    owner_user_id: str | None  # None when a Queue owns the Lead ("no owner")
    owner_queue_id: str | None
    converted: bool
    converted_opportunity_id: str | None
    converted_date: date | None
    deleted: bool
    merged_into: str | None
    modified_by_id: str | None
    by_integration_user: bool  # last written through the connected app (leadbot itself)

    @property
    def fingerprint(self) -> str:
        raw = json.dumps(self.values, sort_keys=True, default=str).encode()
        return hashlib.blake2b(raw, digest_size=8).hexdigest()


@dataclass(frozen=True)
class ReadCursor:
    """Where the next read starts: the newest SystemModstamp read, and what was read at or
    after ``modstamp - overlap`` (Lead id -> its SystemModstamp and a fingerprint of its
    values), which the next read skips. SystemModstamp has whole seconds, so two changes of one
    Lead within a second share it: the fingerprint tells them apart. Stored by the caller as
    JSON (:meth:`to_json`) together with the page it came with."""

    modstamp: datetime | None = None
    seen: dict[str, tuple[datetime, str]] = field(default_factory=dict)

    def lower_bound(self, overlap: timedelta) -> datetime | None:
        return None if self.modstamp is None else self.modstamp - overlap

    def already_seen(self, change: LeadChange) -> bool:
        previous = self.seen.get(change.id)
        if previous is None:
            return False
        stamp, fingerprint = previous
        return stamp > change.modstamp or (
            stamp == change.modstamp and fingerprint == change.fingerprint
        )

    def advanced(self, changes: Sequence[LeadChange], overlap: timedelta) -> ReadCursor:
        newest = self.modstamp
        seen = dict(self.seen)
        for change in changes:
            seen[change.id] = (change.modstamp, change.fingerprint)
            if newest is None or change.modstamp > newest:
                newest = change.modstamp
        if newest is None:
            return self
        floor = newest - overlap
        return ReadCursor(newest, {k: v for k, v in seen.items() if v[0] >= floor})

    def to_json(self) -> dict[str, Any]:
        return {
            "modstamp": self.modstamp.isoformat() if self.modstamp else None,
            "seen": {k: [v[0].isoformat(), v[1]] for k, v in self.seen.items()},
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any] | None) -> ReadCursor:
        if not data:
            return cls()
        stamp = data.get("modstamp")
        return cls(
            datetime.fromisoformat(stamp) if stamp else None,
            {
                k: (datetime.fromisoformat(v[0]), str(v[1]))
                for k, v in (data.get("seen") or {}).items()
            },
        )


@dataclass(frozen=True)
class ChangePage:
    changes: list[LeadChange]
    cursor: ReadCursor


@dataclass(frozen=True)
class DeletedLead:
    id: str
    deleted_at: datetime


@dataclass(frozen=True)
class SalesforceUser:
    id: str
    email: str | None
    name: str | None
    active: bool


@dataclass(frozen=True)
class WriteResult:
    """``done``: written (or found already written); ``converted``: the Lead is converted and
    is never written again; ``refused``: Salesforce will not take it (final); ``retry``: try
    again after ``retry_after`` seconds."""

    outcome: Literal["done", "converted", "refused", "retry"]
    message: str = ""
    record_id: str | None = None
    retry_after: float | None = None

    @property
    def final(self) -> bool:
        return self.outcome != "retry"


@dataclass(frozen=True)
class ApiUsage:
    maximum: int
    remaining: int

    @property
    def low(self) -> bool:
        """Close to the daily allowance: syncing slows down, managers are told."""
        return self.remaining < max(self.maximum // 10, 1)


def sync_interval(usage: ApiUsage | None, every_seconds: float) -> float:
    """Seconds until the next sync: as configured while the allowance is ample, stretched as
    it shrinks (so writes keep a reserve), an hour once it is nearly gone."""
    if usage is None or usage.maximum <= 0:
        return every_seconds
    share = usage.remaining / usage.maximum
    if share >= 0.25:
        return every_seconds
    if share <= 0.02:
        return max(every_seconds, 3600.0)
    return max(every_seconds, every_seconds * (0.25 / share))


def matches_rule(values: Mapping[str, Any], rule: Mapping[str, Sequence[Any]]) -> bool:
    """``mql_when = { Status = ["Marketing Qualified"] }``: every field holds one of its values."""
    return bool(rule) and all(values.get(name) in allowed for name, allowed in rule.items())


# the client ------------------------------------------------------------------------------------


class _Http(requests.Session):
    """A requests session with a default timeout and, when given, a CA bundle that wins over
    ``REQUESTS_CA_BUNDLE`` (requests lets the environment override ``Session.verify``)."""

    def __init__(self, timeout: float, ca_bundle: str | None) -> None:
        super().__init__()
        self._timeout = timeout
        self._ca_bundle = ca_bundle

    def request(self, *args: Any, **kwargs: Any) -> Any:
        kwargs.setdefault("timeout", self._timeout)
        if self._ca_bundle is not None:
            kwargs["verify"] = self._ca_bundle
        return super().request(*args, **kwargs)


@dataclass
class _Token:
    access_token: str
    instance_url: str
    user_id: str | None


def _soql_string(value: str) -> str:
    escaped = value.replace("\\", "\\\\").replace("'", "\\'")
    return "'" + escaped.replace("\n", "\\n").replace("\r", "\\r") + "'"


def _soql_datetime(value: datetime) -> str:
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _parse_datetime(text: str) -> datetime:
    # Salesforce writes 2024-05-01T10:00:00.000+0000
    if len(text) >= 5 and text[-5] in "+-" and text[-3] != ":":
        text = text[:-2] + ":" + text[-2:]
    return datetime.fromisoformat(text.replace("Z", "+00:00")).astimezone(UTC)


def _sobject(sf: Salesforce, name: str) -> SFType:
    return cast(SFType, getattr(sf, name))


def _error_of(exc: LibraryError) -> tuple[str, str, list[str]]:
    """(errorCode, message, fields) of a Salesforce error list body."""
    content = exc.content
    if isinstance(content, list) and content and isinstance(content[0], dict):
        first = content[0]
        return (
            str(first.get("errorCode") or ""),
            str(first.get("message") or ""),
            [str(f) for f in first.get("fields") or []],
        )
    return "", str(content)[:200], []


class SalesforceClient:
    def __init__(
        self,
        settings: SalesforceSettings,
        *,
        field_map: Mapping[str, str] | None = None,
        overlap: timedelta = timedelta(minutes=5),
        batch_size: int = 2000,
        timeout: float = 30.0,
        retries: int = 4,
        backoff: float = 0.5,
        limit_pause: float = 3600.0,
        ca_bundle: str | None = None,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.settings = settings.validated()
        self.field_map = dict(DEFAULT_FIELDS if field_map is None else field_map)
        self.overlap = overlap
        self.batch_size = min(max(batch_size, 200), 2000)
        self.retries = retries
        self.backoff = backoff
        self.limit_pause = limit_pause
        self._sleep = sleep
        self._http = _Http(timeout, ca_bundle)
        self._token: _Token | None = None
        self._sf: Salesforce | None = None
        self.tokens_fetched = 0

    def close(self) -> None:
        self._http.close()

    # authentication ---------------------------------------------------------------------------

    def _fetch_token(self) -> _Token:
        url = self.settings.url
        try:
            answer = self._http.post(
                f"{url}/services/oauth2/token",
                data={
                    "grant_type": "client_credentials",
                    "client_id": self.settings.client_id,
                    "client_secret": self.settings.client_secret,
                },
            )
        except requests.exceptions.SSLError as exc:
            raise SalesforceSetupError(
                f"{URL_SETTING}={url}: its TLS certificate is not trusted ({_short(exc)})"
            ) from None
        except requests.exceptions.Timeout:
            raise SalesforceUnavailable(
                f"{URL_SETTING}={url} did not answer in time", self.backoff
            ) from None
        except requests.exceptions.RequestException as exc:
            raise SalesforceSetupError(
                f"{URL_SETTING}={url} cannot be reached ({_short(exc)})"
            ) from None
        try:
            body = answer.json()
        except ValueError:
            body = None
        if answer.status_code >= 500 and not isinstance(body, dict):
            raise SalesforceUnavailable(
                f"Salesforce at {URL_SETTING}={url} failed (HTTP {answer.status_code})",
                self.backoff,
            )
        if not isinstance(body, dict) or not ("access_token" in body or "error" in body):
            kind = (answer.headers.get("Content-Type") or "no content type").split(";")[0]
            raise SalesforceSetupError(
                f"{URL_SETTING}={url} is not a Salesforce org: POST /services/oauth2/token "
                f"answered HTTP {answer.status_code} ({kind})"
            )
        if "error" in body:
            error = str(body.get("error"))
            detail = f"{error}: {body.get('error_description') or ''}".rstrip(": ")
            if error == "invalid_client_id":
                raise SalesforceSetupError(
                    f"{ID_SETTING} is not known to the org at {URL_SETTING}={url} ({detail})"
                )
            if error == "invalid_client":
                raise SalesforceSetupError(
                    f"{SECRET_SETTING} does not match {ID_SETTING} at {URL_SETTING}={url} "
                    f"({detail})"
                )
            raise SalesforceSetupError(
                f"{ID_SETTING}/{SECRET_SETTING} were refused by {URL_SETTING}={url} ({detail}; "
                "is the client-credentials flow enabled with a run-as user?)"
            )
        identity = str(body.get("id") or "")
        user_id = identity.rsplit("/", 1)[-1] if identity else None
        self.tokens_fetched += 1
        return _Token(str(body["access_token"]), str(body.get("instance_url") or url), user_id)

    def _client(self) -> Salesforce:
        if self._sf is None or self._token is None:
            self._token = self._fetch_token()
            self._sf = Salesforce(
                instance_url=self._token.instance_url,
                session_id=self._token.access_token,
                session=self._http,
                version=API_VERSION,
            )
        return self._sf

    @property
    def integration_user_id(self) -> str | None:
        """The User the connected app runs as (from the token's identity URL)."""
        self._client()
        return self._token.user_id if self._token else None

    def connect(self) -> None:
        """Fetch a token now: a wrong setting raises :class:`SalesforceSetupError`."""
        self._token = None
        self._sf = None
        self._client()

    # one call, with renewal, retries and the daily limit ---------------------------------------

    def _call(self, what: str, action: Callable[[Salesforce], T], *, retry: bool = True) -> T:
        renewed = False
        attempt = 0
        while True:
            try:
                return action(self._client())
            except LibraryError as exc:
                code, message, fields = _error_of(exc)
                if exc.status == 401 and code == "INVALID_SESSION_ID" and not renewed:
                    renewed = True
                    self._token = None
                    self._sf = None
                    continue
                if code == "REQUEST_LIMIT_EXCEEDED":
                    raise SalesforceUnavailable(
                        f"Salesforce's daily API limit is used up ({what}): {message}",
                        self.limit_pause,
                        limit=True,
                    ) from None
                if exc.status >= 500 or exc.status == 401:
                    if retry and attempt < self.retries:
                        attempt += 1
                        self._pause(attempt)
                        continue
                    raise SalesforceUnavailable(
                        f"Salesforce failed on {what} (HTTP {exc.status} {code})".rstrip(),
                        self._delay(attempt + 1),
                    ) from None
                raise SalesforceRefused(
                    f"Salesforce refused {what}: {code} {message}".strip(), code, fields
                ) from None
            except (requests.exceptions.Timeout, requests.exceptions.ConnectionError) as exc:
                if isinstance(exc, requests.exceptions.SSLError):
                    raise SalesforceSetupError(
                        f"{URL_SETTING}={self.settings.url}: TLS failed ({_short(exc)})"
                    ) from None
                if retry and attempt < self.retries:
                    attempt += 1
                    self._pause(attempt)
                    continue
                raise SalesforceUnavailable(
                    f"Salesforce did not answer {what} ({type(exc).__name__})",
                    self._delay(attempt + 1),
                ) from None
            except SalesforceUnavailable:
                if retry and attempt < self.retries:
                    attempt += 1
                    self._pause(attempt)
                    continue
                raise

    def _delay(self, attempt: int) -> float:
        return float(self.backoff * (2 ** (attempt - 1)) * (1 + random.random() / 4))

    def _pause(self, attempt: int) -> None:
        self._sleep(self._delay(attempt))

    # reading ----------------------------------------------------------------------------------

    def _select(self) -> list[str]:
        names = list(SYSTEM_FIELDS)
        for name in self.field_map:
            if name not in names:
                names.append(name)
        return names

    def _read_query(self, cursor: ReadCursor) -> str:
        soql = f"SELECT {', '.join(self._select())} FROM Lead"
        lower = cursor.lower_bound(self.overlap)
        if lower is not None:
            soql += f" WHERE SystemModstamp >= {_soql_datetime(lower)}"
        return soql + " ORDER BY SystemModstamp, Id"

    def read_changes(self, cursor: ReadCursor | None = None) -> Iterator[ChangePage]:
        """Every Lead changed since ``cursor`` (deleted ones too, through queryAll), page by
        page in SystemModstamp order; each page comes with the cursor to store with it."""
        cursor = cursor or ReadCursor()
        headers = {"Sforce-Query-Options": f"batchSize={self.batch_size}"}
        soql = self._read_query(cursor)
        page = self._call(
            "the Lead query",
            lambda sf: sf.query(soql, include_deleted=True, headers=headers),
        )
        while True:
            changes = []
            for record in page.get("records") or []:
                change = self._change(record)
                if cursor.already_seen(change):
                    continue
                changes.append(change)
            cursor = cursor.advanced(changes, self.overlap)
            yield ChangePage(changes, cursor)
            if page.get("done", True):
                return
            next_url = str(page["nextRecordsUrl"])
            try:
                page = self._call(
                    "the next page of Leads",
                    lambda sf, url=next_url: sf.query_more(  # type: ignore[misc]
                        url, identifier_is_url=True, headers=headers
                    ),
                )
            except SalesforceRefused as exc:
                if exc.code != "INVALID_QUERY_LOCATOR":
                    raise
                # The server-side cursor is gone (it lives 15 minutes): ask again from here.
                soql = self._read_query(cursor)
                page = self._call(
                    "the Lead query",
                    lambda sf, q=soql: sf.query(  # type: ignore[misc]
                        q, include_deleted=True, headers=headers
                    ),
                )

    def _change(self, record: Mapping[str, Any]) -> LeadChange:
        values = {k: v for k, v in record.items() if k != "attributes"}
        owner = values.get("OwnerId")
        owner = str(owner) if owner else None
        converted_date = values.get("ConvertedDate")
        modified_by = values.get("LastModifiedById")
        integration = self._token.user_id if self._token else None
        return LeadChange(
            id=str(values["Id"]),
            modstamp=_parse_datetime(str(values["SystemModstamp"])),
            email=values.get("Email"),
            status=values.get("Status"),
            fields={lead: values.get(name) for name, lead in self.field_map.items()},
            values=values,
            owner_user_id=owner if owner and not owner.startswith(QUEUE_PREFIX) else None,
            owner_queue_id=owner if owner and owner.startswith(QUEUE_PREFIX) else None,
            converted=bool(values.get("IsConverted")),
            converted_opportunity_id=values.get("ConvertedOpportunityId"),
            converted_date=date.fromisoformat(converted_date) if converted_date else None,
            deleted=bool(values.get("IsDeleted")),
            merged_into=values.get("MasterRecordId"),
            modified_by_id=modified_by,
            by_integration_user=modified_by is not None and modified_by == integration,
        )

    def deleted_between(self, start: datetime, end: datetime) -> list[DeletedLead]:
        """Leads deleted between ``start`` and ``end`` (getDeleted; the last 15 days only)."""
        answer = self._call(
            "getDeleted of Lead", lambda sf: _sobject(sf, "Lead").deleted(start, end)
        )
        return [
            DeletedLead(str(row["id"]), _parse_datetime(str(row["deletedDate"])))
            for row in answer.get("deletedRecords") or []
        ]

    def users(self) -> list[SalesforceUser]:
        answer = self._call(
            "the User query",
            lambda sf: sf.query_all("SELECT Id, Email, Name, IsActive FROM User"),
        )
        return [
            SalesforceUser(str(r["Id"]), r.get("Email"), r.get("Name"), bool(r.get("IsActive")))
            for r in answer["records"]
        ]

    def api_usage(self) -> ApiUsage:
        """The daily API allowance, from ``/limits``."""
        answer = self._call("limits", lambda sf: sf.limits())
        daily = answer.get("DailyApiRequests") or {}
        return ApiUsage(int(daily.get("Max", 0)), int(daily.get("Remaining", 0)))

    def last_known_usage(self) -> ApiUsage | None:
        """The allowance as of the last answer (its Sforce-Limit-Info header): costs no call."""
        if self._sf is None:
            return None
        usage = self._sf.api_usage.get("api-usage")
        if usage is None:
            return None
        used, total = int(getattr(usage, "used", 0)), int(getattr(usage, "total", 0))
        return ApiUsage(total, max(total - used, 0))

    # writing ----------------------------------------------------------------------------------

    def update_lead(self, lead_id: str, values: Mapping[str, Any]) -> WriteResult:
        """Write Lead fields (a stage's mapped fields, OwnerId). PATCH is idempotent, so a
        retry after a timeout is safe."""
        try:
            self._call(
                f"the update of Lead {lead_id}",
                lambda sf: _sobject(sf, "Lead").update(lead_id, dict(values)),
            )
        except SalesforceUnavailable as exc:
            return WriteResult("retry", exc.line, lead_id, exc.retry_after)
        except SalesforceRefused as exc:
            if exc.code == "CANNOT_UPDATE_CONVERTED_LEAD":
                return WriteResult("converted", exc.line, lead_id)
            return WriteResult("refused", exc.line, lead_id)
        return WriteResult("done", "", lead_id)

    def set_owner(self, lead_id: str, user_id: str) -> WriteResult:
        return self.update_lead(lead_id, {"OwnerId": user_id})

    @staticmethod
    def task_subject(subject: str, key: str) -> str:
        """The Task's Subject: the text, then leadbot's own id for the write (looked up before
        a create, so a retry after a timeout finds the first one)."""
        marker = f" [leadbot {key}]"
        room = TASK_SUBJECT_LENGTH - len(marker)
        text = subject if len(subject) <= room else subject[: room - 1] + "…"
        return text + marker

    def find_task(self, lead_id: str, key: str, subject: str) -> str | None:
        full = self.task_subject(subject, key)
        answer = self._call(
            "the Task lookup",
            lambda sf: sf.query(
                f"SELECT Id FROM Task WHERE WhoId = {_soql_string(lead_id)} "
                f"AND Subject = {_soql_string(full)} LIMIT 1"
            ),
        )
        records = answer.get("records") or []
        return str(records[0]["Id"]) if records else None

    def log_task(
        self,
        lead_id: str,
        *,
        key: str,
        subject: str,
        description: str,
        when: date | None = None,
    ) -> WriteResult:
        """A completed Task on the Lead (WhoId), created once for ``key`` however often this is
        called: an existing Task with the key is looked up before every create."""
        attempt = 0
        while True:
            try:
                found = self.find_task(lead_id, key, subject)
                if found is not None:
                    return WriteResult("done", "already logged", found)
                body = {
                    "WhoId": lead_id,
                    "Subject": self.task_subject(subject, key),
                    "Description": description,
                    "Status": "Completed",
                    "Priority": "Normal",
                    "ActivityDate": (when or datetime.now(UTC).date()).isoformat(),
                }
                created = self._call(
                    f"the Task on Lead {lead_id}",
                    lambda sf, body=body: _sobject(sf, "Task").create(body),  # type: ignore[misc]
                    retry=False,
                )
                return WriteResult("done", "", str(created.get("id")))
            except SalesforceUnavailable as exc:
                if exc.limit or attempt >= self.retries:
                    return WriteResult("retry", exc.line, None, exc.retry_after)
                attempt += 1
                self._pause(attempt)
            except SalesforceRefused as exc:
                if exc.code == "CANNOT_UPDATE_CONVERTED_LEAD":
                    return WriteResult("converted", exc.line, lead_id)
                return WriteResult("refused", exc.line, None)

    # check ------------------------------------------------------------------------------------

    def check(
        self,
        *,
        stages: Mapping[str, Mapping[str, Any]] | None = None,
        mql_when: Mapping[str, Sequence[Any]] | None = None,
        rep_emails: Mapping[str, str] | None = None,
        owners: Mapping[str, str] | None = None,
    ) -> list[str]:
        """Ask Salesforce whether the settings and the mapping hold: one line per problem."""
        try:
            self.connect()
            describe = self._call("describe of Lead", lambda sf: _sobject(sf, "Lead").describe())
        except SalesforceError as exc:
            return [exc.line]
        fields = {str(f["name"]): f for f in describe.get("fields") or []}
        problems: list[str] = []
        for name in self.field_map:
            if name not in fields:
                problems.append(f"[crm.salesforce.fields] {name}: Lead has no such field")
        for stage, values in (stages or {}).items():
            for name, value in values.items():
                problems += _field_problems(
                    f"[crm.salesforce.stages] {stage}", fields, name, [value], write=True
                )
        for name, allowed in (mql_when or {}).items():
            problems += _field_problems(
                "[crm.salesforce] mql_when", fields, name, list(allowed), write=False
            )
        if rep_emails or owners:
            if "OwnerId" in fields and not fields["OwnerId"].get("updateable"):
                problems.append("Lead OwnerId is not updateable by the connected app's user")
            try:
                people = self.users()
            except SalesforceError as exc:
                return [*problems, exc.line]
            problems += _owner_problems(people, rep_emails or {}, owners or {})
        return problems


def _field_problems(
    where: str, fields: Mapping[str, Any], name: str, values: list[Any], *, write: bool
) -> list[str]:
    described = fields.get(name)
    if described is None:
        return [f"{where}: Lead has no field {name}"]
    problems = []
    if write and not described.get("updateable"):
        problems.append(f"{where}: Lead field {name} is not updateable by the connected app's user")
    if described.get("type") in ("picklist", "multipicklist"):
        options = {str(v.get("value")): bool(v.get("active")) for v in described["picklistValues"]}
        for value in values:
            if str(value) not in options:
                problems.append(f"{where}: {name} has no picklist value {value!r}")
            elif not options[str(value)]:
                problems.append(f"{where}: {name} picklist value {value!r} is inactive")
    return problems


def _owner_problems(
    people: Sequence[SalesforceUser], rep_emails: Mapping[str, str], owners: Mapping[str, str]
) -> list[str]:
    by_id = {u.id: u for u in people}
    by_email: dict[str, list[SalesforceUser]] = {}
    for person in people:
        if person.email:
            by_email.setdefault(person.email.casefold(), []).append(person)
    problems = []
    for slack_id, user_id in owners.items():
        user: SalesforceUser | None = by_id.get(user_id)
        if user is None:
            user = next((u for u in people if u.id[:15] == user_id[:15]), None)
        if user is None:
            problems.append(f"[crm.owners] {slack_id} = {user_id!r}: no such Salesforce User")
        elif not user.active:
            problems.append(f"[crm.owners] {slack_id} = {user_id!r}: that User is inactive")
    for slack_id, email in rep_emails.items():
        if slack_id in owners:
            continue
        candidates = by_email.get(email.casefold(), [])
        active = [u for u in candidates if u.active]
        if not candidates:
            problems.append(
                f"rep {slack_id} ({email}) matches no Salesforce User by e-mail; "
                f'set [crm.owners] {slack_id} = "005..."'
            )
        elif not active:
            problems.append(
                f"rep {slack_id} ({email}) matches only an inactive Salesforce User "
                f"({candidates[0].id})"
            )
    return problems


def match_owner(
    people: Sequence[SalesforceUser], email: str | None, override: str | None = None
) -> str | None:
    """The User id a rep's writes use: the override, else the active User with the e-mail."""
    if override:
        return override
    if not email:
        return None
    for user in people:
        if user.active and user.email and user.email.casefold() == email.casefold():
            return user.id
    return None


def _short(exc: BaseException) -> str:
    text = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
    return text if len(text) <= 160 else text[:157] + "..."
