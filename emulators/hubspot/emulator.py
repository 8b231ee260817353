"""``HubSpotEmulator``: a HubSpot account and its CRM API on a loopback port.

Point a client at ``emulator.url`` with ``emulator.token``; seed owners and contacts; change
contacts "by a person" as a user of HubSpot's own UI would; inject faults; read back what the
client did (``calls``, ``contact``, ``notes_of``).
"""

from __future__ import annotations

import json
import threading
import time
from collections import deque
from collections.abc import Iterable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Self

from emulators.hubspot.api import (
    ALL_SCOPES,
    CallRecord,
    Clock,
    Fault,
    HubSpotApi,
    RateLimits,
)
from emulators.hubspot.model import CrmObject, Owner, iso
from emulators.hubspot.search import RESULT_CAP

DEFAULT_TOKEN = "pat-na1-00000000-0000-0000-0000-emulator0000"


class ManualClock:
    """A clock that moves only when told to (``advance``) or when a client sleeps on it: give
    its ``sleep`` to the client under test and its ``now`` to the emulator, and back-off waits
    cost no real time while rate limits and search lag still see them pass."""

    def __init__(self, start: float = 1_700_000_000.0) -> None:
        self._now = start
        self._lock = threading.Lock()
        self.slept: list[float] = []

    def now(self) -> float:
        with self._lock:
            return self._now

    def advance(self, seconds: float) -> None:
        with self._lock:
            self._now += seconds

    def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.advance(max(0.0, seconds))


class HubSpotEmulator:
    def __init__(
        self,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        token: str = DEFAULT_TOKEN,
        scopes: tuple[str, ...] = ALL_SCOPES,
        portal_id: int = 4_000_001,
        search_lag: float = 0.0,
        search_jitter: float = 0.0,
        result_cap: int = RESULT_CAP,
        rate_limits: RateLimits | None = None,
        clock: Clock = time.time,
        seed: int = 0,
    ) -> None:
        if host not in ("127.0.0.1", "localhost"):
            raise ValueError("the emulator listens on loopback only")
        self.host = host
        self.port = port
        self.token = token
        self.api = HubSpotApi(
            tokens={token},
            scopes=scopes,
            clock=clock,
            portal_id=portal_id,
            search_lag=search_lag,
            search_jitter=search_jitter,
            result_cap=result_cap,
            rate_limits=rate_limits,
            seed=seed,
        )
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None

    # lifecycle -------------------------------------------------------------------------------

    def start(self) -> Self:
        if self._server is not None:
            return self
        server = _Server((self.host, self.port), self.api)
        self.port = server.server_address[1]
        self._server = server
        self._thread = threading.Thread(
            target=server.serve_forever,
            kwargs={"poll_interval": 0.05},
            daemon=True,
            name="hubspot-emulator",
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

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    @property
    def portal_id(self) -> int:
        return self.api.portal_id

    def now(self) -> float:
        return self.api.clock()

    # settings ---------------------------------------------------------------------------------

    def set_search_lag(self, seconds: float, jitter: float = 0.0) -> None:
        with self.api.lock:
            self.api.search_lag = seconds
            self.api.search_jitter = jitter

    def set_scopes(self, scopes: Iterable[str]) -> None:
        with self.api.lock:
            self.api.scopes = set(scopes)

    def remove_option(self, prop: str, option: str) -> None:
        """Take an enumeration option away (as an admin editing the property would)."""
        with self.api.lock:
            current = self.api.properties[prop]
            self.api.properties[prop] = type(current)(
                **{**current.__dict__, "options": tuple(o for o in current.options if o != option)}
            )

    # seeding ----------------------------------------------------------------------------------

    def add_owner(
        self, email: str, first_name: str = "", last_name: str = "", *, owner_id: str | None = None
    ) -> str:
        with self.api.lock:
            owner_id = owner_id or str(500_000 + len(self.api.owners) + 1)
            self.api.owners[owner_id] = Owner(
                owner_id, email, first_name, last_name, user_id=9_000 + len(self.api.owners)
            )
            return owner_id

    def add_contact(
        self, properties: dict[str, Any] | None = None, *, at: float | None = None
    ) -> str:
        return self.add_contacts([properties or {}], start=at, spread_seconds=0.0)[0]

    def add_contacts(
        self,
        rows: Iterable[dict[str, Any]] | int,
        *,
        start: float | None = None,
        spread_seconds: float = 60.0,
    ) -> list[str]:
        """Create contacts (a count gives ``contactN@example.com``), their modification times
        spread evenly over ``spread_seconds`` from ``start`` (default: so that the last is now).
        Each becomes
        visible to search its lag after its modification time."""
        if isinstance(rows, int):
            rows = [
                {"email": f"contact{i}@example.com", "firstname": "Contact", "lastname": str(i)}
                for i in range(rows)
            ]
        rows = list(rows)
        api = self.api
        with api.lock:
            begin = api.clock() - spread_seconds if start is None else start
            step = spread_seconds / len(rows) if rows else 0.0
            ids = []
            for i, row in enumerate(rows):
                at = round(begin + i * step, 3)
                contact_id = api.new_id()
                props = {k: ("" if v is None else str(v)) for k, v in row.items()}
                props = {k: v for k, v in props.items() if v != ""}
                props.update(hs_object_id=contact_id, createdate=iso(at))
                contact = CrmObject(contact_id, props, created=at, modified=at)
                api.touch(contact, at)
                api.contacts[contact_id] = contact
                ids.append(contact_id)
            return ids

    # changes made "by a person" in HubSpot ----------------------------------------------------

    def set_by_person(self, contact_id: str, **properties: Any) -> None:
        """A user edits the contact in HubSpot: any value, backwards stages included."""
        api = self.api
        with api.lock:
            contact = self._contact(contact_id)
            api.write(
                contact,
                {k: "" if v is None else str(v) for k, v in properties.items()},
                api.clock(),
            )

    def set_owner(self, contact_id: str, owner_id: str) -> None:
        self.set_by_person(contact_id, hubspot_owner_id=owner_id)

    def set_lifecycle_stage(self, contact_id: str, stage: str) -> None:
        self.set_by_person(contact_id, lifecyclestage=stage)

    def archive_contact(self, contact_id: str) -> None:
        api = self.api
        with api.lock:
            contact = self._contact(contact_id)
            now = api.clock()
            contact.archived = True
            contact.archived_at = now
            api.touch(contact, now)

    def merge_contacts(self, primary_id: str, merged_id: str) -> None:
        """HubSpot's merge: the merged-away id answers with the primary from now on, which
        lists it in ``hs_merged_object_ids`` and is modified by the merge."""
        api = self.api
        with api.lock:
            primary, merged = self._contact(primary_id), self._contact(merged_id)
            now = api.clock()
            merged.merged_into = primary.id
            merged.archived = True
            merged.archived_at = now
            api.touch(merged, now)
            ids = [
                i for i in (primary.properties.get("hs_merged_object_ids") or "").split(";") if i
            ]
            ids.append(merged.id)
            primary.properties["hs_merged_object_ids"] = ";".join(ids)
            for key, value in merged.properties.items():
                primary.properties.setdefault(key, value)
            for note_id in merged.associations.get("notes", []):
                primary.associations.setdefault("notes", []).append(note_id)
            api.touch(primary, now)

    # reading back -----------------------------------------------------------------------------

    def _contact(self, contact_id: str) -> CrmObject:
        contact = self.api.contacts.get(contact_id)
        if contact is None:
            raise KeyError(f"no contact {contact_id}")
        return contact

    def contact(self, contact_id: str) -> dict[str, str]:
        with self.api.lock:
            return dict(self._contact(contact_id).properties)

    def contact_ids(self) -> list[str]:
        with self.api.lock:
            return [c.id for c in self.api.contacts.values() if not c.archived]

    def notes_of(self, contact_id: str) -> list[dict[str, str]]:
        with self.api.lock:
            ids = self._contact(contact_id).associations.get("notes", [])
            return [dict(self.api.notes[i].properties) for i in ids]

    @property
    def calls(self) -> list[CallRecord]:
        with self.api.lock:
            return list(self.api.calls)

    def count(self, route: str | None = None, *, status: int | None = None) -> int:
        return sum(
            1
            for c in self.calls
            if (route is None or c.route == route) and (status is None or c.status == status)
        )

    # faults -----------------------------------------------------------------------------------

    def fail_next(self, route: str = "*", fault: Fault | None = None, *, times: int = 1) -> None:
        """The next ``times`` calls of ``route`` (a name from ``api.ROUTES``, or "*" for any)
        answer with ``fault`` (default: a plain 500)."""
        with self.api.lock:
            self.api.faults.setdefault(route, deque()).extend([fault or Fault()] * times)

    def clear_faults(self) -> None:
        with self.api.lock:
            self.api.faults.clear()


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, address: tuple[str, int], api: HubSpotApi) -> None:
        super().__init__(address, _Handler)
        self.api = api
        self.stopping = threading.Event()


class _Handler(BaseHTTPRequestHandler):
    server: _Server
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: Any) -> None:
        """Quiet: every call is recorded by the emulator instead."""

    def do_GET(self) -> None:
        self._dispatch()

    def do_POST(self) -> None:
        self._dispatch()

    def do_PATCH(self) -> None:
        self._dispatch()

    def _dispatch(self) -> None:
        path, _, query = self.path.partition("?")
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        headers = {k.lower(): v for k, v in self.headers.items()}
        answer = self.server.api.handle(self.command, path, query, headers, body)
        if answer.hold_seconds is not None:
            self.server.stopping.wait(answer.hold_seconds)
            self.close_connection = True
            return
        raw = b"" if answer.body is None else json.dumps(answer.body).encode()
        self.send_response(answer.status)
        self.send_header("Content-Type", "application/json;charset=utf-8")
        self.send_header("Content-Length", str(len(raw)))
        for name, value in answer.headers.items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(raw)
