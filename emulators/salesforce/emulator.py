"""``SalesforceEmulator``: a Salesforce org and its REST API over HTTPS on a loopback port.

The server's certificate comes from a certificate authority made for the emulator (``trustme``);
clients trust it through the CA bundle file at ``emulator.ca_bundle`` (``REQUESTS_CA_BUNDLE``
or a requests session's ``verify``)::

    with SalesforceEmulator() as sf:
        lead = sf.add_lead(LastName="Lovelace", Company="Acme", Email="ada@acme.example")
        session = requests.Session(); session.verify = sf.ca_bundle
        session.post(sf.url + "/services/oauth2/token", data={...})

The rest of this class is the test API: seed Leads, Users and Queues, change records "as a
person", convert and delete Leads, read Tasks back, expire sessions, plan faults.
"""

from __future__ import annotations

import contextlib
import copy
import shutil
import ssl
import tempfile
import threading
from datetime import datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, Self

import trustme

from emulators.salesforce.org import CallRecord, Fault, FieldDef, Org
from emulators.salesforce.rest import RestApi

DEFAULT_CLIENT_ID = "3MVG9sandbox.leadbot.client"
DEFAULT_CLIENT_SECRET = "sandbox-client-secret"


class _TLSServer(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, address: tuple[str, int], api: RestApi, context: ssl.SSLContext) -> None:
        super().__init__(address, _Handler)
        self.api = api
        self.context = context
        self.stopping = threading.Event()

    def finish_request(self, request: Any, client_address: Any) -> None:
        """The TLS handshake happens here, in the connection's own thread."""
        request.settimeout(60)
        try:
            tls = self.context.wrap_socket(request, server_side=True)
        except (ssl.SSLError, OSError):
            return
        try:
            super().finish_request(tls, client_address)
        finally:
            with contextlib.suppress(OSError):
                tls.close()


class _Handler(BaseHTTPRequestHandler):
    server: _TLSServer
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: Any) -> None:
        """Quiet: the org records every call."""

    def do_GET(self) -> None:
        self._dispatch()

    def do_POST(self) -> None:
        self._dispatch()

    def do_PATCH(self) -> None:
        self._dispatch()

    def do_DELETE(self) -> None:
        self._dispatch()

    def _dispatch(self) -> None:
        path, _, query = self.path.partition("?")
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        headers = {k.lower(): v for k, v in self.headers.items()}
        response = self.server.api.handle(self.command, path, query, headers, body)
        if response.hang_seconds is not None:
            self.server.stopping.wait(response.hang_seconds)
            self.close_connection = True
            return
        raw = response.raw()
        self.send_response(response.status)
        if raw:
            self.send_header("Content-Type", response.content_type)
        self.send_header("Content-Length", str(len(raw)))
        for name, value in response.headers.items():
            self.send_header(name, value)
        self.end_headers()
        if raw:
            self.wfile.write(raw)


class SalesforceEmulator:
    def __init__(
        self,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        client_id: str = DEFAULT_CLIENT_ID,
        client_secret: str = DEFAULT_CLIENT_SECRET,
        api_max: int = 100_000,
        batch_size: int = 2000,
        clock: Any = None,
    ) -> None:
        if host not in ("127.0.0.1", "localhost"):
            raise ValueError("the emulator listens on loopback only")
        self.host = host
        self.port = port
        extra = {"clock": clock} if clock is not None else {}
        self.org = Org(
            client_id=client_id,
            client_secret=client_secret,
            api_max=api_max,
            batch_size=batch_size,
            **extra,
        )
        self.api = RestApi(self.org)
        self._ca = trustme.CA()
        self._dir: Path | None = None
        self._server: _TLSServer | None = None
        self._thread: threading.Thread | None = None

    # lifecycle -------------------------------------------------------------------------------

    def start(self) -> Self:
        if self._server is not None:
            return self
        self._dir = Path(tempfile.mkdtemp(prefix="salesforce-emulator-"))
        self._ca.cert_pem.write_to_path(str(self._dir / "ca.pem"))
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        self._ca.issue_cert("127.0.0.1", "localhost").configure_cert(context)
        server = _TLSServer((self.host, self.port), self.api, context)
        self.port = server.server_address[1]
        self.api.base_url = self.url
        self._server = server
        self._thread = threading.Thread(
            target=server.serve_forever,
            kwargs={"poll_interval": 0.05},
            name="salesforce-emulator",
            daemon=True,
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        server, self._server = self._server, None
        if server is None:
            return
        server.stopping.set()
        server.shutdown()
        server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=2)
        if self._dir is not None:
            shutil.rmtree(self._dir, ignore_errors=True)
            self._dir = None

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def url(self) -> str:
        """The org's My Domain URL (``https://127.0.0.1:PORT``)."""
        return f"https://{self.host}:{self.port}"

    @property
    def ca_bundle(self) -> str:
        """A PEM file with the certificate authority that signed the server's certificate."""
        if self._dir is None:
            raise RuntimeError("start the emulator first")
        return str(self._dir / "ca.pem")

    @property
    def client_id(self) -> str:
        return self.org.client_id

    @property
    def client_secret(self) -> str:
        return self.org.client_secret

    # people and queues ---------------------------------------------------------------------

    def add_user(self, email: str, name: str = "", *, active: bool = True) -> str:
        return self.org.add_user(email, name or email.split("@")[0], active=active)

    def add_queue(self, name: str) -> str:
        return self.org.add_queue(name)

    def set_user_active(self, user_id: str, active: bool) -> None:
        with self.org.lock:
            self.org.records["User"][user_id]["IsActive"] = active

    @property
    def integration_user_id(self) -> str:
        """The User the connected app runs as: the modifier of every API write."""
        return self.org.integration_user_id

    @property
    def admin_user_id(self) -> str:
        return self.org.admin_user_id

    # leads --------------------------------------------------------------------------------------

    def add_lead(self, *, at: datetime | None = None, by: str | None = None, **fields: Any) -> str:
        """A new Lead (created by a person unless ``by`` says who), modified at ``at``."""
        fields.setdefault("LastName", "Lead")
        fields.setdefault("Company", "Company")
        fields.setdefault("Status", "Open - Not Contacted")
        record = self.org.insert("Lead", fields, by=by, stamp=_second(at))
        return str(record["Id"])

    def add_leads(
        self,
        count: int,
        *,
        start: datetime,
        spread: timedelta = timedelta(minutes=1),
        email_domain: str = "example.com",
        **fields: Any,
    ) -> list[str]:
        """``count`` Leads whose SystemModstamps fall evenly within ``spread`` from ``start``
        (whole seconds, so many share a stamp, as in a bulk update)."""
        ids = []
        step = spread / max(count, 1)
        with self.org.lock:
            for index in range(count):
                values = {
                    "FirstName": "Lead",
                    "LastName": f"Number {index}",
                    "Company": f"Company {index % 97}",
                    "Email": f"lead{index}@{email_domain}",
                    **fields,
                }
                ids.append(self.add_lead(at=start + step * index, **values))
        return ids

    def change_lead(
        self,
        lead_id: str,
        *,
        by: str | None = None,
        at: datetime | None = None,
        **fields: Any,
    ) -> None:
        """Change a Lead as a person in Salesforce would (``by`` a User, default the admin);
        ``at`` backdates the SystemModstamp, as a transaction that commits late does."""
        with self.org.lock:
            record = self.org.records["Lead"][lead_id]
            unknown = set(fields) - set(self.org.schema["Lead"])
            if unknown:
                raise KeyError(f"Lead has no field {sorted(unknown)}")
            record.update(fields)
            self.org._derive("Lead", record)
            self.org.touch(record, by or self.org.admin_user_id, _second(at))

    def convert_lead(
        self, lead_id: str, *, opportunity: bool = True, at: datetime | None = None
    ) -> str | None:
        """Convert a Lead (as a person): an Account, a Contact and, unless ``opportunity`` is
        False, an Opportunity. Returns the Opportunity's id."""
        with self.org.lock:
            record = self.org.records["Lead"][lead_id]
            stamp = _second(at) or self.org.now()
            account = self.org.insert("Account", {"Name": record.get("Company")})
            contact = self.org.insert("Contact", {"Name": record.get("Name")})
            opportunity_id = None
            if opportunity:
                opp = self.org.insert(
                    "Opportunity",
                    {
                        "Name": f"{record.get('Company')}-",
                        "StageName": "Prospecting",
                        "AccountId": account["Id"],
                    },
                )
                opportunity_id = str(opp["Id"])
            record.update(
                IsConverted=True,
                ConvertedDate=stamp.date(),
                ConvertedAccountId=account["Id"],
                ConvertedContactId=contact["Id"],
                ConvertedOpportunityId=opportunity_id,
                Status="Closed - Converted",
            )
            self.org.touch(record, self.org.admin_user_id, stamp)
            return opportunity_id

    def delete_lead(
        self, lead_id: str, *, merged_into: str | None = None, at: datetime | None = None
    ) -> None:
        """Delete a Lead (to the recycle bin); ``merged_into`` makes it the loser of a merge."""
        with self.org.lock:
            record = self.org.records["Lead"][lead_id]
            stamp = _second(at) or self.org.now()
            record["IsDeleted"] = True
            record["MasterRecordId"] = merged_into
            self.org.touch(record, self.org.admin_user_id, stamp)
            self.org.deleted_at[lead_id] = stamp

    def lead(self, lead_id: str) -> dict[str, Any]:
        with self.org.lock:
            return copy.deepcopy(self.org.records["Lead"][lead_id])

    def leads(self) -> list[dict[str, Any]]:
        with self.org.lock:
            return [copy.deepcopy(r) for r in self.org.records["Lead"].values()]

    def tasks(self, who_id: str | None = None) -> list[dict[str, Any]]:
        with self.org.lock:
            return [
                copy.deepcopy(r)
                for r in self.org.records["Task"].values()
                if who_id is None or r.get("WhoId") == who_id
            ]

    # schema -------------------------------------------------------------------------------------

    def add_field(
        self, sobject: str, name: str, type: str = "string", *, updateable: bool = True
    ) -> None:
        with self.org.lock:
            self.org.schema[sobject][name] = FieldDef(
                name, type, name, updateable=updateable, createable=updateable, custom=True
            )
            for record in self.org.records[sobject].values():
                record.setdefault(name, None)

    def set_picklist_value(self, sobject: str, field: str, value: str, *, active: bool) -> None:
        """Add a picklist value or (de)activate one."""
        with self.org.lock:
            definition = self.org.schema[sobject][field]
            values = [(v, a) for v, a in definition.picklist if v != value]
            definition.picklist = [*values, (value, active)]

    # sessions, limits, faults ------------------------------------------------------------------

    def forget_query_locators(self) -> None:
        """Drop every server-side query cursor (Salesforce keeps one 15 minutes): the next
        nextRecordsUrl gets INVALID_QUERY_LOCATOR."""
        with self.org.lock:
            self.org.locators.clear()

    def expire_sessions(self) -> None:
        """End every access token: the next call with one gets INVALID_SESSION_ID."""
        self.org.expire_sessions()

    def set_api_limit(self, maximum: int, remaining: int | None = None) -> None:
        with self.org.lock:
            self.org.api_max = maximum
            self.org.api_used = maximum - (maximum if remaining is None else remaining)

    @property
    def api_used(self) -> int:
        return self.org.api_used

    def fail(
        self,
        route: str,
        *,
        times: int = 1,
        status: int = 503,
        performed: bool = False,
        hang: bool = False,
        hold_seconds: float = 5.0,
        expire_session: bool = False,
    ) -> None:
        """Plan ``times`` failures of ``route`` (token, limits, query, query_more, describe,
        deleted, get, update, create, delete, or ``*`` for any)."""
        fault = Fault(
            status=status,
            performed=performed,
            hang=hang,
            hold_seconds=hold_seconds,
            expire_session=expire_session,
        )
        self.org.add_fault(route, fault, times)

    def calls(self, route: str | None = None) -> list[CallRecord]:
        with self.org.lock:
            return [c for c in self.org.calls if route is None or c.route == route]


def _second(value: datetime | None) -> datetime | None:
    return value.replace(microsecond=0) if value is not None else None
