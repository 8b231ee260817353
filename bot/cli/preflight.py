"""Start-up checks for the ``leadbot`` command: the database URL, the database itself, and
Slack's answer to the bot token. Each failure is one line naming what is wrong and which setting
to check, so an operator never has to read a traceback to find a typo in the environment."""

from __future__ import annotations

import socket
from typing import TYPE_CHECKING

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError, SlackClientError
from sqlalchemy import text
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import ArgumentError, DBAPIError, NoSuchModuleError, SQLAlchemyError

from core.config import Settings, WorkspaceConfig
from core.db import make_engine
from core.migrate import unknown_revision
from core.refusals import LeadbotError

if TYPE_CHECKING:
    from bot.crm.port import CrmAdapter

URL_EXAMPLES = "like sqlite:///leadbot.db or postgresql+psycopg://user:password@host:5432/leadbot"

#: Slack's answers that mean the token itself is no good (not a passing outage).
TOKEN_ERRORS = {
    "invalid_auth": "is not a valid token",
    "not_authed": "was not sent",
    "token_revoked": "has been revoked",
    "token_expired": "has expired",
    "account_inactive": "belongs to a deactivated app or workspace",
    "not_allowed_token_type": "is not a bot token (xoxb-...)",
    "invalid_token": "is not a valid token",
}


NOT_JSON = "Received a response in a non-JSON format"


class StartupError(LeadbotError):
    """A setting makes the command unable to start; the message says which."""


def safe_url(url: str) -> str:
    """``url`` with its password hidden, for messages and logs."""
    return make_url(url).render_as_string(hide_password=True)


def database_url(url: str) -> URL:
    """The parsed URL, or :class:`StartupError` when it is no URL or names an unknown driver."""
    try:
        parsed = make_url(url)
    except ArgumentError:
        # The value is not echoed: an unparsable URL may still hold a password.
        raise StartupError(
            f"LEADBOT_DATABASE_URL is not a database URL; write it {URL_EXAMPLES}"
        ) from None
    try:
        parsed.get_dialect()
    except (NoSuchModuleError, ImportError) as exc:
        raise StartupError(
            f"LEADBOT_DATABASE_URL names a database leadbot cannot use "
            f"({parsed.drivername!r}: {first_line(exc)}); write it {URL_EXAMPLES}"
        ) from None
    return parsed


def database(url: str) -> None:
    """The URL parses and the database answers ``SELECT 1`` (SQLite: the file can be opened)."""
    parsed = database_url(url)
    sqlite = parsed.get_backend_name() == "sqlite"
    try:
        # The project's engine: a SQLite file this creates is private like any other.
        engine = make_engine(url, **({} if sqlite else {"connect_args": {"connect_timeout": 10}}))
    except (SQLAlchemyError, ImportError, TypeError, ValueError) as exc:
        raise StartupError(
            f"LEADBOT_DATABASE_URL names a database leadbot cannot use ({first_line(exc)}); "
            f"write it {URL_EXAMPLES}"
        ) from None
    try:
        with engine.connect() as connection:
            connection.execute(text("SELECT 1"))
            problem = unknown_revision(connection)
    except DBAPIError as exc:
        hint = "can its directory be written?" if sqlite else "is the server running?"
        raise StartupError(
            f"cannot open the database {safe_url(url)}: {first_line(exc.orig or exc)}; "
            f"check LEADBOT_DATABASE_URL ({hint})"
        ) from None
    finally:
        engine.dispose()
    if problem:
        raise StartupError(f"{safe_url(url)}: {problem}")


def slack(token: str, api_url: str, *, timeout: int = 15) -> str:
    """Ask Slack who the token belongs to (``auth.test``); the bot's user id, or
    :class:`StartupError` saying whether the token or the URL is at fault."""
    client = WebClient(token=token, base_url=api_url, timeout=timeout)
    try:
        reply = client.auth_test()
    except SlackApiError as exc:
        error = str(exc.response.get("error") or "")
        if error.startswith(NOT_JSON):  # slack_sdk's word for a body it could not parse
            kind = "a web page" if "<" in error[len(NOT_JSON) :][:200] else "something"
            raise StartupError(
                f"{api_url} answered auth.test with {kind} (HTTP {exc.response.status_code}), "
                "not with Slack's JSON: it is not Slack's Web API; check LEADBOT_SLACK_API_URL "
                "(default https://slack.com/api/)"
            ) from None
        if error in TOKEN_ERRORS:
            raise StartupError(
                f"Slack refused the bot token: it {TOKEN_ERRORS[error]} ({error}); "
                "check SLACK_BOT_TOKEN"
            ) from None
        if exc.response.status_code != 200 or not isinstance(exc.response.data, dict):
            raise StartupError(
                f"{api_url} answered HTTP {exc.response.status_code}, not as Slack's Web API "
                "does; check LEADBOT_SLACK_API_URL"
            ) from None
        raise StartupError(
            f"Slack answered auth.test with {error[:100]!r}; check SLACK_BOT_TOKEN"
        ) from None
    except (OSError, ValueError, SlackClientError) as exc:  # URLError and timeouts are OSErrors
        reason = getattr(exc, "reason", None) or exc
        raise StartupError(
            f"cannot reach Slack at {api_url} ({first_line(reason)}); "
            "check LEADBOT_SLACK_API_URL and the network"
        ) from None
    return str(reply.get("user_id") or "")


def crm(settings: Settings, config: WorkspaceConfig) -> CrmAdapter | None:
    """With ``[crm]`` set: the adapter, once the CRM accepted the credentials; else
    :class:`StartupError` in one line naming the setting at fault."""
    if config.crm.system is None:
        return None
    from bot.crm.port import CrmSetupError, build_adapter

    try:
        adapter = build_adapter(settings, config)
        adapter.connect()
    except CrmSetupError as exc:
        raise StartupError(str(exc)) from None
    return adapter


def port(host: str, number: int) -> None:
    """Nothing listens on ``host:number`` yet (else uvicorn would fail after start-up)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET  # as uvicorn tells them apart
    with socket.socket(family) as sock:
        # As servers bind: a port left in TIME_WAIT by the last run is free, a listener is not.
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, number))
        except OSError as exc:
            raise StartupError(
                f"cannot listen on {host}:{number} ({exc.strerror or exc}); "
                "choose another with --port or LEADBOT_PORT (or check LEADBOT_HOST)"
            ) from None


def first_line(exc: object) -> str:
    lines = str(exc).strip().splitlines()
    return lines[0] if lines else type(exc).__name__
