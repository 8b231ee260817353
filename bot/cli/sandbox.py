"""``leadbot sandbox``: the whole bot against a local Slack workspace emulator, with a web page.

``start_sandbox()`` starts the emulator (seeded from the workspace config), the bot (Bolt,
intake API, outbox worker) served by uvicorn, and the page on the emulator's HTTP server; it
returns a :class:`Sandbox` with the URLs, a fresh intake API key and ``stop()``. Everything the
page does goes through the real HTTP path: its action endpoints use :class:`SlackDriver` to send
signed requests to the bot's ``/slack/events``.
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import socket
import threading
from collections.abc import Mapping
from dataclasses import dataclass, field
from importlib.resources import files
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs

import httpx
from sqlalchemy import func, select

from bot.cli import preflight
from bot.cli.common import packaged_config, port_number
from bot.http.server import SlackSide, build_slack, build_webhooks, create_app
from bot.runtime import Runtime
from bot.workers.scheduler import build_scheduler
from core.config import ConfigError, Settings, WorkspaceConfig, load_config
from core.db import Database
from core.migrate import upgrade
from core.models import ApiKey, Lead
from core.refusals import LeadbotError
from core.services import apikeys
from emulators.slack.driver import SlackDriver
from emulators.slack.emulator import SlackEmulator
from emulators.slack.favicon import favicon_ico
from emulators.slack.render import (
    Names,
    mrkdwn_html,
    render_blocks,
    render_conversation,
    render_view,
)
from emulators.slack.seed import seed_from_config
from emulators.slack.serving import ThreadedServer

DEFAULT_DATABASE_URL = "sqlite:///leadbot-sandbox.db"
DEFAULT_PORT = 3000
KEY_NAME = "sandbox"
COMMAND = "/lead"


class SandboxError(LeadbotError):
    """The sandbox cannot start; the message says why in one line."""


# --- where things come from ------------------------------------------------------------------


def config_path(environ: Mapping[str, str], cwd: Path) -> Path:
    """``$LEADBOT_CONFIG``, else ``leadbot.toml`` in ``cwd``, else the packaged example."""
    if environ.get("LEADBOT_CONFIG"):
        return Path(environ["LEADBOT_CONFIG"])
    local = cwd / "leadbot.toml"
    return local if local.is_file() else packaged_config()


def database_url(environ: Mapping[str, str]) -> str:
    return environ.get("LEADBOT_DATABASE_URL") or DEFAULT_DATABASE_URL


def _port_free(host: str, port: int) -> bool:
    with socket.socket() as sock:
        # As servers bind: a port left in TIME_WAIT by the last run is free, a listener is not.
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError:
            return False
    return True


#: The sample leads, in turn: (first name, last name, title, company, e-mail domain). Each is
#: someone else, so a second alert is never mistaken for the first.
SAMPLE_PEOPLE = (
    ("Ada", "Lovelace", "VP Engineering", "Acme", "acme.de"),
    ("Grace", "Hopper", "VP Operations", "Globex", "globex.de"),
    ("Katherine", "Johnson", "VP Research", "Initech", "initech.de"),
    ("Alan", "Turing", "VP Product", "Hooli", "hooli.de"),
)


def sample_lead(n: int, config: WorkspaceConfig) -> dict[str, Any]:
    """The ``n``-th sample lead (from 0): the people in turn, numbered from the second round
    (``ada2@acme.de``). Each qualifies at once with the example config (a VP of a big company
    who asks for a demo), from a country the first team's route takes when it routes by
    country."""
    first, last, title, company, domain = SAMPLE_PEOPLE[n % len(SAMPLE_PEOPLE)]
    round_ = n // len(SAMPLE_PEOPLE)
    countries = config.teams[0].route.country if config.teams else None
    return {
        "email": f"{first.lower()}{round_ + 1 if round_ else ''}@{domain}",
        "first_name": first,
        "last_name": last,
        "title": title,
        "company": company,
        "company_size": 500,
        "country": (countries or ["DE"])[0],
        "source": "webinar",
    }


def curl_commands(api_url: str, key: str, lead: Mapping[str, Any]) -> str:
    """Two chained curls: create the lead, then send it a ``demo_request`` event."""
    event = {"email": lead["email"], "type": "demo_request"}
    auth = shlex.quote(f"Authorization: Bearer {key}")
    common = f"-H {auth} -H 'Content-Type: application/json'"
    return (
        f"curl -s -X POST {api_url}/leads {common} \\\n"
        f"     -d {shlex.quote(json.dumps(dict(lead)))} && echo && \\\n"
        f"curl -s -X POST {api_url}/events {common} \\\n"
        f"     -d {shlex.quote(json.dumps(event))} && echo"
    )


# --- the running sandbox ---------------------------------------------------------------------


@dataclass
class Sandbox:
    emulator: SlackEmulator
    runtime: Runtime
    slack_side: SlackSide
    server: ThreadedServer
    driver: SlackDriver
    page: SandboxPage
    api_key: str
    key_name: str
    config_path: Path
    _stopped: bool = field(default=False, repr=False)

    @property
    def page_url(self) -> str:
        return self.emulator.url

    @property
    def bot_url(self) -> str:
        return self.server.url

    @property
    def api_url(self) -> str:
        return f"{self.server.url}/api/v1"

    @property
    def database_url(self) -> str:
        return self.runtime.db.url

    def fresh_sample(self) -> dict[str, Any]:
        """The first sample lead not in the database yet (a restart on the same database
        goes on where the last run stopped), so the printed curl always makes a new alert."""
        config = self.runtime.config
        with self.runtime.db.transaction() as session:
            n = int(session.scalar(select(func.count()).select_from(Lead)) or 0)
            samples = [sample_lead(k, config) for k in range(n + 1)]  # n leads fill n at most
            taken = set(
                session.scalars(
                    select(Lead.email).where(Lead.email.in_(s["email"] for s in samples))
                )
            )
        return next(s for s in samples if s["email"] not in taken)

    def curl(self) -> str:
        return curl_commands(self.api_url, self.api_key, self.fresh_sample())

    def banner(self) -> str:
        return "\n".join(
            [
                "leadbot sandbox is running (Ctrl-C stops it)",
                f"  Slack workspace (web page): {self.page_url}",
                f"  bot: {self.bot_url}/slack/events, intake API: {self.api_url}",
                f"  workspace config: {self.config_path}",
                f"  database: {_safe_url(self.database_url)}",
                "",
                "Make an alert appear in the team channel:",
                "",
                self.curl(),
                "",
                f"API key ({self.key_name}), shown only this once:",
                self.api_key,
            ]
        )

    def stop(self) -> None:
        if self._stopped:
            return
        self._stopped = True
        self.server.stop()
        self.page.close()
        self.driver.close()
        self.emulator.stop()
        self.runtime.db.dispose()


def _safe_url(url: str) -> str:
    from sqlalchemy.engine import make_url

    return make_url(url).render_as_string(hide_password=True)


def _new_key(db: Database, now: Any) -> tuple[str, str]:
    """A fresh key named ``sandbox`` (or ``sandbox-N`` on later starts: keys are stored hashed,
    so an old one cannot be shown again); older sandbox keys are revoked."""
    with db.transaction() as session:
        rows = session.scalars(select(ApiKey).where(ApiKey.name.like(f"{KEY_NAME}%"))).all()
        names = {row.name for row in rows}
        for row in rows:
            if row.revoked_at is None and (
                row.name == KEY_NAME or row.name.removeprefix(f"{KEY_NAME}-").isdigit()
            ):
                row.revoked_at = now
        name, n = KEY_NAME, 2
        while name in names:
            name, n = f"{KEY_NAME}-{n}", n + 1
        return name, apikeys.create_key(session, name, now=now)


def start_sandbox(
    *,
    port: int = DEFAULT_PORT,
    page_port: int | None = None,
    host: str = "127.0.0.1",
    database: str | None = None,
    config: str | Path | None = None,
    environ: Mapping[str, str] | None = None,
    cwd: Path | None = None,
) -> Sandbox:
    """Start everything and return the handles. ``page_port`` defaults to ``port + 1`` (any
    free port when that one is taken); ``database`` and ``config`` default as the command does."""
    environ = os.environ if environ is None else environ
    path = Path(config) if config else config_path(environ, cwd or Path.cwd())
    try:
        workspace = load_config(path)
    except ConfigError as exc:
        raise SandboxError(f"workspace config {exc.path}: {'; '.join(exc.errors)}") from exc
    url = database or database_url(environ)
    if not _port_free(host, port):
        raise SandboxError(f"port {port} is in use; choose another with --port")
    preflight.database(url)  # one line naming LEADBOT_DATABASE_URL, not a traceback
    upgrade(url)

    next_port = port + 1 if 0 < port < 65535 else 0
    emulator = _start_emulator(host, next_port if page_port is None else page_port, page_port)
    started: list[Any] = [emulator]
    try:
        seed_from_config(emulator, workspace)
        settings = Settings(
            LEADBOT_DATABASE_URL=url,
            LEADBOT_CONFIG=str(path),
            LEADBOT_HOST=host,
            LEADBOT_PORT=port,
            SLACK_BOT_TOKEN=emulator.bot_token,
            SLACK_SIGNING_SECRET=emulator.signing_secret,
            LEADBOT_SLACK_API_URL=emulator.api_url,
        )
        runtime = Runtime(settings=settings, config=workspace, db=Database(url))
        started.append(runtime.db)
        side = build_slack(runtime)
        # Reminders and digest too, and webhooks to whatever `leadbot webhook add` registered.
        app = create_app(runtime, side, build_scheduler(runtime), build_webhooks(runtime))
        server = ThreadedServer(app, host=host, port=port).start()
        started.append(server)
        driver = SlackDriver(
            emulator, f"{server.url}/slack/events", emulator.signing_secret, timeout=10
        )
        started.append(driver)
        key_name, key = _new_key(runtime.db, runtime.now())
        page = SandboxPage(emulator, driver, workspace, api_url=f"{server.url}/api/v1", key=key)
        emulator.serve_pages(page)
    except BaseException:
        for thing in reversed(started):
            _shut(thing)
        raise
    sandbox = Sandbox(
        emulator=emulator,
        runtime=runtime,
        slack_side=side,
        server=server,
        driver=driver,
        page=page,
        api_key=key,
        key_name=key_name,
        config_path=path,
    )
    page.sandbox = sandbox
    return sandbox


def _shut(thing: Any) -> None:
    if isinstance(thing, Database):
        thing.dispose()
    elif isinstance(thing, SlackDriver):
        thing.close()
    else:
        thing.stop()


def _start_emulator(host: str, port: int, requested: int | None) -> SlackEmulator:
    try:
        return SlackEmulator(host=host, port=port).start()
    except OSError as exc:
        if requested is not None:
            raise SandboxError(f"port {port} is in use for the web page") from exc
        return SlackEmulator(host=host, port=0).start()


# --- the web page and its JSON endpoints -----------------------------------------------------


INITIAL_STATE = "/*INITIAL_STATE*/null"


def page_html(initial: Any = None) -> bytes:
    """The page, with ``initial`` (the state it shows first) inlined as JSON."""
    page = files("emulators.slack").joinpath("page.html").read_text(encoding="utf-8")
    inline = json.dumps(initial).replace("<", "\\u003c")  # ASCII only, and no "</script>"
    return page.replace(INITIAL_STATE, inline, 1).encode()


class SandboxPage:
    """The emulator's extra routes: ``GET /`` (the page), ``GET /favicon.ico``,
    ``GET /sandbox/state``, and POSTs to
    ``/sandbox/{click,submit,close,command,home,sample}`` that act as the chosen user."""

    def __init__(
        self,
        emulator: SlackEmulator,
        driver: SlackDriver,
        config: WorkspaceConfig,
        *,
        api_url: str,
        key: str,
    ) -> None:
        self.emulator = emulator
        self.driver = driver
        self.config = config
        self.api_url = api_url
        self.sandbox: Sandbox | None = None
        self._api = httpx.Client(
            base_url=api_url, headers={"Authorization": f"Bearer {key}"}, timeout=10
        )
        self._acting = threading.Lock()
        #: inline errors of the last submission, by view id: (view hash, {block_id: error})
        self._errors: dict[str, tuple[str, dict[str, str]]] = {}

    def close(self) -> None:
        self._api.close()

    def __call__(
        self, method: str, path: str, query: str, body: bytes
    ) -> tuple[int, str, bytes] | None:
        if method == "GET" and path in ("/", "/sandbox", "/sandbox/"):
            return 200, "text/html; charset=utf-8", page_html(self.state(None, None))
        if method == "GET" and path == "/favicon.ico":
            return 200, "image/x-icon", favicon_ico()
        if method == "GET" and path == "/sandbox/state":
            params = {k: v[-1] for k, v in parse_qs(query).items()}
            return self._json(200, self.state(params.get("user"), params.get("channel")))
        actions = {
            "/sandbox/click": self.click,
            "/sandbox/submit": self.submit,
            "/sandbox/close": self.close_modal,
            "/sandbox/command": self.command,
            "/sandbox/home": self.open_home,
            "/sandbox/sample": self.sample,
        }
        if method == "POST" and path in actions:
            try:
                data = json.loads(body or b"{}")
                if not isinstance(data, dict):
                    raise ValueError("expected a JSON object")
                with self._acting:
                    answer = actions[path](data)
            except (LookupError, ValueError, TypeError) as exc:
                return self._json(400, {"ok": False, "error": str(exc).strip("'\"")})
            return self._json(200, answer)
        return None

    @staticmethod
    def _json(status: int, data: Any) -> tuple[int, str, bytes]:
        return status, "application/json; charset=utf-8", json.dumps(data).encode()

    # reading ---------------------------------------------------------------------------------

    def names(self) -> Names:
        ws = self.emulator.workspace
        with ws.lock:
            users = {u.id: u.name for u in ws.users.values()}
            channels = {c.id: c.name for c in ws.channels.values() if not c.is_im}
        return Names(users=users, channels=channels)

    def people(self) -> list[dict[str, str]]:
        """The seeded people, team by team (reps, then managers), then marketing."""
        order: list[str] = []
        for team in self.config.teams:
            order += [*team.reps, *team.managers]
        order += list(self.config.marketing.members)
        ws = self.emulator.workspace
        with ws.lock:
            others = [u.id for u in ws.users.values() if not u.is_bot]
            seen: set[str] = set()
            people = []
            for user_id in [*order, *others]:
                user = ws.users.get(user_id)
                if user is None or user_id in seen:
                    continue
                seen.add(user_id)
                people.append({"id": user.id, "name": user.name, "real_name": user.real_name})
        return people

    def channels(self, user: str | None) -> list[dict[str, Any]]:
        ids = [team.channel for team in self.config.teams] + [self.config.marketing.channel]
        teams = {team.channel for team in self.config.teams}
        if user:
            ids.append(self.emulator.dm_channel(user))
        ws = self.emulator.workspace
        out = []
        with ws.lock:
            for channel_id in dict.fromkeys(ids):
                channel = ws.channels.get(channel_id)
                if channel is None:
                    continue
                # what the channel is for, so an empty one can say what will come
                role = "dm" if channel.is_im else "team" if channel.id in teams else "marketing"
                out.append(
                    {
                        "id": channel.id,
                        "name": "leadbot (DM)" if channel.is_im else f"#{channel.name}",
                        "kind": "dm" if channel.is_im else "channel",
                        "role": role,
                        "count": sum(1 for m in channel.messages if not ws.is_reply(m)),
                    }
                )
        return out

    def state(self, user: str | None, channel: str | None) -> dict[str, Any]:
        names = self.names()
        people = self.people()
        if user not in {p["id"] for p in people}:
            user = people[0]["id"] if people else None
        channels = self.channels(user)
        if channel not in {c["id"] for c in channels}:
            channel = channels[0]["id"] if channels else None
        messages = self.emulator.messages(channel, include_replies=True) if channel else []
        ephemerals = []
        if user:
            for e in self.emulator.ephemerals(user=user)[-20:]:
                ephemerals.append(
                    {
                        "id": e.id,
                        "channel": e.channel,
                        "channel_name": (
                            f"#{names.channels[e.channel]}"
                            if e.channel in names.channels
                            else "leadbot (DM)"
                        ),
                        "blocks": render_blocks(e.blocks, names) if e.blocks else [],
                        "html": "" if e.blocks else mrkdwn_html(e.text or "", names),
                    }
                )
        modals = self.emulator.views(user) if user else []
        modal = None
        if modals:
            top = modals[-1]
            view_hash, errors = self._errors.get(top["id"], ("", {}))
            modal = render_view(top, names, errors if view_hash == top["hash"] else {})
            assert modal is not None
            modal["depth"] = len(modals)
        return {
            "team": self.emulator.workspace.team_name,
            "user": user,
            "channel": channel,
            "users": people,
            "channels": channels,
            "messages": render_conversation(messages, names),
            "ephemerals": ephemerals,
            "modal": modal,
            "home": render_view(self.emulator.home_view(user), names) if user else None,
            "api_url": self.api_url,
        }

    # acting ----------------------------------------------------------------------------------

    @staticmethod
    def _user(data: Mapping[str, Any]) -> str:
        user = data.get("user")
        if not isinstance(user, str) or not user:
            raise ValueError("user is required")
        return user

    def click(self, data: Mapping[str, Any]) -> dict[str, Any]:
        """``{user, action_id, block_id, and one of ts, ephemeral, view}``."""
        user = self._user(data)
        action_id = str(data.get("action_id") or "")
        block_id = data.get("block_id") or None
        target: Any
        if data.get("view"):
            target = self.emulator.view(str(data["view"]))
        elif data.get("ephemeral"):
            found = [e for e in self.emulator.ephemerals(user=user) if e.id == data["ephemeral"]]
            if not found:
                raise LookupError(f"no ephemeral message {data['ephemeral']}")
            target = found[0]
        elif data.get("ts"):
            target = self.emulator.message(str(data["ts"]))
        else:
            raise ValueError("say what was clicked: ts, ephemeral or view")
        reply = self.driver.click(target, action_id, user=user, block_id=block_id)
        return {"ok": reply.ok, "status": reply.status, "error": reply.error}

    def submit(self, data: Mapping[str, Any]) -> dict[str, Any]:
        """``{user, view, values: {block_id: value}}``; empty values count as not given."""
        user = self._user(data)
        view = self.emulator.view(str(data.get("view") or ""))
        raw = data.get("values") or {}
        if not isinstance(raw, dict):
            raise ValueError("values must be an object")
        values = {k: (None if v in ("", []) else v) for k, v in raw.items()}
        reply = self.driver.submit(view, values, user=user)
        current = self.emulator.view(view["id"]) if not reply.closed else view
        if reply.errors:
            self._errors[view["id"]] = (current["hash"], dict(reply.errors))
        else:
            self._errors.pop(view["id"], None)
        return {
            "ok": reply.ok if reply.sent else False,
            "sent": reply.sent,
            "status": reply.status,
            "error": reply.error,
            "errors": reply.errors,
            "closed": reply.closed,
        }

    def close_modal(self, data: Mapping[str, Any]) -> dict[str, Any]:
        """Cancel: the user's top modal closes, as Slack's client does."""
        user = self._user(data)
        with self.emulator.api.changed:
            stack = self.emulator.workspace.modal_stacks.get(user, [])
            if stack and (not data.get("view") or stack[-1] == data["view"]):
                self.emulator.workspace.close_top_modal(user)
            self.emulator.api.changed.notify_all()
        return {"ok": True}

    def command(self, data: Mapping[str, Any]) -> dict[str, Any]:
        """``{user, channel, text}``; text may start with ``/lead``."""
        user = self._user(data)
        channel = str(data.get("channel") or "")
        text = str(data.get("text") or "").strip()
        if text.startswith("/"):
            name, _, text = text.partition(" ")
            if name != COMMAND:
                raise ValueError(f"{name} is not a command here; try {COMMAND} help")
        reply = self.driver.command(COMMAND, text.strip(), user=user, channel=channel)
        return {"ok": reply.ok, "status": reply.status, "error": reply.error}

    def open_home(self, data: Mapping[str, Any]) -> dict[str, Any]:
        reply = self.driver.event("app_home_opened", user=self._user(data))
        return {"ok": reply.ok, "status": reply.status, "error": reply.error}

    def sample(self, data: Mapping[str, Any]) -> dict[str, Any]:
        """Through the intake API: a sample lead and its demo request (an alert follows)."""
        lead_in = self.sandbox.fresh_sample() if self.sandbox else sample_lead(0, self.config)
        email = lead_in["email"]
        lead = self._api.post("/leads", json=lead_in)
        event = self._api.post("/events", json={"email": email, "type": "demo_request"})
        ok = lead.status_code in (200, 201) and event.status_code == 200
        return {"ok": ok, "status": event.status_code, "email": email, "error": None}


# --- the command -----------------------------------------------------------------------------


def run_sandbox(*, port: int = DEFAULT_PORT) -> int:
    """``leadbot sandbox``: start, print where everything is, run until Ctrl-C (or SIGTERM)."""
    import signal
    import sys

    def interrupt(signum: int, frame: object) -> None:
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGTERM, interrupt)
    sandbox = start_sandbox(port=port)
    try:
        print(sandbox.banner(), flush=True)
        stop = threading.Event()
        while not stop.wait(3600):
            pass
    except KeyboardInterrupt:
        print("\nstopping the sandbox…", file=sys.stderr, flush=True)
    finally:
        sandbox.stop()
        signal.signal(signal.SIGTERM, previous)
    return 0


def cmd_sandbox(args: argparse.Namespace) -> int:
    return run_sandbox(port=args.port)


def add_parser(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    sandbox = commands.add_parser(
        "sandbox", help="the whole bot against a local Slack emulator with a web page, on SQLite"
    )
    sandbox.add_argument(
        "--port", type=port_number(0), default=3000, help="the bot's port (default 3000)"
    )
    sandbox.set_defaults(func=cmd_sandbox)
