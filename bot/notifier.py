"""Outbox -> Slack. Core records what must be said in the transaction that made it true; the
notifier says it, after the commit, in order per lead, with retries and back-off, and records
where each alert landed (``channel``, ``ts``) so later changes edit the same message.

For each row: claim it (``bot.outbox.queue``), read its message (``core.messages``), render it
(``bot.outbox.render``), say it (``bot.outbox.slack``), finish it (``bot.outbox.queue``). A row
no message type fits, and a Slack refusal no retry can fix, give the row up; anything else is
tried again later.
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from slack_sdk import WebClient
from sqlalchemy.orm import Session

from bot.outbox.queue import LEASE, Claimed, OutboxQueue, Undeliverable
from bot.outbox.render import render
from bot.outbox.slack import Posted, SlackDelivery
from bot.runtime import Runtime
from core import messages
from core.models import SlackMessage

log = logging.getLogger(__name__)


@dataclass
class DrainReport:
    sent: int = 0
    failed: int = 0
    errors: list[str] = field(default_factory=list)


class Notifier:
    def __init__(self, runtime: Runtime, client: WebClient, *, lease: timedelta = LEASE) -> None:
        self.runtime = runtime
        self.queue = OutboxQueue(runtime.db, runtime.now, lease=lease)
        self.slack = SlackDelivery(client)

    def drain(self, max_rows: int = 10_000) -> DrainReport:
        """Deliver every due row (up to ``max_rows``); returns what happened."""
        report = DrainReport()
        for _ in range(max_rows):
            claimed = self.claim()
            if claimed is None:
                break
            try:
                with self.queue.lease_kept(claimed):
                    posted = self.deliver(claimed)
            except Undeliverable as exc:
                self.failed(claimed, exc)
                report.failed += 1
                report.errors.append(f"outbox {claimed.id} ({claimed.kind}): {exc}")
                continue
            except Exception as exc:  # a bug in rendering one row must not stall the queue
                log.exception("outbox %s (%s) could not be built", claimed.id, claimed.kind)
                self.failed(claimed, Undeliverable(f"{type(exc).__name__}: {exc}", permanent=True))
                report.failed += 1
                report.errors.append(f"outbox {claimed.id} ({claimed.kind}): {exc}")
                continue
            self.succeeded(claimed, posted)
            report.sent += 1
        return report

    def deliver(self, claimed: Claimed) -> Posted | None:
        """Say what the row holds; None when there was nothing left to say."""
        try:
            message = messages.read(claimed.kind, claimed.lead_id, claimed.payload)
        except messages.Unreadable as exc:  # retrying cannot make it readable
            raise Undeliverable(str(exc), permanent=True) from exc
        say = render(self.runtime, message)
        return self.slack.say(claimed, say) if say is not None else None

    def claim(self) -> Claimed | None:
        return self.queue.claim()

    def succeeded(self, claimed: Claimed, posted: Posted | None) -> None:
        alert_of = posted.alert_of if posted else None
        if posted is None or alert_of is None or claimed.lead_id is None:
            self.queue.succeeded(claimed)
            return
        lead_id, channel, ts = claimed.lead_id, posted.channel, posted.ts

        def record(session: Session, now: datetime) -> None:
            session.add(
                SlackMessage(
                    lead_id=lead_id,
                    purpose="alert",
                    transition_id=alert_of,
                    channel=channel,
                    ts=ts,
                    created_at=now,
                )
            )

        self.queue.succeeded(claimed, record)

    def failed(self, claimed: Claimed, error: Undeliverable) -> None:
        self.queue.failed(claimed, error)

    def retry_given_up(self) -> int:
        return self.queue.retry_given_up()


class NotifierWorker:
    """Drains the outbox in a background thread: woken right after a commit that added rows,
    and every ``interval`` seconds for retries that came due."""

    def __init__(self, notifier: Notifier, interval: float = 5.0) -> None:
        self.notifier = notifier
        self.interval = interval
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="leadbot-notifier", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def wake(self) -> None:
        self._wake.set()

    def stop(self, timeout: float = 10.0) -> None:
        self._stop.set()
        self._wake.set()
        self._thread.join(timeout)

    def _run(self) -> None:
        while not self._stop.is_set():
            self._wake.wait(self.interval)
            self._wake.clear()
            if self._stop.is_set():
                break
            try:
                self.notifier.drain()
            except Exception:  # the loop must outlive a database hiccup; the row stays queued
                log.exception("outbox drain failed; will try again")
