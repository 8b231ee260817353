"""Erase, export and suppression through the real app (HTTP, Bolt, the Slack emulator, a webhook
receiver), on both engines: after an erase the person is nowhere in the database, in Slack or in
a queued payload, and the statistics are what they were."""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path

from sqlalchemy import MetaData, select

from bot.cli.webhook import resolve
from bot.runtime import Runtime
from bot.workers.webhooks import Dispatcher
from core.models import Lead, Outbox, PrivacyAudit, SlackMessage
from core.services import imports, outcomes, privacy, reminders, reports, webhook_endpoints
from emulators.slack.render import render_conversation
from tests.slack.conftest import eventually
from tests.slack.test_commands import BANT_ALL, open_modal, run
from tests.webhook_receiver import Receiver

EMAIL = "grace.hopper@navy-labs.de"
FIRST, LAST = "Gracelyn", "Hopperwitz"
PHONE = "+49 30 5550199"
NOTES = "Met Gracelyn at the fair; her deputy Quentin signs"
NEED = "Needs the rollout before the audit"
PROPERTY = "utm-navy-secret-77"
EVENT_PROPERTY = "https://navy-labs.de/pricing?who=gracelyn"
COMMENT = "Gracelyn's colleague Ottokar already talks to us"
SECRETS = [EMAIL, FIRST, LAST, PHONE, NOTES, NEED, PROPERTY, EVENT_PROPERTY, COMMENT]


def add_endpoint(bot, receiver):
    with bot.db.transaction() as s:
        added = webhook_endpoints.add(
            s,
            receiver.url,
            events=None,
            description="CRM",
            resolve=resolve,
            now=bot.runtime.now(),
            allow_private=True,
        )
    receiver.secret = added.secret
    return added.endpoint.id


def deliver_webhooks(bot):
    runtime = Runtime(settings=bot.runtime.settings, config=bot.config, db=bot.db)
    return Dispatcher(runtime).drain()


def stats(bot):
    now = bot.runtime.now()
    since, until = now - timedelta(days=30), now + timedelta(days=30)
    with bot.db.transaction() as s:
        funnel = reports.funnel(s, bot.config, since=since, until=until)
        report = outcomes.outcomes(s, bot.config, since=since, until=until)
    return (
        funnel.entered,
        sorted(funnel.rejected.items()),
        funnel.unrouted,
        [(g.name, g.handoffs, g.accepted, g.sql) for g in report.sources],
        [(g.name, g.handoffs) for g in report.campaigns],
    )


def database_text(bot) -> str:
    """Every row of every table, as text (and on SQLite the file's bytes besides)."""
    engine = bot.db.engine
    meta = MetaData()
    meta.reflect(engine)
    parts = []
    with engine.connect() as connection:
        for table in meta.sorted_tables:
            for row in connection.execute(table.select()):
                parts.append(repr(tuple(row)))
    if engine.dialect.name == "sqlite":
        path = Path(engine.url.database)
        for candidate in (path, Path(f"{path}-wal")):
            if candidate.exists():
                parts.append(candidate.read_bytes().decode("utf-8", "replace"))
    return "\n".join(parts)


def slack_text(bot) -> str:
    """Every message, reply, DM and App Home the emulator holds, as JSON text (modals closed
    after their submission are not kept by Slack; the emulator keeps them for its tests)."""
    ws = bot.emulator.workspace
    held = []
    with bot.emulator.api.changed:
        for channel in ws.channels.values():
            held.extend(channel.messages)
        held.extend(v for v in ws.views.values() if v.get("type") == "home")
    return json.dumps(held, ensure_ascii=False, default=str)


def the_story(bot, receiver):
    """A lead through alert, Accept, BANT with notes, reminders; a second lead of the same
    company rejected with a comment naming the first."""
    add_endpoint(bot, receiver)
    lead_id = bot.qualify(
        EMAIL,
        first_name=FIRST,
        last_name=LAST,
        phone=PHONE,
        company="Navy Labs",
        campaign="fair-2026",
        properties={"utm_term": PROPERTY},
    )
    events = bot.api.post(
        "/api/v1/events",
        json={"email": EMAIL, "type": "page_view", "properties": {"url": EVENT_PROPERTY}},
    )
    assert events.status_code == 200, events.text
    bot.slack.click(bot.alert(lead_id), "Accept", user="U0REP1")
    bot.wait_stage(lead_id, "sal")
    run(bot, f"qualify {lead_id}")
    bot.slack.submit(
        open_modal(bot, "U0REP1"), {**BANT_ALL, "notes": NOTES, "need_text": NEED}, user="U0REP1"
    )
    bot.wait_stage(lead_id, "sql")
    colleague = bot.qualify("colleague@navy-labs.de", company="Navy Labs", source="webinar")
    bot.slack.click(bot.alert(colleague), "Reject", user="U0REP2")
    assert bot.emulator.wait_for(lambda: bot.slack.views("U0REP2"), 5)
    bot.slack.submit(
        bot.slack.views("U0REP2")[-1], {"reason": "bad_fit", "comment": COMMENT}, user="U0REP2"
    )
    bot.wait_stage(colleague, "unqualified")
    # Reminders: the SQL lead waits for its opportunity long past the SLA.
    later = bot.runtime.now() + timedelta(days=30)
    with bot.db.transaction() as s:
        assert reminders.send_reminders(s, bot.config, later)
    bot.drain_all()
    assert deliver_webhooks(bot).delivered >= 5
    return lead_id, colleague


def test_an_erase_leaves_the_person_nowhere_and_the_statistics_as_they_were(bot):
    with Receiver() as receiver:
        receiver.start()
        lead_id, colleague = the_story(bot, receiver)
        with bot.db.transaction() as s:
            posted = s.scalars(select(SlackMessage).where(SlackMessage.lead_id == lead_id)).all()
            purposes = {m.purpose for m in posted}
        # The alert, the marketing note, the DM reminders: all recorded, so all can be rewritten.
        assert "alert" in purposes and len(posted) >= 3, purposes
        assert FIRST in slack_text(bot) and COMMENT in slack_text(bot)
        assert all(secret in database_text(bot) for secret in (EMAIL, NOTES, COMMENT))

        # The export, before: every item, valid JSON.
        exported = bot.api.get(f"/api/v1/leads/{lead_id}/export")
        assert exported.status_code == 200
        document = json.loads(exported.text)
        assert document["lead"]["email"] == EMAIL and document["lead"]["phone"] == PHONE
        assert document["lead"]["properties"] == {"utm_term": PROPERTY}
        assert any(e["properties"].get("url") == EVENT_PROPERTY for e in document["events"])
        assert document["qualifications"][0]["notes"] == NOTES
        assert {"mql", "sal", "sql"} <= {h["to_stage"] for h in document["lead"]["history"]}
        assert document["lead"]["score"]["reasons"]
        assert "likelihood" in document["lead"]
        assert {m["purpose"] for m in document["slack_messages"]} == purposes
        assert any(FIRST in (m["text"] or "") for m in document["slack_messages"])
        assert {d["type"] for d in document["webhook_deliveries"]} >= {"lead.qualified"}

        before = stats(bot)
        erased = bot.api.request(
            "DELETE", f"/api/v1/leads/{lead_id}", json={"reason": "art. 17 request, ticket 4711"}
        )
        assert erased.status_code == 200, erased.text
        assert erased.json()["slack_messages"] == len(posted)
        bot.drain_all()
        assert deliver_webhooks(bot).delivered >= 1

        assert stats(bot) == before
        stored = database_text(bot)
        slack = slack_text(bot)
        for secret in SECRETS:
            assert secret not in stored, secret
            assert secret not in slack, secret
        with bot.db.transaction() as s:
            assert s.scalars(select(Outbox).where(Outbox.delivered_at.is_(None))).all() == []
            audit = s.scalars(select(PrivacyAudit)).one()
            assert (audit.action, audit.lead_id, audit.actor) == (
                "erase",
                lead_id,
                "api-key:slack-tests",
            )
            tomb = s.get(Lead, lead_id)
            assert tomb.erased_at and tomb.stage == "sql" and tomb.source == "webinar"
            assert tomb.campaign == "fair-2026" and tomb.engagement > 0
        for message in posted:
            rewritten = bot.emulator.message(message.ts)
            assert rewritten["text"].startswith("Lead erased on request (")
            assert "actions" not in json.dumps(rewritten.get("blocks"))
        erased_events = [r for r in receiver.acknowledged() if r.type == "lead.erased"]
        assert [r.payload["data"]["id"] for r in erased_events] == [lead_id]
        assert set(erased_events[0].payload["data"]) == {"id", "crm", "erased_at"}
        # The colleague's own record stays, without the sentence that named the person.
        with bot.db.transaction() as s:
            assert s.get(Lead, colleague).erased_at is None

        # Twice: a clear refusal, nothing changes.
        again = bot.api.request("DELETE", f"/api/v1/leads/{lead_id}", json={"reason": "again"})
        assert again.status_code == 409 and "already erased" in again.text
        assert bot.api.get(f"/api/v1/leads/{lead_id}").status_code == 410


def test_an_erased_address_is_refused_until_unsuppressed(bot, tmp_path):
    lead_id = bot.qualify("back@again.de")
    assert (
        bot.api.request(
            "DELETE", f"/api/v1/leads/{lead_id}", json={"reason": "request"}
        ).status_code
        == 200
    )
    refused = bot.api.post("/api/v1/leads", json={"email": "Back@Again.de"})
    assert refused.status_code == 409 and "suppressed" in refused.text
    event = bot.api.post("/api/v1/events", json={"email": "back@again.de", "type": "page_view"})
    assert event.status_code == 409
    csv = tmp_path / "leads.csv"
    csv.write_text("email,first_name\nback@again.de,Bea\nother@again.de,Otto\n")
    report = imports.import_csv(bot.db, csv, config=bot.config, now=bot.runtime.now())
    assert (report.imported, report.rejected) == (1, 1)
    rejects = (tmp_path / "leads.rejects.csv").read_text()
    assert "back@again.de" in rejects and "suppressed" in rejects
    with bot.db.transaction() as s:
        assert privacy.is_suppressed(s, "BACK@again.de")
        assert privacy.unsuppress(
            s, "back@again.de", actor="cli:op", reason="x", now=bot.runtime.now()
        )
    report = imports.import_csv(bot.db, csv, config=bot.config, now=bot.runtime.now())
    assert report.imported == 1 and report.rejected == 0
    assert bot.api.post("/api/v1/leads", json={"email": "back@again.de"}).status_code == 200


def test_an_erase_while_slack_is_down_rewrites_once_slack_is_back(bot):
    lead_id = bot.qualify("down@slack.de", first_name="Downey")
    alert = bot.alert(lead_id)
    bot.emulator.fail_next("chat.update", times=3, status=503)
    assert (
        bot.api.request(
            "DELETE", f"/api/v1/leads/{lead_id}", json={"reason": "request"}
        ).status_code
        == 200
    )
    bot.drain()
    assert "Downey" in json.dumps(bot.emulator.message(alert["ts"]))
    bot.drain_all()
    assert eventually(lambda: "Lead erased" in bot.emulator.message(alert["ts"])["text"])
    assert "Downey" not in json.dumps(bot.emulator.message(alert["ts"]))
    # The sandbox page shows it as an edited message saying so, with no buttons.
    [shown] = [
        m
        for m in render_conversation(bot.emulator.messages(alert["channel"]))
        if m["ts"] == alert["ts"]
    ]
    page = json.dumps(shown)
    assert shown["edited"] and "Lead erased on request" in page
    assert all(not block.get("buttons") for block in shown["blocks"]) and "Downey" not in page


def test_export_is_valid_json_for_odd_text(bot):
    odd = 'Zoë "Q" \\ O\'Brien\n\t😀 ‮ <script>'
    reply = bot.api.post(
        "/api/v1/leads",
        json={"email": "odd@text.de", "first_name": odd, "properties": {odd: odd}},
    )
    assert reply.status_code == 201
    lead_id = reply.json()["id"]
    document = json.loads(bot.api.get(f"/api/v1/leads/{lead_id}/export").text)
    assert document["lead"]["first_name"] == odd and document["lead"]["properties"] == {odd: odd}
    with bot.db.transaction() as s:
        text_form = privacy.dumps(
            privacy.export(s, s.get(Lead, lead_id), config=bot.config, now=bot.runtime.now())
        )
    assert json.loads(text_form)["lead"]["first_name"] == odd
