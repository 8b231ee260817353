"""Outgoing webhooks through the real app: Slack clicks and modals move leads, a real receiver
on loopback verifies every request with the standardwebhooks package. Both engines."""

from __future__ import annotations

import logging
import threading
from collections import defaultdict
from datetime import timedelta

import pytest
from sqlalchemy import func, select

from bot.cli.webhook import resolve
from bot.runtime import Runtime
from bot.workers.notifier import Notifier
from bot.workers.webhooks import Dispatcher
from core import webhooks
from core.models import Outbox, WebhookDelivery, WebhookEndpoint, WebhookEvent
from core.services import handoff, webhook_endpoints
from tests.slack.test_commands import BANT_ALL, open_modal, run
from tests.webhook_receiver import Receiver

MKTG = "C0MKTG"


def add_endpoint(bot, receiver, events=None):
    with bot.db.transaction() as s:
        added = webhook_endpoints.add(
            s,
            receiver.url,
            events=events,
            description="CRM",
            resolve=resolve,
            now=bot.runtime.now(),
            allow_private=True,
        )
    receiver.secret = added.secret
    assert added.warnings == []  # plain http to loopback is local
    return added.endpoint.id


def dispatcher(bot, clock=None, timeout=None):
    runtime = Runtime(
        settings=bot.runtime.settings,
        config=bot.config,
        db=bot.db,
        clock=clock or bot.runtime.now,
        outbox_listeners=bot.runtime.outbox_listeners,
    )
    return Dispatcher(runtime, timeout=timeout)


def events_in_db(bot):
    """Per lead, the message ids of its events in the order they happened."""
    with bot.db.transaction() as s:
        rows = s.execute(
            select(WebhookEvent.lead_id, WebhookEvent.message_id).order_by(WebhookEvent.id)
        ).all()
    order = defaultdict(list)
    for lead_id, message_id in rows:
        order[lead_id].append(message_id)
    return order


def first_arrivals(receiver):
    """Per lead, distinct message ids in the order they first reached the receiver."""
    order = defaultdict(list)
    for r in list(receiver.received):
        if r.message_id not in order[r.lead_id]:
            order[r.lead_id].append(r.message_id)
    return order


def by_lead(receiver):
    seen = defaultdict(list)
    for r in receiver.acknowledged():
        seen[r.lead_id].append(r)
    return seen


def test_accept_bant_opportunity_and_reject_send_signed_events_in_order(bot):
    with Receiver() as receiver:
        receiver.start()
        add_endpoint(bot, receiver)
        deal = bot.qualify("deal@acme.de")
        bot.slack.click(bot.alert(deal), "Accept", user="U0REP1")
        bot.wait_stage(deal, "sal")
        run(bot, f"qualify {deal}")
        bot.slack.submit(open_modal(bot, "U0REP1"), BANT_ALL, user="U0REP1")
        bot.wait_stage(deal, "sql")
        run(bot, f"opportunity {deal}")
        assert bot.emulator.wait_for(
            lambda: any(
                v.get("callback_id") == "lead_opportunity_submit" for v in bot.slack.views("U0REP1")
            ),
            5,
        )
        close = (bot.runtime.now() + timedelta(days=30)).date().isoformat()
        bot.slack.submit(
            bot.slack.views("U0REP1")[-1],
            {"name": "Acme rollout", "amount": "48000", "currency": "EUR", "close_date": close},
            user="U0REP1",
        )
        bot.wait_stage(deal, "sqo")
        rival = bot.qualify("rival@competitor.de")
        bot.slack.click(bot.alert(rival), "Reject", user="U0REP2")
        assert bot.emulator.wait_for(lambda: bot.slack.views("U0REP2"), 5)
        bot.slack.submit(
            bot.slack.views("U0REP2")[-1],
            {"reason": "competitor", "comment": "Works for a competitor"},
            user="U0REP2",
        )
        bot.wait_stage(rival, "unqualified")

        report = dispatcher(bot).drain()
        assert (report.failed, report.delivered) == (0, 11)
        assert all(r.verified for r in receiver.received)
        assert len(receiver.received) == 11  # each once: no retries were needed
        seen = by_lead(receiver)
        assert [r.type for r in seen[deal]] == [
            "lead.stage_changed",
            "lead.qualified",
            "lead.stage_changed",
            "lead.owner_changed",
            "lead.stage_changed",
            "lead.stage_changed",
            "lead.opportunity_recorded",
        ]
        assert [r.type for r in seen[rival]] == [
            "lead.stage_changed",
            "lead.qualified",
            "lead.stage_changed",
            "lead.rejected",
        ]
        assert first_arrivals(receiver) == events_in_db(bot)

        moves = [
            (r.payload["data"]["change"]["from_stage"], r.payload["data"]["change"]["to_stage"])
            for r in seen[deal]
            if r.type == "lead.stage_changed"
        ]
        assert moves == [("lead", "mql"), ("mql", "sal"), ("sal", "sql"), ("sql", "sqo")]
        # Each event shows the lead as it was right after its change.
        assert [r.payload["data"]["stage"] for r in seen[deal]] == [
            "mql",
            "mql",
            "sal",
            "sal",
            "sql",
            "sqo",
            "sqo",
        ]
        qualified = seen[deal][1].payload
        assert qualified["data"]["change"]["score"]["grade"] == "A"
        assert any(
            "demo_request" in x["rule"] for x in qualified["data"]["change"]["score"]["reasons"]
        )
        owner = seen[deal][3].payload["data"]["change"]
        assert (owner["from_owner"], owner["to_owner"], owner["actor"]) == (
            None,
            "U0REP1",
            "U0REP1",
        )
        opportunity = seen[deal][6].payload["data"]["change"]["opportunity"]
        assert (opportunity["name"], opportunity["amount"], opportunity["currency"]) == (
            "Acme rollout",
            "48000.00",
            "EUR",
        )
        rejected = seen[rival][3].payload["data"]["change"]
        assert (rejected["reason_code"], rejected["comment"], rejected["actor"]) == (
            "competitor",
            "Works for a competitor",
            "U0REP2",
        )
        # The payload is the lead as the API shows it, plus the change.
        last = seen[deal][-1].payload
        api = bot.api.get(f"/api/v1/leads/{deal}").json()
        assert set(last) == {"type", "timestamp", "data"}
        assert {k: v for k, v in last["data"].items() if k != "change"} == api
        assert last["timestamp"] == api["stage_changed_at"]
        # The headers: webhook-id is the event's id, the signature v1 HMAC-SHA256.
        sample = seen[deal][0]
        assert sample.headers["webhook-id"].startswith("msg_")
        assert sample.headers["webhook-signature"].startswith("v1,")


def move(bot, emails):
    """Qualify each lead through the API and accept it: four events per lead."""
    ids = []
    for email in emails:
        lead_id = bot.qualify(email)
        with bot.db.transaction() as s:
            handoff.accept(s, lead_id, actor="U0REP1", config=bot.config, now=bot.runtime.now())
        bot.runtime.outbox_changed()
        ids.append(lead_id)
    return ids


def test_receiver_down_then_back_loses_nothing_and_slack_does_not_wait(bot, caplog):
    for name in ("bot.workers.webhooks", "httpx", "httpcore"):
        caplog.set_level(logging.DEBUG, logger=name)
    receiver = Receiver()  # not listening yet: connection refused
    try:
        endpoint_id = add_endpoint(bot, receiver)
        clock = [bot.runtime.now()]

        def later(delta=timedelta()):
            """The dispatcher's clock: never behind the real one, moved on by ``delta``."""
            clock[0] = max(clock[0], bot.runtime.now()) + delta

        hooks = dispatcher(bot, clock=lambda: clock[0])  # the real 10-second timeout
        assert hooks.timeout == 10
        leads = []

        leads += move(bot, [f"refused{n}@acme.de" for n in range(10)])
        later()
        refused = hooks.drain()
        assert refused.delivered == 0 and refused.failed >= 1
        assert "ConnectError" in refused.errors[0]
        leads += move(bot, [f"refused{n}@acme.de" for n in range(10, 20)])
        later(timedelta(minutes=10))
        assert hooks.drain().delivered == 0

        receiver.mode = "500"
        receiver.start()
        leads += move(bot, [f"error{n}@acme.de" for n in range(20, 35)])
        later(timedelta(hours=1))
        failing = hooks.drain()
        assert failing.delivered == 0 and "HTTP 500" in failing.errors[0]
        assert receiver.received and all(r.verified for r in receiver.received)

        receiver.mode = "hang"  # each request held for 20 s
        leads += move(bot, [f"hang{n}@acme.de" for n in range(35, 50)])
        for lead_id in leads:  # Slack is not behind on anything when the hang starts
            bot.alert(lead_id)
        later(timedelta(hours=3))
        round_ = threading.Thread(target=hooks.drain)
        round_.start()
        assert receiver.holding.wait(10), "no delivery reached the hanging receiver"
        # While a webhook request hangs, a new lead is alerted in Slack all the same.
        during = bot.qualify("during@acme.de")
        bot.alert(during)
        assert round_.is_alive() and not receiver.release.is_set()
        round_.join(30)
        assert "timed out" in hooks.report.errors[0]

        receiver.mode = "ok"
        later(timedelta(days=1))  # every retry is due
        delivered = 0
        for _ in range(5):
            report = hooks.drain()
            assert report.failed == 0
            delivered += report.delivered
            if report.delivered == 0:
                break
        hooks.close()

        with bot.db.transaction() as s:
            waiting = s.scalar(
                select(func.count())
                .select_from(WebhookDelivery)
                .where(WebhookDelivery.delivered_at.is_(None))
            )
            total = s.scalar(select(func.count()).select_from(WebhookEvent))
        assert waiting == 0
        assert total == 4 * 50 + 2  # four per moved lead, two for the one qualified meanwhile
        assert delivered == total
        expected = events_in_db(bot)
        assert receiver.ids() == {m for ids in expected.values() for m in ids}
        assert first_arrivals(receiver) == expected  # in order per lead, none lost
        # Duplicates only as retries: the same webhook-id with the very same body.
        bodies = defaultdict(set)
        for r in receiver.received:
            bodies[r.message_id].add(r.body)
        assert all(len(b) == 1 for b in bodies.values())
        assert len(receiver.received) > total  # there were retries
        assert all(r.verified for r in receiver.received)
        # Slack: every lead's alert went out, none waited for the receiver.
        for lead_id in [*leads, during]:
            bot.alert(lead_id)
        with bot.db.transaction() as s:
            secret = s.get(WebhookEndpoint, endpoint_id).secret
        assert secret not in caplog.text
    finally:
        receiver.stop()


def test_410_disables_and_three_days_of_failures_disable_marketing_told_once(bot):
    with Receiver() as gone, Receiver() as broken:
        gone.mode, broken.mode = "410", "500"
        gone.start()
        broken.start()
        gone_id = add_endpoint(bot, gone, events=["lead.qualified"])
        broken_id = add_endpoint(bot, broken, events=["lead.qualified"])
        first = bot.qualify("first@acme.de")
        clock = [bot.runtime.now()]
        hooks = dispatcher(bot, clock=lambda: clock[0], timeout=2)
        hooks.drain()
        with bot.db.transaction() as s:
            assert "410" in s.get(WebhookEndpoint, gone_id).disabled_reason
            assert s.get(WebhookEndpoint, broken_id).disabled_at is None

        # The failing endpoint is tried on the schedule until the delivery is 3 days old.
        for _ in range(40):
            with bot.db.transaction() as s:
                delivery = s.scalars(
                    select(WebhookDelivery).where(WebhookDelivery.endpoint_id == broken_id)
                ).one()
            if delivery.gave_up_at is not None:
                break
            clock[0] = delivery.next_attempt_at
            hooks.drain()
        planned = webhooks.schedule(delivery.created_at)
        assert delivery.attempts == len(planned)
        assert delivery.last_attempt_at == delivery.created_at + webhooks.RETRY_FOR
        with bot.db.transaction() as s:
            assert "3 days" in s.get(WebhookEndpoint, broken_id).disabled_reason
        assert len([r for r in broken.received if r.lead_id == first]) == len(planned)
        clock[0] += timedelta(days=1)
        assert hooks.drain().failed == 0  # disabled endpoints are left alone

        # Marketing is told through the Slack outbox, on the dispatcher's clock.
        Notifier(hooks.runtime, bot.slack_side.client).drain()

        def disabled_notes():
            return [m for m in bot.emulator.messages(MKTG) if "is disabled" in str(m.get("blocks"))]

        assert bot.emulator.wait_for(lambda: len(disabled_notes()) == 2, 5)
        notes = " ".join(str(m["blocks"]) for m in disabled_notes())
        assert f"Webhook {gone_id}" in notes and "410 Gone" in notes
        assert f"Webhook {broken_id}" in notes and "3 days" in notes
        with bot.db.transaction() as s:
            assert (
                s.scalar(
                    select(func.count())
                    .select_from(Outbox)
                    .where(Outbox.kind == "webhook_disabled")
                )
                == 2
            )

        # A disabled endpoint gets nothing new; one its receiver said is gone is not enabled by
        # retry, which says how; enable does it and sends what is undelivered.
        bot.qualify("second@acme.de")
        with bot.db.transaction() as s:
            assert webhook_endpoints.deliveries(s, gone_id)[0].event.lead_id == first
        metrics = bot.api.get("/metrics").text
        assert 'leadbot_webhook_endpoints{state="disabled"} 2.0' in metrics
        assert 'leadbot_webhook_deliveries{state="given_up"} 1.0' in metrics
        gone.mode = "ok"
        with (
            bot.db.transaction() as s,
            pytest.raises(
                webhook_endpoints.EndpointGone,
                match=f"disabled: the receiver answered 410 Gone .*`leadbot webhook enable "
                f"{gone_id}`",
            ),
        ):
            webhook_endpoints.retry(s, gone_id, now=clock[0])
        with bot.db.transaction() as s:
            assert webhook_endpoints.enable(s, gone_id, now=clock[0]) == 1
        report = hooks.drain()
        assert report.delivered == 1 and [r.lead_id for r in gone.acknowledged()] == [first]
        assert gone.acknowledged()[0].message_id == gone.received[0].message_id  # kept its id
        metrics = bot.api.get("/metrics").text
        assert 'leadbot_webhook_endpoints{state="enabled"} 1.0' in metrics
        assert 'leadbot_webhook_deliveries{state="delivered"} 1.0' in metrics
        hooks.close()


def test_assign_nurture_and_subscriptions(bot):
    """An owner change without a stage change (assign of an open lead), a rep's nurture, and an
    endpoint that takes only some event types."""
    with Receiver() as everything, Receiver() as owners:
        everything.start()
        owners.start()
        add_endpoint(bot, everything)
        add_endpoint(bot, owners, events=["lead.owner_changed"])
        lead_id = bot.qualify("move@acme.de")
        bot.slack.click(bot.alert(lead_id), "Accept", user="U0REP1")
        bot.wait_stage(lead_id, "sal")
        run(bot, f"assign {lead_id} <@U0REP2|rep2>", user="U0MGR1")
        run(bot, f"nurture {lead_id} budget next year", user="U0REP2")
        bot.wait_stage(lead_id, "nurture")
        assert dispatcher(bot).drain().failed == 0
        assert [r.type for r in everything.acknowledged()] == [
            "lead.stage_changed",
            "lead.qualified",
            "lead.stage_changed",
            "lead.owner_changed",
            "lead.owner_changed",
            "lead.stage_changed",
            "lead.rejected",
        ]
        changes = [r.payload["data"]["change"] for r in owners.acknowledged()]
        assert [(c["from_owner"], c["to_owner"], c["actor"]) for c in changes] == [
            (None, "U0REP1", "U0REP1"),
            ("U0REP1", "U0REP2", "U0MGR1"),
        ]
        assert owners.acknowledged()[1].payload["data"]["owner"] == "U0REP2"
        # The same event reaches both endpoints with the same webhook-id.
        assert {r.message_id for r in owners.acknowledged()} <= everything.ids()
        parked = everything.acknowledged()[-1].payload["data"]["change"]
        assert (parked["to_stage"], parked["reason"], parked["reason_code"]) == (
            "nurture",
            "budget next year",
            None,
        )


def test_a_hanging_endpoint_does_not_hold_up_another(bot):
    with Receiver() as hanging, Receiver() as healthy:
        hanging.mode = "hang"
        hanging.start()
        healthy.start()
        add_endpoint(bot, hanging)
        add_endpoint(bot, healthy)
        leads = [bot.qualify(f"buyer{n}@acme.de") for n in range(3)]
        hooks = dispatcher(bot)
        round_ = threading.Thread(target=hooks.drain)
        round_.start()
        assert hanging.holding.wait(10)
        # Every event reached the healthy receiver while the other request was still held.
        assert healthy.wait_for(lambda r: len(r.acknowledged()) == 6, 10)
        assert not hanging.release.is_set() and round_.is_alive()
        hanging.release.set()
        round_.join(30)
        assert sorted({r.lead_id for r in healthy.acknowledged()}) == sorted(leads)
        assert len(hanging.received) == 1  # one attempt per round for the failing endpoint
        hooks.close()
