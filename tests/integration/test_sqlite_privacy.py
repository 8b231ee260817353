"""The SQLite file holds names and e-mail addresses: it and its -wal, -shm and -journal files
are created readable by their owner only, on every path that creates one."""

from __future__ import annotations

import os
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import text

from core.db import Database
from core.migrate import upgrade
from tests.commands import leadbot

ROOT = Path(__file__).resolve().parents[2]


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


@pytest.fixture(autouse=True)
def permissive_umask() -> Iterator[None]:
    """The usual 022: without leadbot's care every file would be world-readable."""
    previous = os.umask(0o022)
    yield
    os.umask(previous)


def test_a_new_database_and_its_wal_and_shm_are_private(tmp_path):
    path = tmp_path / "leads.db"
    db = Database(f"sqlite:///{path}")
    try:
        with db.engine.connect() as connection:
            connection.execute(text("CREATE TABLE t (email TEXT)"))
            connection.execute(text("INSERT INTO t VALUES ('ada@acme.de')"))
            connection.commit()
            wal, shm = Path(f"{path}-wal"), Path(f"{path}-shm")
            assert wal.exists() and shm.exists()  # open connection: WAL files are there
            assert (mode(path), mode(wal), mode(shm)) == (0o600, 0o600, 0o600)
    finally:
        db.dispose()


def test_a_rollback_journal_is_private(tmp_path):
    path = tmp_path / "journal.db"
    db = Database(f"sqlite:///{path}")
    try:
        raw = db.engine.raw_connection()
        cursor = raw.cursor()
        cursor.execute("PRAGMA journal_mode=DELETE")
        cursor.execute("CREATE TABLE t (x)")
        cursor.execute("BEGIN")
        cursor.execute("INSERT INTO t VALUES (1)")
        journal = Path(f"{path}-journal")
        assert journal.exists() and mode(journal) == 0o600
        cursor.execute("ROLLBACK")
        raw.close()
    finally:
        db.dispose()


def test_migrating_a_new_database_creates_it_private(tmp_path):
    path = tmp_path / "migrated.db"
    upgrade(f"sqlite:///{path}")
    assert mode(path) == 0o600


def test_an_existing_file_keeps_the_permissions_its_owner_chose(tmp_path):
    path = tmp_path / "shared.db"
    upgrade(f"sqlite:///{path}")
    path.chmod(0o640)
    Database(f"sqlite:///{path}").ping()
    assert mode(path) == 0o640


@pytest.mark.parametrize("command", [("db", "upgrade"), ("api-key", "create", "x"),
                                     ("import", "leads.csv"), ("jobs", "run", "reminders"),
                                     ("webhook", "list"), ("scoring", "models")])  # fmt: skip
def test_every_command_creates_a_private_database(tmp_path, command):
    (tmp_path / "leads.csv").write_text("email\nada@acme.de\n")
    path = tmp_path / "cli.db"
    env = {
        **os.environ,
        "LEADBOT_DATABASE_URL": f"sqlite:///{path}",
        "LEADBOT_CONFIG": str(ROOT / "leadbot.example.toml"),
        "SLACK_BOT_TOKEN": "xoxb-unused",
        "LEADBOT_SLACK_API_URL": "http://127.0.0.1:9/api/",
    }
    result = leadbot(*command, env=env, cwd=tmp_path, timeout=120)
    assert result.returncode == 0, result.stderr
    assert mode(path) == 0o600
    assert not [
        p.name for p in tmp_path.iterdir() if p.name.startswith("cli.db") and mode(p) != 0o600
    ]


def test_the_sandbox_creates_a_private_database(tmp_path):
    from bot.cli.sandbox import start_sandbox
    from emulators.slack.serving import free_port

    path = tmp_path / "sandbox.db"
    sandbox = start_sandbox(port=free_port(), page_port=0, database=f"sqlite:///{path}", environ={})
    try:
        files = [p for p in tmp_path.iterdir() if p.name.startswith("sandbox.db")]
        assert len(files) >= 2 and all(mode(p) == 0o600 for p in files)
    finally:
        sandbox.stop()
