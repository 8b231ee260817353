"""The `leadbot` command as a user runs it: a real subprocess."""

import os
import subprocess
import sys
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def leadbot(*args, env=None, cwd=None):
    return subprocess.run(
        [sys.executable, "-m", "bot", *args],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=cwd or ROOT,
        env={**os.environ, **(env or {})},
    )


def test_help_lists_the_commands():
    result = leadbot("--help")
    assert result.returncode == 0
    assert "db" in result.stdout and "config" in result.stdout


def test_db_upgrade_creates_the_schema(tmp_path):
    url = f"sqlite:///{tmp_path / 'fresh.db'}"
    result = leadbot("db", "upgrade", env={"LEADBOT_DATABASE_URL": url})
    assert result.returncode == 0, result.stderr
    assert "database at head" in result.stdout
    import sqlite3

    with sqlite3.connect(tmp_path / "fresh.db") as connection:
        names = {
            row[0]
            for row in connection.execute("SELECT name FROM sqlite_master WHERE type='table'")
        }
    assert {"leads", "events", "stage_transitions", "outbox", "alembic_version"} <= names


def test_config_check_example_passes():
    result = leadbot("config", "check", "leadbot.example.toml")
    assert result.returncode == 0, result.stderr
    assert "team emea" in result.stdout and "team na" in result.stdout


def test_config_check_names_every_bad_key(tmp_path):
    text = (ROOT / "leadbot.example.toml").read_text()
    text = text.replace('mql_accept = "4h"', 'mql_accept = "4 hours"')
    text = text.replace('min_grade = "C"', 'min_grade = "E"')
    text = text.replace('timezone = "Europe/Berlin"', 'timezone = "Europe/Atlantis"')
    text = text.replace("mql_threshold = 50", "mql_treshold = 50")
    tomllib.loads(text)  # still valid TOML: only the values are wrong
    bad = tmp_path / "bad.toml"
    bad.write_text(text)
    result = leadbot("config", "check", str(bad))
    assert result.returncode == 1
    for path in (
        "sla.mql_accept",
        "scoring.min_grade",
        "teams[0].timezone",
        "scoring.mql_treshold",
    ):
        assert f"  {path}: " in result.stderr, result.stderr
    assert "4 errors" in result.stderr


def test_config_check_uses_leadbot_config(tmp_path):
    result = leadbot("config", "check", env={"LEADBOT_CONFIG": str(tmp_path / "nope.toml")})
    assert result.returncode == 1 and "file not found" in result.stderr
