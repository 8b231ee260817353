"""Outbox -> Slack. Core records what must be said in the transaction that made it true; the
notifier says it, after the commit, in order per lead, with retries and back-off, and records
where each alert landed (``channel``, ``ts``) so later changes edit the same message.

For each row: claim it (``bot.workers.queue``), read its message (``core.messages``), render it
(``bot.slack.render``), say it (``bot.slack.delivery``), finish it (``bot.workers.queue``). A row
no message type fits, and a Slack refusal no retry can fix, give the row up; anything else is
tried again later.

Slack's rate limits are per channel for posts (per method otherwise), so a 429 holds back only
the rows for what it names, until the moment it names (``bot.slack.pacing``); the client the
notifier is given must not wait out 429s itself, or one channel's limit stalls every channel.
"""

from __future__ import annotations

import logging
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from slack_sdk import WebClient
from sqlalchemy.orm import Session

from bot.runtime import Runtime
from bot.slack.delivery import Posted, RateLimited, SlackDelivery
from bot.slack.pacing import POST_INTERVAL, Pacer
from bot.slack.render import Say, render
from bot.workers.queue import LEASE, Claimed, Leases, OutboxQueue, Undeliverable
from bot.workers.worker import DeliveryWorker, Pause
from core import messages
from core.db import insert_or_ignore
from core.messages import LeadErased
from core.models import Lead, SlackMessage

log = logging.getLogger(__name__)


#: How many claimed rows may wait at once for one rate-limit key (a channel Slack asked us to
#: slow down in); more are given back to the queue, due about when their turn comes, so one
#: channel's backlog never fills the worker while other channels' rows are due.
HELD_PER_KEY = 20

Waiting = dict[str, deque[tuple[Claimed, Say]]]


@dataclass
class DrainReport:
    sent: int = 0
    failed: int = 0
    errors: list[str] = field(default_factory=list)


def _sleep(seconds: float) -> bool:
    time.sleep(seconds)
    return False


class Notifier:
    """``monotonic`` is the clock the pacing runs on and ``drain``'s ``wait`` passes its time:
    a test gives both and waits out a rate limit without sleeping."""

    def __init__(
        self,
        runtime: Runtime,
        client: WebClient,
        *,
        lease: timedelta = LEASE,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self.runtime = runtime
        self.queue = OutboxQueue(runtime.db, runtime.now, lease=lease)
        self.slack = SlackDelivery(client, Pacer(monotonic))
        self.monotonic = monotonic

    def drain(self, max_rows: int = 10_000, wait: Callable[[float], bool] = _sleep) -> DrainReport:
        """Deliver every due row (claiming up to ``max_rows``); returns what happened.

        A row for a channel (or method) Slack answered 429 waits, still claimed, until the
        moment Slack named, while rows for other channels go on; ``wait(seconds)`` passes the
        time until one may go, and returns True to stop early (waiting rows go back untried)."""
        report = DrainReport()
        waiting: Waiting = {}
        later: dict[str, int] = {}  # rows given back per key in this drain, to space them out
        claims, look = 0, True
        with self.queue.leases() as leases:
            try:
                while True:
                    key = self._ready(waiting)
                    if key is not None:
                        held, say = waiting[key].popleft()
                        if not waiting[key]:
                            del waiting[key]
                        self._say(held, say, leases, waiting, report)
                        look = True  # its lead's next row may be due now
                        continue
                    if look and claims < max_rows:
                        claimed = self.claim()
                        if claimed is not None:
                            claims += 1
                            leases.add(claimed)
                            self._take(claimed, leases, waiting, later, report)
                            continue
                        look = False
                    if not waiting:
                        break
                    soonest = min(self.slack.pacer.ready_at(k) for k in waiting)
                    if wait(max(0.0, soonest - self.monotonic())):
                        break
                    look = True  # woken (new rows) or a key came free: look again
            finally:
                for rows in waiting.values():
                    for claimed, _ in rows:
                        self.queue.defer(claimed, self.runtime.now())
        return report

    def _ready(self, waiting: Waiting) -> str | None:
        """A key with rows waiting that Slack allows again now."""
        now = self.monotonic()
        return next((k for k in waiting if self.slack.pacer.ready_at(k) <= now), None)

    def _take(
        self,
        claimed: Claimed,
        leases: Leases,
        waiting: Waiting,
        later: dict[str, int],
        report: DrainReport,
    ) -> None:
        """A freshly claimed row: say it now, or wait behind its key, or give it back."""
        try:
            say = self.prepare(claimed)
        except Exception as exc:
            leases.discard(claimed)
            self._failed(claimed, exc, report)
            return
        if say is None:
            leases.discard(claimed)
            self.succeeded(claimed, None)
            report.sent += 1
            return
        key = self.slack.key_of(say)
        queued = waiting.get(key)
        free_in = self.slack.pacer.ready_at(key) - self.monotonic()
        if not queued and free_in <= 0:
            self._say(claimed, say, leases, waiting, report)
        elif queued is None or len(queued) < HELD_PER_KEY:
            waiting.setdefault(key, deque()).append((claimed, say))
        else:
            later[key] = later.get(key, 0) + 1
            turn = max(0.0, free_in) + (len(queued) + later[key]) * POST_INTERVAL
            leases.discard(claimed)
            self.queue.defer(claimed, self.runtime.now() + timedelta(seconds=turn))

    def _say(
        self,
        claimed: Claimed,
        say: Say,
        leases: Leases,
        waiting: Waiting,
        report: DrainReport,
    ) -> None:
        if leases.lost(claimed):  # its lease ran out: another worker may be delivering it
            return
        try:
            posted = self.slack.say(claimed, say)
        except RateLimited as exc:  # Slack did nothing: first in line when the key is free
            waiting.setdefault(exc.key, deque()).appendleft((claimed, say))
            return
        except Exception as exc:
            leases.discard(claimed)
            self._failed(claimed, exc, report)
            return
        leases.discard(claimed)
        self.succeeded(claimed, posted)
        report.sent += 1

    def _failed(self, claimed: Claimed, exc: Exception, report: DrainReport) -> None:
        if not isinstance(exc, Undeliverable):  # a bug in rendering one row must not stall
            log.exception("outbox %s (%s) could not be built", claimed.id, claimed.kind)
            exc = Undeliverable(f"{type(exc).__name__}: {exc}", permanent=True)
        self.failed(claimed, exc)
        report.failed += 1
        report.errors.append(f"outbox {claimed.id} ({claimed.kind}): {exc}")

    def prepare(self, claimed: Claimed) -> Say | None:
        """What to say for the row; None when there is nothing left to say."""
        try:
            message = messages.read(claimed.kind, claimed.lead_id, claimed.payload)
        except messages.Unreadable as exc:  # retrying cannot make it readable
            raise Undeliverable(str(exc), permanent=True) from exc
        return render(self.runtime, message)

    def deliver(self, claimed: Claimed) -> Posted | None:
        """Say what the row holds; None when there was nothing left to say."""
        say = self.prepare(claimed)
        return self.slack.say(claimed, say) if say is not None else None

    def claim(self) -> Claimed | None:
        return self.queue.claim()

    def succeeded(self, claimed: Claimed, posted: Posted | None) -> None:
        self.runtime.attempted("slack", "delivered")
        if posted is None or not posted.new or claimed.lead_id is None:
            self.queue.succeeded(claimed)
            return
        lead_id = claimed.lead_id

        def record(session: Session, now: datetime) -> None:
            """Every message posted about a lead is recorded (an erase rewrites them all): an
            alert once per stage entry, so later changes edit it; the rest by kind. A post
            that lands after its lead was erased (it was on its way) is rewritten at once."""
            values = {
                "lead_id": lead_id,
                "purpose": "alert" if posted.alert_of is not None else claimed.kind[:30],
                "transition_id": posted.alert_of,
                "channel": posted.channel,
                "ts": posted.ts,
                "text": posted.text,
                "created_at": now,
            }
            if posted.alert_of is not None:
                insert_or_ignore(session, SlackMessage, values, ("purpose", "transition_id"))
            else:
                session.add(SlackMessage(**values))
            lead = session.get(Lead, lead_id)
            if lead is not None and lead.erased_at is not None:
                day = lead.erased_at.date().isoformat()
                messages.enqueue(
                    session, LeadErased(lead_id, posted.channel, posted.ts, day), now=now
                )

        # Recorded even if the row's lease was lost meanwhile: the message is in Slack either way.
        self.queue.succeeded(claimed, record, always=True)

    def failed(self, claimed: Claimed, error: Undeliverable) -> None:
        self.queue.failed(claimed, error)
        self.runtime.attempted("slack", "given_up" if error.permanent else "failed")

    def retry_given_up(self) -> int:
        return self.queue.retry_given_up()


def notifier_worker(notifier: Notifier, interval: float = 5.0) -> DeliveryWorker:
    """The Slack outbox in one background thread: one drain per wake-up (every commit that
    added rows) and every ``interval`` seconds for retries that came due."""

    def work(pause: Pause) -> bool:
        notifier.drain(wait=pause)
        return False

    return DeliveryWorker("leadbot-notifier", work, interval=interval)
