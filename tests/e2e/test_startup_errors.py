"""An operator's mistake at start-up is one line on stderr naming the setting to check, and a
non-zero exit: never a traceback. Each command runs as a real subprocess."""

from __future__ import annotations

import os
import socket
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from emulators.slack import SlackEmulator
from tests import commands
from tests.commands import EXAMPLE_CONFIG
from tests.e2e.conftest import free_port


def leadbot(*args: str, **env: str) -> subprocess.CompletedProcess[str]:
    environ = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("LEADBOT_", "SLACK_")) or key == "LEADBOT_TEST_DATABASE_URL"
    }
    environ["LEADBOT_CONFIG"] = str(EXAMPLE_CONFIG)
    return commands.leadbot(*args, env={**environ, **env}, timeout=120)


def one_line(result: subprocess.CompletedProcess[str], *names: str) -> str:
    """The single stderr line of a failed command, after checking it names each of ``names``."""
    assert result.returncode != 0, result.stdout
    assert "Traceback" not in result.stderr, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    for name in names:
        assert name in lines[0], lines[0]
    assert "leadbot listening" not in result.stdout
    return lines[0]


@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'leadbot.db'}"


@pytest.fixture
def closed_port() -> int:
    return free_port()  # nothing listens there


@pytest.fixture
def listening() -> Iterator[int]:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        yield int(sock.getsockname()[1])


def serve_env(url: str, emulator: SlackEmulator | None, **env: str) -> dict[str, str]:
    return {
        "LEADBOT_DATABASE_URL": url,
        "SLACK_SIGNING_SECRET": "secret",
        "SLACK_BOT_TOKEN": emulator.bot_token if emulator else "xoxb-1",
        "LEADBOT_SLACK_API_URL": emulator.api_url if emulator else "http://127.0.0.1:9/api/",
        "LEADBOT_PORT": str(free_port()),
        **env,
    }


def test_serve_with_slack_unreachable(sqlite_url, closed_port):
    result = leadbot(
        "serve",
        **serve_env(sqlite_url, None, LEADBOT_SLACK_API_URL=f"http://127.0.0.1:{closed_port}/api/"),
    )
    line = one_line(result, "LEADBOT_SLACK_API_URL", f"127.0.0.1:{closed_port}")
    assert "cannot reach Slack" in line


def test_serve_with_a_url_that_is_not_slack(sqlite_url, slack_emulator):
    result = leadbot(
        "serve",
        **serve_env(sqlite_url, slack_emulator, LEADBOT_SLACK_API_URL=slack_emulator.url + "/x/"),
    )
    one_line(result, "LEADBOT_SLACK_API_URL")


def test_serve_with_a_wrong_token(sqlite_url, slack_emulator):
    env = serve_env(sqlite_url, slack_emulator, SLACK_BOT_TOKEN="xoxb-not-this-workspace")
    line = one_line(leadbot("serve", **env), "SLACK_BOT_TOKEN", "invalid_auth")
    assert "xoxb-not-this-workspace" not in line  # a token is never printed


def test_serve_with_a_revoked_token(sqlite_url, slack_emulator):
    slack_emulator.fail_next("auth.test", status=200, error="token_revoked")
    line = one_line(leadbot("serve", **serve_env(sqlite_url, slack_emulator)), "SLACK_BOT_TOKEN")
    assert "revoked" in line


def test_serve_on_a_busy_port(sqlite_url, slack_emulator, listening):
    env = serve_env(sqlite_url, slack_emulator, LEADBOT_PORT=str(listening))
    one_line(leadbot("serve", **env), str(listening), "--port")


BAD_URLS = [
    ("garbage", "is not a database URL"),
    ("nonsense://x", "cannot use"),
    ("postgresql+asyncpg://u:p@127.0.0.1/db", "cannot use"),
    ("sqlite:////no/such/directory/leadbot.db", "cannot open the database"),
]


@pytest.mark.parametrize(("url", "expected"), BAD_URLS)
def test_serve_with_a_database_url_that_cannot_work(url, expected):
    assert expected in one_line(leadbot("serve", **serve_env(url, None)), "LEADBOT_DATABASE_URL")


COMMANDS = [
    ("db", "upgrade"),
    ("api-key", "list"),
    ("jobs", "run", "outbox"),
    ("import", "README.md"),
    ("webhook", "list"),
    ("scoring", "models"),
]


@pytest.mark.parametrize("command", COMMANDS)
def test_every_command_names_a_bad_database_url(command):
    for url, expected in BAD_URLS[::3]:
        assert expected in one_line(leadbot(*command, **serve_env(url, None)), "DATABASE_URL")


def test_a_database_server_that_does_not_answer(closed_port):
    url = f"postgresql+psycopg://leadbot:s3cret@127.0.0.1:{closed_port}/leadbot"
    for command in (("serve",), ("db", "upgrade"), ("api-key", "create", "x")):
        line = one_line(leadbot(*command, **serve_env(url, None)), "LEADBOT_DATABASE_URL")
        assert "s3cret" not in line and "***" in line


def test_the_sandbox_with_a_bad_database_url_or_a_busy_port(listening):
    one_line(leadbot("sandbox", "--port", str(free_port()), LEADBOT_DATABASE_URL="garbage"),
             "LEADBOT_DATABASE_URL")  # fmt: skip
    one_line(leadbot("sandbox", "--port", str(listening)), "--port")


def test_an_api_key_name_that_is_not_text(sqlite_url):
    result = leadbot("api-key", "create", os.fsdecode(b"\xffkey"), LEADBOT_DATABASE_URL=sqlite_url)
    one_line(result, "key name")


def test_jobs_run_on_a_fresh_database_creates_the_schema(sqlite_url, slack_emulator):
    result = leadbot("jobs", "run", "reminders", **serve_env(sqlite_url, slack_emulator))
    assert result.returncode == 0, result.stderr
    assert "Traceback" not in result.stderr
    assert "reminders:" in result.stdout


@pytest.mark.parametrize("command", [("serve", "--port", "70000"), ("sandbox", "--port", "-1")])
def test_a_port_out_of_range_is_a_usage_error(command):
    result = leadbot(*command)
    assert result.returncode == 2 and "Traceback" not in result.stderr, result.stderr
    assert f"argument --port: '{command[-1]}' is not a port from" in result.stderr


@pytest.fixture
def foreign_revision(sqlite_url: str) -> str:
    """A database a newer release has migrated: its schema is at a revision unknown here."""
    from sqlalchemy import create_engine, text

    from core.migrate import upgrade

    upgrade(sqlite_url)
    engine = create_engine(sqlite_url)
    with engine.begin() as connection:
        connection.execute(text("UPDATE alembic_version SET version_num = '0042_from_the_future'"))
    engine.dispose()
    return sqlite_url


def revision_of(url: str) -> str:
    from sqlalchemy import create_engine, text

    engine = create_engine(url)
    try:
        with engine.connect() as connection:
            return str(connection.execute(text("SELECT version_num FROM alembic_version")).scalar())
    finally:
        engine.dispose()


@pytest.mark.parametrize(
    "command", [("serve",), ("db", "upgrade"), ("api-key", "list"), ("webhook", "list")]
)
def test_a_schema_revision_this_release_does_not_know_is_left_alone(foreign_revision, command):
    from core.migrate import expected_heads

    env = serve_env(foreign_revision, None)
    line = one_line(leadbot(*command, **env), "0042_from_the_future", *expected_heads())
    assert "does not know" in line and "nothing was changed" in line
    assert revision_of(foreign_revision) == "0042_from_the_future"


def test_a_slack_url_that_answers_a_web_page(sqlite_url, tmp_path):
    import http.server
    import threading

    class Page(http.server.BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = b"<!doctype html><html><body>Welcome to nginx!</body></html>"
            self.send_response(200)
            self.send_header("Content-Type", "text/html")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: object) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Page)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        url = f"http://127.0.0.1:{server.server_address[1]}/api/"
        result = leadbot("serve", **serve_env(sqlite_url, None, LEADBOT_SLACK_API_URL=url))
    finally:
        server.shutdown()
        server.server_close()
    line = one_line(result, "LEADBOT_SLACK_API_URL", "a web page")
    assert "SLACK_BOT_TOKEN" not in line
