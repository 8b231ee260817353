"""Webhooks as an operator runs them: the `leadbot webhook` command, `jobs run outbox --at`,
`leadbot serve` killed with SIGKILL mid-delivery, two `serve` processes on PostgreSQL. Every
request is verified by a real receiver with the standardwebhooks package."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
from collections import defaultdict
from datetime import timedelta
from pathlib import Path

import httpx
import pytest
from sqlalchemy import func, select

from bot.runtime import utcnow
from core.config import load_config
from core.db import Database
from core.migrate import upgrade
from core.models import WebhookDelivery, WebhookEvent
from core.schemas import EventIn, LeadIn
from core.services.intake import record_events, upsert_lead
from emulators.slack import SlackEmulator
from emulators.slack.seed import seed_from_config
from tests import commands
from tests.conftest import _truncate_pg
from tests.webhook_receiver import Receiver, free_port

ROOT = Path(__file__).resolve().parents[2]
CONFIG = ROOT / "leadbot.example.toml"


def base_env(url: str, emulator: SlackEmulator, **extra: str) -> dict[str, str]:
    env = {
        **os.environ,
        "LEADBOT_DATABASE_URL": url,
        "LEADBOT_CONFIG": str(CONFIG),
        "SLACK_BOT_TOKEN": emulator.bot_token,
        "SLACK_SIGNING_SECRET": emulator.signing_secret,
        "LEADBOT_SLACK_API_URL": emulator.api_url,
        **extra,
    }
    env.pop("SLACK_APP_TOKEN", None)
    return env


def leadbot(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return commands.leadbot(*args, env=env, timeout=120)


def add_webhook(env: dict[str, str], receiver: Receiver, *extra: str) -> int:
    added = leadbot(env, "webhook", "add", receiver.url, "--allow-private", *extra)
    assert added.returncode == 0, added.stderr
    lines = added.stdout.strip().splitlines()
    receiver.secret = lines[-1]
    assert receiver.secret.startswith("whsec_")
    match = re.match(r"webhook (\d+) added", lines[0])
    assert match, lines
    return int(match.group(1))


def api_key(env: dict[str, str], name: str = "e2e") -> str:
    created = leadbot(env, "api-key", "create", name)
    assert created.returncode == 0, created.stderr
    return created.stdout.strip().splitlines()[-1]


class Serve:
    """`leadbot serve` as a subprocess on a free port."""

    def __init__(self, env: dict[str, str]) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.process = subprocess.Popen(
            [sys.executable, "-m", "bot", "serve", "--port", str(self.port)],
            env=env,
            cwd=ROOT,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 30
        while True:
            if self.process.poll() is not None:
                pytest.fail("leadbot serve exited early")
            try:
                if httpx.get(f"{self.url}/healthz", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline:
                self.process.kill()
                pytest.fail("leadbot serve did not answer /healthz within 30 s")
            time.sleep(0.1)

    def qualify(self, key: str, email: str) -> int:
        headers = {"Authorization": f"Bearer {key}"}
        lead = httpx.post(
            f"{self.url}/api/v1/leads",
            headers=headers,
            json={"email": email, "title": "VP Sales", "company_size": 500, "country": "DE"},
            timeout=10,
        )
        assert lead.status_code in (200, 201), lead.text
        events = httpx.post(
            f"{self.url}/api/v1/events",
            headers=headers,
            json={"email": email, "type": "demo_request"},
            timeout=10,
        )
        assert events.status_code == 200, events.text
        return int(lead.json()["id"])

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


def undelivered(url: str) -> int:
    db = Database(url)
    try:
        with db.transaction() as s:
            return int(
                s.scalar(
                    select(func.count())
                    .select_from(WebhookDelivery)
                    .where(WebhookDelivery.delivered_at.is_(None))
                )
                or 0
            )
    finally:
        db.dispose()


def events_by_lead(url: str) -> dict[int | None, list[str]]:
    db = Database(url)
    try:
        with db.transaction() as s:
            rows = s.execute(
                select(WebhookEvent.lead_id, WebhookEvent.message_id).order_by(WebhookEvent.id)
            ).all()
    finally:
        db.dispose()
    order: dict[int | None, list[str]] = defaultdict(list)
    for lead_id, message_id in rows:
        order[lead_id].append(message_id)
    return order


def first_arrivals(receiver: Receiver) -> dict[int | None, list[str]]:
    order: dict[int | None, list[str]] = defaultdict(list)
    for r in list(receiver.received):
        if r.message_id not in order[r.lead_id]:
            order[r.lead_id].append(r.message_id)
    return order


def wait_until(condition, timeout: float) -> bool:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.2)
    return True


@pytest.fixture
def sqlite_env(tmp_path: Path, slack_emulator: SlackEmulator) -> dict[str, str]:
    seed_from_config(slack_emulator, load_config(CONFIG))
    url = f"sqlite:///{tmp_path / 'hooks.db'}"
    upgrade(url)
    return base_env(url, slack_emulator)


# --- the command line -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["add", "ftp://example.com/hook"], "is not an http(s) URL"),
        (["add", "https://crm:hunter2@127.0.0.1/hook"], "has credentials in it"),
        (["add", "https://nowhere.invalid/hook"], "does not resolve"),
        (["add", "not a url"], "is not a URL"),
        (["add", "http://127.0.0.1:9/x", "--events", "lead.bogus"], "unknown event type"),
        (["add", "http://127.0.0.1:9/x", "--events", "webhook.test"], "unknown event type"),
        (["remove", "42"], "no webhook with id 42"),
        (["test", "abc"], "'abc' is not a webhook id"),
        (["deliveries", "7"], "no webhook with id 7"),
        (["deliveries", "7", "--limit", "lots"], "--limit 'lots' is not a number"),
        (["retry", "0"], "'0' is not a webhook id"),
    ],
)
def test_bad_input_gets_one_clear_line_and_stores_nothing(sqlite_env, args, expected):
    result = leadbot(sqlite_env, "webhook", *args)
    assert result.returncode != 0
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and expected in lines[0], result.stderr
    assert lines[0].startswith("leadbot: ")
    assert "hunter2" not in result.stderr
    assert leadbot(sqlite_env, "webhook", "list").stdout.strip() == (
        "no webhooks (add one with `leadbot webhook add URL`)"
    )


def test_add_list_test_deliveries_remove(sqlite_env):
    with Receiver() as receiver:
        receiver.start()
        endpoint_id = add_webhook(
            sqlite_env,
            receiver,
            "--events",
            "lead.qualified",
            "lead.rejected",
            "--description",
            "Our CRM",
        )
        listed = leadbot(sqlite_env, "webhook", "list").stdout
        assert receiver.url in listed and "enabled" in listed and "Our CRM" in listed
        assert "lead.qualified,lead.rejected" in listed
        assert receiver.secret not in listed and "whsec_" not in listed

        sent = leadbot(sqlite_env, "webhook", "test", str(endpoint_id))
        assert sent.returncode == 0, sent.stderr
        assert sent.stdout.strip() == f"webhook.test delivered to webhook {endpoint_id}: HTTP 204"
        [test_event] = receiver.acknowledged()
        assert test_event.verified and test_event.type == "webhook.test"
        assert test_event.payload["data"]["endpoint_id"] == endpoint_id

        receiver.mode = "500"
        failed = leadbot(sqlite_env, "webhook", "test", str(endpoint_id))
        assert failed.returncode == 1
        assert len(failed.stderr.strip().splitlines()) == 1 and "HTTP 500" in failed.stderr
        shown = leadbot(sqlite_env, "webhook", "deliveries", str(endpoint_id)).stdout
        assert shown.count("webhook.test") == 2 and "delivered" in shown and "retrying" in shown
        only_failed = leadbot(
            sqlite_env, "webhook", "deliveries", str(endpoint_id), "--failed"
        ).stdout.splitlines()
        assert len(only_failed) == 1 and "HTTP 500" in only_failed[0]
        assert receiver.secret not in sent.stdout + sent.stderr + failed.stderr + shown

        retried = leadbot(sqlite_env, "webhook", "retry", str(endpoint_id))
        assert retried.returncode == 0 and "1 undelivered event(s) due now" in retried.stdout

        # A warning, not a refusal, for plain http off this machine (an address literal needs
        # no DNS).
        far = leadbot(sqlite_env, "webhook", "add", "http://93.184.216.34/hook")
        assert far.returncode == 0 and far.stderr.startswith("warning: plain http")
        removed = leadbot(sqlite_env, "webhook", "remove", str(endpoint_id))
        assert removed.stdout.strip() == f"webhook {endpoint_id} removed ({receiver.url})"
        assert receiver.url not in leadbot(sqlite_env, "webhook", "list").stdout


def test_jobs_run_outbox_at_delivers_due_webhooks_and_retries_keep_their_id(
    sqlite_env, slack_emulator
):
    with Receiver() as receiver:
        receiver.mode = "500"
        receiver.start()
        add_webhook(sqlite_env, receiver)
        config = load_config(CONFIG)
        start = utcnow()
        db = Database(sqlite_env["LEADBOT_DATABASE_URL"])
        with db.transaction() as session:
            upsert_lead(
                session,
                LeadIn(email="cto@acme.de", title="Chief Technology Officer"),
                config=config,
                now=start,
            )
            record_events(
                session,
                [EventIn(email="cto@acme.de", type="demo_request")],
                config=config,
                now=start,
            )
        db.dispose()

        def at(delta: timedelta) -> subprocess.CompletedProcess[str]:
            return leadbot(sqlite_env, "jobs", "run", "outbox", "--at", (start + delta).isoformat())

        first = at(timedelta(seconds=1))
        assert first.returncode == 1
        assert first.stdout.splitlines() == [
            "outbox: sent 1, failed 0",
            "webhooks: delivered 0, failed 1",
        ]
        assert "HTTP 500" in first.stderr
        assert len(slack_emulator.messages("C0NA")) == 1  # Slack got its alert all the same
        early = at(timedelta(seconds=3))  # the first retry is due 5 s after the failure
        assert early.returncode == 0 and early.stdout.strip() == "outbox: sent 0, failed 0"
        receiver.mode = "ok"
        later = at(timedelta(hours=1))
        assert later.returncode == 0, later.stderr
        assert "webhooks: delivered 2, failed 0" in later.stdout
        assert [r.type for r in receiver.acknowledged()] == ["lead.stage_changed", "lead.qualified"]
        assert receiver.received[0].message_id == receiver.acknowledged()[0].message_id
        assert all(r.verified for r in receiver.received)


# --- crashes and several processes ---------------------------------------------------------


def test_kill_9_mid_delivery_then_restart_loses_nothing(tmp_path, slack_emulator):
    seed_from_config(slack_emulator, load_config(CONFIG))
    url = f"sqlite:///{tmp_path / 'crash.db'}"
    upgrade(url)
    # 5-second attempts: a 20-second lease, so the restart does not wait the default 35 s.
    env = base_env(url, slack_emulator, LEADBOT_WEBHOOK_TIMEOUT="5")
    with Receiver() as receiver:
        receiver.mode = "hang"
        receiver.hang_seconds = 60
        receiver.start()
        add_webhook(env, receiver)
        key = api_key(env)
        serve = Serve(env)
        try:
            leads = [serve.qualify(key, f"lead{n}@acme.de") for n in range(3)]
            assert receiver.holding.wait(15), "serve never sent a webhook"
            serve.process.kill()  # SIGKILL while the request is in flight
            serve.process.wait()
        finally:
            serve.stop()
        assert undelivered(url) == 6
        receiver.mode = "ok"
        receiver.release.set()
        again = Serve(env)
        try:
            assert wait_until(lambda: undelivered(url) == 0, 60), "not everything was delivered"
            metrics = httpx.get(f"{again.url}/metrics", timeout=10).text
            assert 'leadbot_webhook_attempts_total{result="delivered"} 6.0' in metrics
            assert 'leadbot_webhook_deliveries{state="delivered"} 6.0' in metrics
        finally:
            again.stop()
        expected = events_by_lead(url)
        assert sorted(expected) == sorted(leads)
        assert receiver.ids() == {m for ids in expected.values() for m in ids}
        assert first_arrivals(receiver) == expected
        assert all(r.verified for r in receiver.received)
        # The request cut off by the kill came again, with the same webhook-id.
        cut = receiver.received[0].message_id
        assert [r.message_id for r in receiver.received].count(cut) == 2


@pytest.mark.parametrize("engine", [pytest.param("postgresql", marks=pytest.mark.postgres)])
def test_two_serve_processes_on_postgresql_deliver_each_event_once_per_endpoint(
    request, slack_emulator, engine
):
    url = request.getfixturevalue("pg_migrated")
    _truncate_pg(url)
    seed_from_config(slack_emulator, load_config(CONFIG))
    env = base_env(url, slack_emulator)
    with Receiver() as crm, Receiver() as automation:
        crm.start()
        automation.start()
        add_webhook(env, crm)
        add_webhook(env, automation, "--events", "lead.qualified")
        key = api_key(env)
        first, second = Serve(env), Serve(env)
        try:
            leads = [
                (first if n % 2 else second).qualify(key, f"buyer{n}@acme.de") for n in range(20)
            ]
            assert wait_until(lambda: undelivered(url) == 0, 60), "not everything was delivered"
        finally:
            first.stop()
            second.stop()
        expected = events_by_lead(url)
        assert sorted(expected) == sorted(leads)
        every = [m for ids in expected.values() for m in ids]
        assert len(every) == 40
        # Exactly once per endpoint: the receivers never failed, so there were no retries.
        assert sorted(r.message_id for r in crm.received) == sorted(every)
        assert len(automation.received) == 20
        assert {r.type for r in automation.received} == {"lead.qualified"}
        assert first_arrivals(crm) == expected
        assert all(r.verified for r in crm.received + automation.received)
