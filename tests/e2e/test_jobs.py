"""`leadbot jobs run outbox` delivers what is queued, once, as a cron job would."""

import os
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy import func, select

from core.config import load_config
from core.db import Database
from core.migrate import upgrade
from core.models import Outbox
from core.schemas import EventIn, LeadIn
from core.services.intake import record_events, upsert_lead
from emulators.slack.seed import seed_from_config

ROOT = Path(__file__).resolve().parents[2]


def test_jobs_run_outbox(tmp_path, slack_emulator):
    config = load_config(ROOT / "leadbot.example.toml")
    seed_from_config(slack_emulator, config)
    url = f"sqlite:///{tmp_path / 'jobs.db'}"
    upgrade(url)
    db = Database(url)
    with db.transaction() as session:
        upsert_lead(
            session,
            LeadIn(email="cto@acme.de", title="Chief Technology Officer"),
            config=config,
            now=datetime(2026, 11, 23, 9, 0, tzinfo=UTC),
        )
        record_events(
            session,
            [EventIn(email="cto@acme.de", type="demo_request")],
            config=config,
            now=datetime(2026, 11, 23, 9, 0, tzinfo=UTC),
        )
    db.dispose()
    env = {
        **os.environ,
        "LEADBOT_DATABASE_URL": url,
        "LEADBOT_CONFIG": str(ROOT / "leadbot.example.toml"),
        "SLACK_BOT_TOKEN": slack_emulator.bot_token,
        "LEADBOT_SLACK_API_URL": slack_emulator.api_url,
    }

    def run(*args):
        return subprocess.run(
            [sys.executable, "-m", "bot", "jobs", "run", *args],
            capture_output=True,
            text=True,
            env=env,
            timeout=60,
        )

    first = run("outbox", "--at", "2026-11-23T09:00:05+00:00")
    assert first.returncode == 0, first.stderr
    assert first.stdout.strip() == "outbox: sent 1, failed 0"
    assert len(slack_emulator.messages("C0NA")) == 1  # no country: the default team
    again = run("outbox")
    assert again.stdout.strip() == "outbox: sent 0, failed 0"
    assert len(slack_emulator.messages("C0NA")) == 1
    revived = run("outbox", "--retry-given-up")
    assert revived.stdout.splitlines() == [
        "outbox: 0 given-up notification(s) queued again",
        "outbox: sent 0, failed 0",
    ]
    bad = run("outbox", "--at", "tomorrow")
    assert bad.returncode == 2 and "--at 'tomorrow' is not an ISO-8601 time" in bad.stderr


def test_jobs_run_at_a_time_out_of_range_is_one_line_and_stores_nothing(tmp_path, slack_emulator):
    """Year 9999 (or year 1) once overflowed inside the job, after the digest was queued."""
    seed_from_config(slack_emulator, load_config(ROOT / "leadbot.example.toml"))
    url = f"sqlite:///{tmp_path / 'jobs.db'}"
    upgrade(url)
    env = {
        **os.environ,
        "LEADBOT_DATABASE_URL": url,
        "LEADBOT_CONFIG": str(ROOT / "leadbot.example.toml"),
        "SLACK_BOT_TOKEN": slack_emulator.bot_token,
        "LEADBOT_SLACK_API_URL": slack_emulator.api_url,
    }
    for job, at in [
        ("digest", "9999-12-31T23:59:59+00:00"),
        ("outbox", "9999-12-31T23:59:59+00:00"),
        ("reminders", "0001-01-01T00:00:00-05:00"),
    ]:
        result = subprocess.run(
            [sys.executable, "-m", "bot", "jobs", "run", job, "--at", at],
            capture_output=True,
            text=True,
            env=env,
            timeout=60,
        )
        assert result.returncode == 2, (job, result.stderr)
        assert result.stderr.strip().splitlines() == [
            f"leadbot: --at {at!r} is out of range (years 1970 to 9000)"
        ]
    db = Database(url)
    with db.transaction() as session:
        assert session.scalar(select(func.count()).select_from(Outbox)) == 0
    db.dispose()
