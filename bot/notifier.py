"""Outbox -> Slack. Core records what must be said in the transaction that made it true; this
module says it, after the commit, in order per lead, with retries and back-off, and records
where each alert landed (``channel``, ``ts``) so later changes edit the same message.

Delivery protocol for one row:
1. claim: in a short transaction, take the oldest due row whose lead has no earlier unsent row
   (``FOR UPDATE SKIP LOCKED`` on PostgreSQL, so several processes never take the same row),
   count the attempt and lease it for a while; commit.
2. deliver: the Slack call, outside any transaction. Every message carries metadata naming the
   outbox row; a row on its second or later attempt first looks in the channel's history for
   that metadata, so a crash between "posted" and "recorded" never posts twice.
3. finish: mark it sent and record the message, or store the error and when to try again.
   Nothing is ever dropped: a row that keeps failing stays, with its last error.
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError, SlackClientError
from sqlalchemy import exists, select
from sqlalchemy.orm import Session, aliased

from bot.present import card_of
from bot.runtime import Runtime
from bot.views import ids
from bot.views.alerts import Status, assigned_dm, lead_alert, marketing_accepted, marketing_rejected
from bot.views.digest import chart_filename, digest_message, funnel_chart
from bot.views.reminders import Waiting, escalation_dm, owner_dm, thread_reminder
from bot.views.routing import OfferLine, fallback_note, offer_block, offer_dm
from core.config import Team
from core.lifecycle import QUALIFIED, Stage
from core.models import Lead, Offer, Outbox, SlackMessage, StageTransition
from core.services.handoff import REASONS_BY_CODE, stage_entry
from core.services.stages import latest_transition

log = logging.getLogger(__name__)

#: Longer than the slowest delivery (a 30 s timeout, retry handlers waiting out Retry-After,
#: a history lookup); a row still leased is not taken by another worker.
LEASE = timedelta(minutes=5)
MAX_BACKOFF = timedelta(minutes=15)

#: Slack errors that no retry will fix: the row is given up (kept, with its error) instead of
#: blocking every later message about the lead.
PERMANENT_ERRORS = frozenset(
    {
        "channel_not_found",
        "not_in_channel",
        "is_archived",
        "message_not_found",
        "cant_update_message",
        "invalid_blocks",
        "invalid_arguments",
        "msg_too_long",
        "no_text",
        "user_not_found",
        "users_not_found",
        "account_inactive",
        "user_is_bot",
        "cannot_dm_bot",
        "invalid_metadata_format",
        "invalid_metadata_schema",
    }
)


class Undeliverable(Exception):
    """This attempt failed; ``retry_after`` (seconds) if Slack said when to come back;
    ``permanent`` when trying again cannot help."""

    def __init__(
        self, message: str, retry_after: float | None = None, *, permanent: bool = False
    ) -> None:
        super().__init__(message)
        self.retry_after = retry_after
        self.permanent = permanent


@dataclass(frozen=True)
class Claimed:
    id: int
    kind: str
    lead_id: int | None
    payload: dict[str, Any]
    attempts: int
    created_at: datetime


@dataclass
class Posted:
    channel: str
    ts: str


@dataclass
class DrainReport:
    sent: int = 0
    failed: int = 0
    errors: list[str] = field(default_factory=list)


def backoff(attempts: int, retry_after: float | None = None) -> timedelta:
    if retry_after is not None:
        return timedelta(seconds=max(1.0, retry_after))
    return min(MAX_BACKOFF, timedelta(seconds=5 * 2 ** max(0, attempts - 1)))


def alert_status(session: Session, lead: Lead, alert: StageTransition) -> Status | None:
    """None while the alert still waits for sales; otherwise what happened since."""
    latest = latest_transition(session, lead.id)
    if latest is None or latest.id == alert.id:
        return None
    after = None
    if latest.from_stage in QUALIFIED and Stage(latest.to_stage) not in QUALIFIED:
        after = (latest.at - alert.at).total_seconds()
    return Status(
        stage=latest.to_stage, actor=latest.actor, after_seconds=after, reason=latest.reason
    )


class Notifier:
    def __init__(self, runtime: Runtime, client: WebClient, *, lease: timedelta = LEASE) -> None:
        self.runtime = runtime
        self.client = client
        self.lease = lease

    # --- the loop --------------------------------------------------------------------------

    def drain(self, max_rows: int = 10_000) -> DrainReport:
        """Deliver every due row (up to ``max_rows``); returns what happened."""
        report = DrainReport()
        for _ in range(max_rows):
            claimed = self.claim()
            if claimed is None:
                break
            try:
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

    def retry_given_up(self) -> int:
        """Queue every given-up row again (after fixing what Slack refused, e.g. inviting the
        bot to a channel); returns how many."""
        with self.runtime.db.transaction() as session:
            rows = session.scalars(
                select(Outbox).where(Outbox.sent_at.is_(None), Outbox.gave_up_at.is_not(None))
            ).all()
            for row in rows:
                row.gave_up_at = None
                row.next_attempt_at = self.runtime.now()
            return len(rows)

    def claim(self) -> Claimed | None:
        now = self.runtime.now()
        earlier = aliased(Outbox)
        blocked = exists().where(
            earlier.lead_id == Outbox.lead_id,
            earlier.sent_at.is_(None),
            earlier.gave_up_at.is_(None),
            earlier.id < Outbox.id,
        )
        query = (
            select(Outbox)
            .where(
                Outbox.sent_at.is_(None),
                Outbox.gave_up_at.is_(None),
                Outbox.next_attempt_at <= now,
                ~blocked,
            )
            .order_by(Outbox.id)
            .limit(1)
            .with_for_update(skip_locked=True, of=Outbox)
        )
        with self.runtime.db.transaction() as session:
            row = session.scalars(query).first()
            if row is None:
                return None
            row.attempts += 1
            row.next_attempt_at = now + self.lease
            return Claimed(
                row.id, row.kind, row.lead_id, dict(row.payload), row.attempts, row.created_at
            )

    def succeeded(self, claimed: Claimed, posted: Posted | None) -> None:
        with self.runtime.db.transaction() as session:
            row = self._still_ours(session, claimed)
            if row is None:
                return
            now = self.runtime.now()
            row.sent_at = now
            row.last_error = None
            if posted and claimed.kind == "lead_qualified" and claimed.lead_id is not None:
                session.add(
                    SlackMessage(
                        lead_id=claimed.lead_id,
                        purpose="alert",
                        transition_id=int(claimed.payload["transition_id"]),
                        channel=posted.channel,
                        ts=posted.ts,
                        created_at=now,
                    )
                )

    def failed(self, claimed: Claimed, error: Undeliverable) -> None:
        log.warning(
            "outbox %s (%s) attempt %s failed: %s",
            claimed.id,
            claimed.kind,
            claimed.attempts,
            error,
        )
        with self.runtime.db.transaction() as session:
            row = self._still_ours(session, claimed)
            if row is None:
                return
            row.last_error = str(error)[:2000]
            now = self.runtime.now()
            if error.permanent:
                log.error("outbox %s (%s) given up: %s", claimed.id, claimed.kind, error)
                row.gave_up_at = now
            else:
                row.next_attempt_at = now + backoff(claimed.attempts, error.retry_after)

    @staticmethod
    def _still_ours(session: Session, claimed: Claimed) -> Outbox | None:
        """The row, unless it was finished meanwhile or another worker took it over after our
        lease ran out (its ``attempts`` moved on): then the outcome is that worker's to record."""
        row = session.get(Outbox, claimed.id, with_for_update=True)
        if row is None or row.sent_at is not None or row.attempts != claimed.attempts:
            return None
        return row

    # --- what each kind says ----------------------------------------------------------------

    def deliver(self, claimed: Claimed) -> Posted | None:
        handler = {
            "lead_qualified": self._alert,
            "alert_refresh": self._refresh,
            "marketing_accepted": self._marketing,
            "marketing_rejected": self._marketing,
            "assigned_dm": self._assigned,
            "reminder_thread": self._reminder,
            "reminder_escalation": self._reminder,
            "reminder_owner": self._reminder,
            "digest": self._digest,
            "offer_dm": self._offer_dm,
            "routing_fallback": self._fallback,
        }.get(claimed.kind)
        if handler is None:
            raise Undeliverable(f"unknown outbox kind {claimed.kind!r}")
        return handler(claimed)

    def _alert(self, claimed: Claimed) -> Posted | None:
        config = self.runtime.config
        with self.runtime.db.transaction() as session:
            lead = session.get(Lead, claimed.lead_id)
            alert = session.get(StageTransition, int(claimed.payload["transition_id"]))
            if lead is None or alert is None:
                return None  # the lead was deleted: nothing left to announce
            team = config.team(lead.team)
            channel = team.channel if team else config.marketing.channel
            message = lead_alert(
                card_of(lead),
                alert.to_stage,
                alert_status(session, lead, alert),
                unrouted=team is None,
                offer=self._offer_block(session, lead, alert),
            )
        return self._post(claimed, channel, message)

    def _offer_block(
        self, session: Session, lead: Lead, alert: StageTransition
    ) -> dict[str, Any] | None:
        """Whom the alert's lead is offered to, or that its claim window ended."""
        offer = session.scalars(select(Offer).where(Offer.transition_id == alert.id)).first()
        if offer is None:
            return None
        team = self.runtime.config.team(offer.team)
        if offer.closed_at is None:
            return offer_block(
                OfferLine(rep=offer.rep, until=self._when(offer.until, team), reason=offer.reason)
            )
        if lead.owner is None:
            return offer_block(OfferLine(opened_to=team.reps if team else ()))
        return None

    @staticmethod
    def _when(moment: datetime, team: Team | None) -> str:
        zone = team.zone if team else ZoneInfo("UTC")
        return f"{moment.astimezone(zone):%a %d %b %H:%M} {zone.key}"

    def _offer_dm(self, claimed: Claimed) -> Posted | None:
        """The DM to the offered rep, unless the lead has moved on since."""
        rep = str(claimed.payload["rep"])
        with self.runtime.db.transaction() as session:
            lead = session.get(Lead, claimed.lead_id)
            entry = stage_entry(session, lead) if lead is not None else None
            if lead is None or entry is None or entry.id != int(claimed.payload["transition_id"]):
                return None
            offer = session.scalars(select(Offer).where(Offer.transition_id == entry.id)).first()
            if offer is None or offer.rep != rep:
                return None
            team = self.runtime.config.team(offer.team)
            message = offer_dm(card_of(lead), self._when(offer.until, team), offer.reason)
        return self._post(claimed, rep, message)

    def _fallback(self, claimed: Claimed) -> Posted | None:
        """Nobody could be offered the lead: the managers hear why, in the alert's thread."""
        config = self.runtime.config
        with self.runtime.db.transaction() as session:
            lead = session.get(Lead, claimed.lead_id)
            if lead is None:
                return None
            team = config.team(lead.team)
            alert = session.scalars(
                select(SlackMessage).where(
                    SlackMessage.purpose == "alert",
                    SlackMessage.transition_id == int(claimed.payload["transition_id"]),
                )
            ).first()
            thread = (alert.channel, alert.ts) if alert else None
        skipped = [(str(rep), str(why)) for rep, why in claimed.payload.get("skipped", [])]
        message = fallback_note(team.managers if team else (), skipped)
        if thread is None:
            channel = team.channel if team else config.marketing.channel
            return self._post(claimed, channel, message)
        return self._post(claimed, thread[0], {**message, "thread_ts": thread[1]})

    def _refresh(self, claimed: Claimed) -> Posted | None:
        with self.runtime.db.transaction() as session:
            record = session.scalars(
                select(SlackMessage)
                .where(SlackMessage.lead_id == claimed.lead_id, SlackMessage.purpose == "alert")
                .order_by(SlackMessage.id.desc())
                .limit(1)
            ).first()
            lead = session.get(Lead, claimed.lead_id)
            if record is None or lead is None:
                return None  # never announced (or gone): nothing to edit
            alert = session.get(StageTransition, record.transition_id)
            assert alert is not None  # a foreign key guarantees it
            team = self.runtime.config.team(lead.team)
            message = lead_alert(
                card_of(lead),
                alert.to_stage,
                alert_status(session, lead, alert),
                unrouted=team is None and alert.to_stage in QUALIFIED,
                offer=self._offer_block(session, lead, alert),
            )
            channel, ts = record.channel, record.ts
        self._call("chat_update", channel=channel, ts=ts, **message)
        return Posted(channel, ts)

    def _marketing(self, claimed: Claimed) -> Posted | None:
        payload = claimed.payload
        with self.runtime.db.transaction() as session:
            lead = session.get(Lead, claimed.lead_id)
            moved = session.get(StageTransition, int(payload["transition_id"]))
            if lead is None or moved is None:
                return None
            card = card_of(lead)
        if claimed.kind == "marketing_accepted":
            message = marketing_accepted(
                card, payload["actor"], payload["waited_seconds"], payload.get("assigned_by")
            )
        else:
            code = payload.get("reason")
            label = REASONS_BY_CODE[code].label if code else payload.get("reason_text") or "-"
            message = marketing_rejected(
                card,
                payload["actor"],
                label,
                payload.get("comment"),
                moved.to_stage,
                payload["waited_seconds"],
            )
        return self._post(claimed, self.runtime.config.marketing.channel, message)

    def _assigned(self, claimed: Claimed) -> Posted | None:
        with self.runtime.db.transaction() as session:
            lead = session.get(Lead, claimed.lead_id)
            if lead is None:
                return None
            message = assigned_dm(card_of(lead), claimed.payload["actor"])
        return self._post(claimed, claimed.payload["owner"], message)

    def _reminder(self, claimed: Claimed) -> Posted | None:
        """A reminder or escalation, unless its lead has left the stage entry it is about."""
        payload = claimed.payload
        config = self.runtime.config
        with self.runtime.db.transaction() as session:
            lead = session.get(Lead, claimed.lead_id)
            entry = stage_entry(session, lead) if lead is not None else None
            if lead is None or entry is None or entry.id != int(payload["transition_id"]):
                return None  # the lead moved on: the reminder no longer applies
            team = config.team(lead.team)
            zone = team.zone if team else ZoneInfo("UTC")
            waiting = Waiting(
                sla=str(getattr(config.sla, payload["repeats"])),
                since=f"{entry.at.astimezone(zone):%a %d %b %H:%M} {zone.key}",
                repeat=payload["level"] != payload["repeats"],
            )
            card = card_of(lead)
            owner = lead.owner
            alert = session.scalars(
                select(SlackMessage).where(
                    SlackMessage.purpose == "alert", SlackMessage.transition_id == entry.id
                )
            ).first()
            thread = (alert.channel, alert.ts) if alert else None
        to = str(payload["to"])
        if claimed.kind == "reminder_thread":
            message = thread_reminder(card, waiting, payload["mentions"], unrouted=team is None)
            if thread is None:  # no alert was recorded: say it in the channel itself
                return self._post(claimed, to, message)
            return self._post(claimed, thread[0], {**message, "thread_ts": thread[1]})
        if claimed.kind == "reminder_escalation":
            where = f"<#{team.channel}>" if team else "the marketing channel (unrouted)"
            return self._post(claimed, to, escalation_dm(card, waiting, where))
        stand_in = to != owner
        return self._post(
            claimed,
            to,
            owner_dm(card, waiting, instead_of=owner if stand_in else None, manager=stand_in),
        )

    def _digest(self, claimed: Claimed) -> Posted | None:
        """The daily digest, then its chart (rendered now) through the files upload flow."""
        numbers = claimed.payload
        channel = self.runtime.config.marketing.channel
        posted = self._post(claimed, channel, digest_message(numbers))
        filename = chart_filename(numbers)
        if claimed.attempts > 1 and self._uploaded(posted.channel, filename, claimed):
            return posted
        chart = funnel_chart(numbers["series"])
        self._call(
            "files_upload_v2",
            channel=posted.channel,
            file=chart,
            filename=filename,
            title=f"Funnel, {numbers['series']['days']} days to {numbers['day']}",
        )
        return posted

    def _uploaded(self, channel: str, filename: str, claimed: Claimed) -> bool:
        """Whether a previous attempt already shared the chart in the channel."""
        response = self._call(
            "conversations_history",
            channel=channel,
            oldest=f"{claimed.created_at.timestamp() - 60:.6f}",
            limit=200,
        )
        return any(
            item.get("name") == filename
            for message in response.get("messages", [])
            for item in message.get("files") or []
        )

    # --- Slack ------------------------------------------------------------------------------

    def _post(self, claimed: Claimed, channel: str, message: dict[str, Any]) -> Posted:
        if claimed.attempts > 1:
            history = channel
            if channel[:1] in ("U", "W"):  # a DM's history is read by its D... channel id
                history = str(self._call("conversations_open", users=channel)["channel"]["id"])
            found = self._already_posted(claimed, history, message.get("thread_ts"))
            if found:
                return found
        metadata = {
            "event_type": ids.METADATA_PREFIX + claimed.kind,
            "event_payload": {"outbox_id": claimed.id, "lead_id": claimed.lead_id or 0},
        }
        response = self._call("chat_postMessage", channel=channel, metadata=metadata, **message)
        return Posted(str(response["channel"]), str(response["ts"]))

    def _already_posted(
        self, claimed: Claimed, channel: str, thread_ts: str | None = None
    ) -> Posted | None:
        """A previous attempt may have posted before we could record it: look for our metadata
        (in the thread, for a reply)."""
        oldest = f"{claimed.created_at.timestamp() - 60:.6f}"
        cursor = None
        where = {"ts": thread_ts} if thread_ts else {}
        for _ in range(20):  # at most 20 pages of 200 messages
            try:
                response = self._call(
                    "conversations_replies" if thread_ts else "conversations_history",
                    channel=channel,
                    **where,
                    oldest=oldest,
                    include_all_metadata=True,
                    limit=200,
                    cursor=cursor,
                )
            except Undeliverable as exc:
                if not exc.permanent:
                    raise
                # No right to read this channel (chat:write.public posts without joining):
                # nothing to find, so post.
                return None
            for message in response.get("messages", []):
                payload = (message.get("metadata") or {}).get("event_payload") or {}
                if payload.get("outbox_id") == claimed.id:
                    return Posted(channel, str(message["ts"]))
            cursor = (response.get("response_metadata") or {}).get("next_cursor")
            if not cursor:
                break
        return None

    def _call(self, method: str, **kwargs: Any) -> Any:
        try:
            return getattr(self.client, method)(**kwargs)
        except SlackApiError as exc:
            retry_after = exc.response.headers.get("Retry-After") if exc.response else None
            error = exc.response.get("error") if exc.response else str(exc)
            raise Undeliverable(
                f"{method}: {error}",
                float(retry_after) if retry_after else None,
                permanent=error in PERMANENT_ERRORS,
            ) from exc
        except (SlackClientError, OSError) as exc:  # connection refused, timeouts, TLS
            raise Undeliverable(f"{method}: {exc.__class__.__name__}: {exc}") from exc


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
