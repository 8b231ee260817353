"""The whole bot over real HTTP: leadbot's FastAPI app (Bolt, intake API, outbox worker) served
by uvicorn on a free port, Slack played by the emulator, the database on both engines."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from sqlalchemy import select

from bot.http.server import SlackSide, build_slack, create_app
from bot.runtime import Runtime
from core.config import Settings, WorkspaceConfig
from core.db import Database
from core.models import Lead, Outbox, SlackMessage
from core.services.apikeys import create_key
from emulators.slack import SlackDriver, SlackEmulator
from emulators.slack.seed import seed_from_config
from emulators.slack.serving import ThreadedServer


def eventually(condition: Callable[[], Any], timeout: float = 5.0, interval: float = 0.02) -> bool:
    """Poll ``condition`` until it is true (for database state, which the emulator cannot see)."""
    deadline = time.monotonic() + timeout
    while True:
        if condition():
            return True
        if time.monotonic() > deadline:
            return False
        time.sleep(interval)


@dataclass
class Bot:
    runtime: Runtime
    slack_side: SlackSide
    emulator: SlackEmulator
    slack: SlackDriver
    api: httpx.Client
    url: str

    @property
    def db(self) -> Database:
        return self.runtime.db

    @property
    def config(self) -> WorkspaceConfig:
        return self.runtime.config

    def qualify(self, email: str, country: str = "DE", **profile: Any) -> int:
        """Make a lead an MQL through the intake API (a demo request from a VP) and return its id."""
        lead = {
            "email": email,
            "first_name": "Ada",
            "last_name": email.split("@")[0].title(),
            "title": "VP Engineering",
            "company": "Acme",
            "company_size": 500,
            "country": country,
            "source": "webinar",
            **profile,
        }
        reply = self.api.post("/api/v1/leads", json=lead)
        assert reply.status_code in (200, 201), reply.text
        events = self.api.post("/api/v1/events", json={"email": email, "type": "demo_request"})
        assert events.status_code == 200, events.text
        return int(reply.json()["id"])

    def alert(self, lead_id: int, timeout: float = 5.0) -> Any:
        """Wait until the alert about ``lead_id`` is posted and recorded; the stored message."""
        records: list[SlackMessage] = []

        def recorded() -> bool:
            with self.db.transaction() as session:
                records[:] = session.scalars(
                    select(SlackMessage).where(
                        SlackMessage.lead_id == lead_id, SlackMessage.purpose == "alert"
                    )
                ).all()
            return bool(records)

        assert eventually(recorded, timeout), f"no alert recorded for lead {lead_id}"
        message = self.emulator.message(records[-1].ts)
        message["channel"] = records[-1].channel
        return message

    def wait_stage(self, lead_id: int, stage: str, timeout: float = 5.0) -> Lead:
        """Listeners finish after their ack: wait until the lead reaches ``stage``."""
        seen: list[Lead] = []

        def reached() -> bool:
            with self.db.transaction() as session:
                lead = session.get(Lead, lead_id)
                assert lead is not None
                session.expunge(lead)
            seen[:] = [lead]
            return lead.stage == stage

        assert eventually(reached, timeout), f"lead {lead_id} is {seen[0].stage}, not {stage}"
        return seen[0]

    def drain(self) -> None:
        self.slack_side.notifier.drain()

    def drain_all(self, rounds: int = 10) -> None:
        """Drain again and again, as if each row's back-off had passed, until nothing is left."""
        for _ in range(rounds):
            self.drain()
            with self.db.transaction() as session:
                waiting = session.scalars(select(Outbox).where(Outbox.delivered_at.is_(None))).all()
                for row in waiting:
                    row.next_attempt_at = self.runtime.now()
            if not waiting:
                return


@pytest.fixture
def bot(
    db: Database, config: WorkspaceConfig, slack_emulator: SlackEmulator, db_url: str
) -> Iterator[Bot]:
    seed_from_config(slack_emulator, config)
    slack_emulator.add_user("U0OUT1", name="outsider", tz="UTC")
    settings = Settings(
        LEADBOT_DATABASE_URL=db_url,
        SLACK_BOT_TOKEN=slack_emulator.bot_token,
        SLACK_SIGNING_SECRET=slack_emulator.signing_secret,
        LEADBOT_SLACK_API_URL=slack_emulator.api_url,
    )
    runtime = Runtime(settings=settings, config=config, db=db)
    side = build_slack(runtime)
    with db.transaction() as session:
        key = create_key(session, "slack-tests", now=runtime.now())
    with ThreadedServer(create_app(runtime, side)) as server:
        driver = SlackDriver(
            slack_emulator, f"{server.url}/slack/events", slack_emulator.signing_secret
        )
        try:
            with httpx.Client(
                base_url=server.url, headers={"Authorization": f"Bearer {key}"}, timeout=10
            ) as api:
                yield Bot(runtime, side, slack_emulator, driver, api, server.url)
        finally:
            driver.close()
    # Every message and modal the bot sent passed the emulator's Block Kit checks.
    refused = [
        (c.method, c.response)
        for c in slack_emulator.calls()
        if (c.response or {}).get("error") in ("invalid_blocks", "invalid_arguments")
    ]
    assert refused == []
