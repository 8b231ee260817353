"""`leadbot jobs run reminders|digest --at ...` as cron or an operator would run them, on both
engines; two processes at once post each reminder once."""

from __future__ import annotations

import os
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

import pytest

from core.config import load_config
from core.db import Database
from core.schemas import EventIn, LeadIn
from core.services.intake import record_events, upsert_lead
from emulators.slack.seed import seed_from_config

ROOT = Path(__file__).resolve().parents[2]
CONFIG = ROOT / "leadbot.example.toml"


@pytest.fixture
def leadbot(db_url, slack_emulator):
    seed_from_config(slack_emulator, load_config(CONFIG))
    env = {
        **os.environ,
        "LEADBOT_DATABASE_URL": db_url,
        "LEADBOT_CONFIG": str(CONFIG),
        "SLACK_BOT_TOKEN": slack_emulator.bot_token,
        "LEADBOT_SLACK_API_URL": slack_emulator.api_url,
    }

    def start(*args):
        return subprocess.Popen(
            [sys.executable, "-m", "bot", "jobs", "run", *args],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=env,
            cwd=ROOT,
        )

    def run(*args):
        out, err = start(*args).communicate(timeout=120)
        return out, err

    run.start = start
    return run


def replies(emulator, alert):
    return [m for m in emulator.replies("C0EMEA", alert["ts"]) if m["ts"] != alert["ts"]]


def qualify(db_url, emails, when, country="DE"):
    """Leads that become MQLs at ``when`` (a VP's demo request)."""
    config = load_config(CONFIG)
    db = Database(db_url)
    try:
        with db.transaction() as session:
            for email in emails:
                upsert_lead(
                    session,
                    LeadIn(email=email, title="VP Sales", company_size=500, country=country),
                    config=config,
                    now=when,
                )
            record_events(
                session,
                [EventIn(email=email, type="demo_request") for email in emails],
                config=config,
                now=when,
            )
    finally:
        db.dispose()


def test_friday_5pm_berlin_is_reminded_monday_noon(leadbot, db_url, slack_emulator):
    qualify(db_url, ["fri@acme.de"], datetime(2026, 11, 20, 16, 0, tzinfo=UTC))  # 17:00 Berlin
    out, err = leadbot("outbox", "--at", "2026-11-20T17:00:05+01:00")
    assert out.strip() == "outbox: sent 1, failed 0", err
    [alert] = slack_emulator.messages("C0EMEA")

    for moment in ("2026-11-20T21:00:00+01:00", "2026-11-23T11:59:00+01:00"):
        out, err = leadbot("reminders", "--at", moment)
        assert out.splitlines() == ["reminders: queued 0", "outbox: sent 0, failed 0"], err
    assert replies(slack_emulator, alert) == []

    out, err = leadbot("reminders", "--at", "2026-11-23T12:00:00+01:00")
    assert out.splitlines() == ["reminders: queued 1", "outbox: sent 1, failed 0"], err
    [reply] = replies(slack_emulator, alert)
    assert "<@U0REP1> <@U0REP2>" in str(reply["blocks"])
    out, _ = leadbot("reminders", "--at", "2026-11-23T12:00:00+01:00")
    assert out.splitlines()[0] == "reminders: queued 0"
    assert len(replies(slack_emulator, alert)) == 1


def test_two_processes_at_once_post_each_reminder_once(leadbot, db_url, slack_emulator):
    emails = [f"lead{n}@acme.de" for n in range(8)]
    qualify(db_url, emails, datetime(2026, 11, 23, 8, 0, tzinfo=UTC))  # Mon 09:00 Berlin
    out, err = leadbot("outbox", "--at", "2026-11-23T09:00:05+01:00")
    assert out.strip() == "outbox: sent 8, failed 0", err
    alerts = slack_emulator.messages("C0EMEA")
    assert len(alerts) == 8

    moment = "2026-11-23T17:00:00+01:00"  # both levels of every lead are due
    processes = [leadbot.start("reminders", "--at", moment) for _ in range(2)]
    outputs = [p.communicate(timeout=120) for p in processes]
    assert all(p.returncode == 0 for p in processes), outputs
    # On PostgreSQL the second may find the job taken for this period and leave it (joblock).
    first_lines = [out.splitlines()[0] for out, _ in outputs]
    queued = [
        0
        if line == "reminders: another process is running it"
        else int(line.removeprefix("reminders: queued "))
        for line in first_lines
    ]
    assert sum(queued) == 16, first_lines
    for alert in alerts:
        assert len(replies(slack_emulator, alert)) == 1
    manager_dm = slack_emulator.messages(slack_emulator.dm_channel("U0MGR1"))
    assert len(manager_dm) == 8
    assert len(slack_emulator.calls("chat.postMessage")) == 8 + 8 + 8


def test_jobs_run_digest_once_per_day(leadbot, db_url, slack_emulator):
    qualify(db_url, ["digest@acme.de"], datetime(2026, 11, 22, 10, 0, tzinfo=UTC))
    leadbot("outbox", "--at", "2026-11-22T10:00:05+00:00")
    before = len(slack_emulator.messages("C0MKTG"))
    out, err = leadbot("digest", "--at", "2026-11-23T08:00:00+00:00")
    assert out.splitlines() == ["digest: queued for 2026-11-22", "outbox: sent 1, failed 0"], err
    out, _ = leadbot("digest", "--at", "2026-11-23T15:00:00+00:00")
    assert out.splitlines()[0] == "digest: already queued for 2026-11-22"
    posted = slack_emulator.messages("C0MKTG")[before:]
    assert len(posted) == 2 and posted[1]["files"][0]["name"].endswith(".png")
    assert "*New MQLs* 1" in str(posted[0]["blocks"])
