"""Routing with real `leadbot` processes: two `serve` processes on one PostgreSQL database offer
200 leads arriving at once, each exactly once and fairly; `leadbot jobs run reminders --at`
closes a claim window as at that moment (both engines)."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest
from sqlalchemy import func, select

from core.config import load_config
from core.db import Database
from core.models import Offer, OwnerChange, Rotation
from core.schemas import EventIn, LeadIn
from core.services.apikeys import create_key
from core.services.intake import record_events, upsert_lead
from emulators.slack.seed import seed_from_config
from tests import commands
from tests.conftest import _truncate_pg
from tests.e2e.conftest import free_port

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "leadbot.example.toml"


def routing_config(tmp_path: Path) -> Path:
    """The example config with emea routing by round robin over weights 2:1:1."""
    text = EXAMPLE.read_text()
    for old, new in (
        (
            'reps = ["U0REP1", "U0REP2"]',
            'reps = [{ id = "U0REP1", weight = 2 }, "U0REP2", "U0REP4"]',
        ),
        ('assign = "claim"', 'assign = "round_robin"'),
    ):
        assert text.count(old) == 1
        text = text.replace(old, new)
    path = tmp_path / "leadbot.toml"
    path.write_text(text)
    return path


def env_for(db_url: str, config: Path, emulator, port: int | None = None) -> dict[str, str]:
    env = {
        **os.environ,
        "LEADBOT_DATABASE_URL": db_url,
        "LEADBOT_CONFIG": str(config),
        "SLACK_BOT_TOKEN": emulator.bot_token,
        "SLACK_SIGNING_SECRET": emulator.signing_secret,
        "LEADBOT_SLACK_API_URL": emulator.api_url,
    }
    env.pop("SLACK_APP_TOKEN", None)
    if port is not None:
        env["LEADBOT_PORT"] = str(port)
    return env


def start_serve(env: dict[str, str]) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "bot", "serve"],
        env=env,
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        text=True,
    )


def wait_healthy(url: str, process: subprocess.Popen[str]) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        assert process.poll() is None, "leadbot serve exited early"
        try:
            if httpx.get(f"{url}/healthz", timeout=1).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.2)
    pytest.fail(f"{url} did not answer /healthz within 60 s")


def test_two_serve_processes_offer_200_leads_once_each_and_fairly(
    tmp_path, slack_emulator, pg_migrated
):
    _truncate_pg(pg_migrated)
    config = routing_config(tmp_path)
    seed_from_config(slack_emulator, load_config(config))
    db = Database(pg_migrated)
    with db.transaction() as session:
        key = create_key(session, "e2e-routing", now=datetime.now(UTC))
    processes, urls = [], []
    try:
        for _ in range(2):
            port = free_port()
            processes.append(start_serve(env_for(pg_migrated, config, slack_emulator, port)))
            urls.append(f"http://127.0.0.1:{port}")
        for url, process in zip(urls, processes, strict=True):
            wait_healthy(url, process)
        clients = [
            httpx.Client(base_url=url, headers={"Authorization": f"Bearer {key}"}, timeout=60)
            for url in urls
        ]

        def send(n: int) -> int:
            http = clients[n % 2]  # alternate between the two processes
            email = f"buyer{n}@firm{n}.example"
            lead = http.post(
                "/api/v1/leads",
                json={"email": email, "title": "VP Sales", "company_size": 500, "country": "DE"},
            )
            assert lead.status_code == 201, lead.text
            event = http.post("/api/v1/events", json={"email": email, "type": "demo_request"})
            assert event.status_code == 200, event.text
            return int(lead.json()["id"])

        with ThreadPoolExecutor(max_workers=12) as pool:
            ids = list(pool.map(send, range(200)))
        for http in clients:
            http.close()
    finally:
        for process in processes:
            process.terminate()
        for process in processes:
            try:
                process.wait(15)
            except subprocess.TimeoutExpired:
                process.kill()
    with db.transaction() as session:
        offers = session.execute(select(Offer.lead_id, Offer.rep).order_by(Offer.id)).all()
        rotation = session.get(Rotation, "emea")
        changes = session.scalar(select(func.count()).where(OwnerChange.reason == "round robin"))
    db.dispose()
    assert sorted(lead for lead, _ in offers) == sorted(ids)  # each lead offered exactly once
    assert rotation is not None and rotation.picks == 200
    assert changes == 200
    picks = [rep for _, rep in offers]  # in the order the rotation made them
    assert Counter(picks) == {"U0REP1": 100, "U0REP2": 50, "U0REP4": 50}
    share = {"U0REP1": 0.5, "U0REP2": 0.25, "U0REP4": 0.25}
    for start in range(len(picks) - 7):
        window = Counter(picks[start : start + 8])
        assert all(window[rep] <= 8 * part + 1 for rep, part in share.items()), window


def test_jobs_run_reminders_at_closes_the_claim_window(tmp_path, db_url, slack_emulator):
    config_path = routing_config(tmp_path)
    config = load_config(config_path)
    seed_from_config(slack_emulator, config)
    monday = datetime(2026, 11, 2, 9, 0, tzinfo=UTC)  # 10:00 in Berlin
    db = Database(db_url)
    with db.transaction() as session:
        upsert_lead(
            session,
            LeadIn(email="cto@window.example", title="CTO", company_size=500, country="DE"),
            config=config,
            now=monday,
        )
        record_events(
            session,
            [EventIn(email="cto@window.example", type="demo_request")],
            config=config,
            now=monday,
        )
    env = env_for(db_url, config_path, slack_emulator)

    def leadbot(*args: str) -> subprocess.CompletedProcess[str]:
        return commands.leadbot(*args, env=env, timeout=120)

    sent = leadbot("jobs", "run", "outbox", "--at", "2026-11-02T09:00:01+00:00")
    assert sent.returncode == 0 and sent.stdout.strip() == "outbox: sent 2, failed 0", sent
    alert = slack_emulator.messages("C0EMEA")[-1]
    assert "For <@U0REP1>" in str(alert["blocks"])
    early = leadbot("jobs", "run", "reminders", "--at", "2026-11-02T09:14:00+00:00")
    assert early.stdout.strip().splitlines()[0] == "reminders: queued 0", early
    late = leadbot("jobs", "run", "reminders", "--at", "2026-11-02T09:15:00+00:00")
    assert late.returncode == 0, late.stderr
    assert late.stdout.splitlines()[0] == "reminders: queued 0, claim windows closed 1"
    edited = slack_emulator.message(alert["ts"])
    assert "open to the whole team, <@U0REP1> <@U0REP2> <@U0REP4>" in str(edited["blocks"])
    with db.transaction() as session:
        reasons = list(session.scalars(select(OwnerChange.reason).order_by(OwnerChange.id)))
    db.dispose()
    assert reasons == ["round robin", "claim window ended"]


def test_config_check_names_bad_weights_and_caps_by_key_path(tmp_path):
    good = routing_config(tmp_path)
    bad = tmp_path / "bad.toml"
    bad.write_text(
        good.read_text().replace(
            '{ id = "U0REP1", weight = 2 }', '{ id = "U0REP1", weight = 0, max_open = 0 }'
        )
    )

    def check(path: Path) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "bot", "config", "check", str(path)],
            capture_output=True,
            text=True,
            cwd=ROOT,
            timeout=60,
        )

    ok = check(good)
    assert ok.returncode == 0, ok.stderr
    assert "team emea: channel C0EMEA, 3 rep(s)" in ok.stdout
    assert "round robin (15 min claim window)" in ok.stdout
    refused = check(bad)
    assert refused.returncode == 1 and "Traceback" not in refused.stderr
    assert "teams[0].reps[0].weight: Input should be greater than 0" in refused.stderr
    assert "teams[0].reps[0].max_open: Input should be greater than or equal to 1" in (
        refused.stderr
    )
