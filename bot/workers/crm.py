"""The CRM's two loops: the sync (pages of changes in, through core.services.crm_sync) and the
sender (queued writes out, on the one delivery protocol, through the adapter).

The sync holds a lease on its ``crm_sync_state`` row, renewed with every page, so that of many
``serve`` processes one syncs at a time; each page and its cursor commit together, so a process
killed mid-sync loses nothing and applies nothing twice. The sender claims one write at a time
(``FOR UPDATE SKIP LOCKED`` on PostgreSQL), in order per lead; the adapters never double a note
or Task (each carries the write's key and is looked up before a retry).
"""

from __future__ import annotations

import logging
import os
import socket
import time
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from apscheduler.schedulers.base import BaseScheduler
from apscheduler.triggers.interval import IntervalTrigger
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

from bot.crm.port import CrmAdapter, OwnerDirectory, sales_people
from bot.runtime import Runtime
from bot.workers.worker import DeliveryWorker
from core.services import crm_sync, crm_writes
from core.services.crm_sync import SyncReport

log = logging.getLogger(__name__)

SYNC_LEASE = timedelta(minutes=5)
WRITE_LEASE = timedelta(minutes=5)

#: Slack user -> the e-mail Slack shows for them (``users.info``; None when hidden).
SlackEmails = Callable[[list[str]], Mapping[str, str | None]]


def holder_name() -> str:
    return f"{socket.gethostname()[:30]}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


def directory(runtime: Runtime, adapter: CrmAdapter, slack_emails: SlackEmails) -> OwnerDirectory:
    people = adapter.owners()
    users = sales_people(runtime.config)
    return OwnerDirectory(people, runtime.config.crm.owners, dict(slack_emails(users)))


@dataclass
class SyncRun:
    report: SyncReport = field(default_factory=SyncReport)
    busy: str | None = None  # another process holds the sync
    error: str | None = None
    seconds: float = 0.0
    pages: int = 0


class CrmSync:
    def __init__(
        self,
        runtime: Runtime,
        adapter: CrmAdapter,
        slack_emails: SlackEmails,
        *,
        holder: str | None = None,
    ) -> None:
        self.runtime = runtime
        self.adapter = adapter
        self.slack_emails = slack_emails
        self.holder = holder or holder_name()

    def run(self, *, full: bool = False) -> SyncRun:
        runtime, system = self.runtime, self.adapter.system
        run = SyncRun()
        started, clock = runtime.now(), time.monotonic()
        with runtime.db.transaction() as session:
            busy = crm_sync.take_lease(session, system, self.holder, started, started + SYNC_LEASE)
            if busy is None and full:
                crm_sync.restart(session, system)
            cursor = crm_sync.sync_state(session, system).cursor
        if busy is not None:
            run.busy = busy
            return run
        try:
            owners = directory(runtime, self.adapter, self.slack_emails).to_slack()
            for changes, after in self.adapter.pages(cursor):
                if not self._page(changes, after, owners, run):
                    break
                cursor = after
            else:
                gone = self.adapter.gone(cursor)
                if gone:
                    self._page(gone, None, owners, run)
        except Exception as exc:  # the next run goes on from the last stored page
            run.error = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
            log.warning("%s sync stopped: %s", system, run.error)
        run.seconds = time.monotonic() - clock
        with runtime.db.transaction() as session:
            crm_sync.finish(
                session,
                system,
                self.holder,
                started=started,
                now=runtime.now(),
                seconds=run.seconds,
                seen=run.report.seen,
                error=run.error,
            )
        if run.report.changed:
            runtime.outbox_changed()
        return run

    def _page(self, changes, after, owners, run: SyncRun) -> bool:  # type: ignore[no-untyped-def]
        runtime, system = self.runtime, self.adapter.system
        now = runtime.now()
        by_status = runtime.away_by_status()
        with runtime.db.transaction() as session:
            if not crm_sync.holds_lease(session, system, self.holder, now + SYNC_LEASE):
                run.error = "the sync lease was taken over by another process"
                return False
            report = crm_sync.apply_page(
                session,
                changes,
                config=runtime.config,
                owners=owners,
                cursor=after,
                now=now,
                by_status=by_status,
                system=system,
            )
        run.report.add(report)
        run.pages += 1
        if report.changed:
            runtime.outbox_changed()
        return True


class CrmSender:
    """Claims, sends and records CRM writes; shared by the worker's threads."""

    def __init__(self, runtime: Runtime, adapter: CrmAdapter, slack_emails: SlackEmails) -> None:
        self.runtime = runtime
        self.adapter = adapter
        self.slack_emails = slack_emails
        self._directory: OwnerDirectory | None = None
        self.delivered = 0
        self.failed = 0
        self.errors: list[str] = []

    def owners(self) -> OwnerDirectory:
        if self._directory is None:
            self._directory = directory(self.runtime, self.adapter, self.slack_emails)
        return self._directory

    def step(self) -> bool:
        runtime = self.runtime
        with runtime.db.transaction() as session:
            attempt = crm_writes.claim(session, runtime.now(), lease=WRITE_LEASE)
        if attempt is None:
            return False
        if attempt.system != self.adapter.system or not attempt.external_id:
            self._skip(attempt, f"the lead is not linked to {self.adapter.system}")
            return True
        if attempt.converted or attempt.deleted:
            why = "converted" if attempt.converted else "deleted"
            self._skip(attempt, f"the record is {why} in the CRM; not written")
            return True
        payload = dict(attempt.payload)
        if attempt.kind == "owner":
            user = str(payload.get("owner") or "")
            owner = self.owners().to_crm(user)
            if owner is None:
                email = self.owners().slack_emails.get(user)
                self._skip(
                    attempt,
                    f"no {self.adapter.system} owner matches Slack user {user} "
                    f"({'e-mail ' + email if email else 'no e-mail visible'}); the lead's "
                    "other writes go without the owner",
                )
                return True
            payload["crm_owner"] = owner
        sent = self.adapter.send(
            attempt.kind, attempt.external_id, payload, attempt.key, attempt.created_at
        )
        now = runtime.now()
        with runtime.db.transaction() as session:
            if sent.outcome == "done":
                crm_writes.delivered(session, attempt, now, written=sent.written, note=sent.note)
                self.delivered += 1
                result = "delivered"
            elif sent.outcome == "skip":
                crm_writes.skipped(session, attempt, sent.error, now)
                result = "failed"
            else:
                gave_up = crm_writes.failed(
                    session,
                    attempt,
                    sent.error,
                    now=now,
                    final=sent.outcome == "refused",
                    retry_after=sent.retry_after,
                )
                self.failed += 1
                self.errors.append(f"write {attempt.write_id} ({attempt.kind}): {sent.error}")
                result = "given_up" if gave_up else "failed"
                if gave_up:
                    runtime.outbox_changed()  # marketing is told
        runtime.attempted("crm", result)
        return True

    def _skip(self, attempt: crm_writes.Attempt, why: str) -> None:
        with self.runtime.db.transaction() as session:
            crm_writes.skipped(session, attempt, why, self.runtime.now())
        self.errors.append(f"write {attempt.write_id} ({attempt.kind}): {why}")
        self.runtime.attempted("crm", "failed")

    def drain(self, limit: int | None = None) -> int:
        """Send everything due now (one thread); how many were tried."""
        tried = 0
        while (limit is None or tried < limit) and self.step():
            tried += 1
        return tried


def crm_worker(sender: CrmSender, *, interval: float = 5.0) -> DeliveryWorker:
    """One background thread sending CRM writes: woken after a commit that queued some, and
    every ``interval`` seconds for retries that came due."""
    return DeliveryWorker(
        "leadbot-crm",
        lambda _pause: sender.step(),
        threads=1,
        interval=interval,
        on_stop=sender.adapter.close,
    )


def run_sync_job(sync: CrmSync) -> str:
    run = sync.run()
    if run.busy:
        return f"crm sync: another process is syncing ({run.busy})"
    r = run.report
    text = (
        f"crm sync: {r.seen} seen, {r.created} created, {r.updated} updated, "
        f"{r.qualified} qualified, {r.stage_changes} stage and {r.owner_changes} owner changes"
    )
    return text + (f"; stopped: {run.error}" if run.error else "")


def slack_emails(client: WebClient) -> SlackEmails:
    """Slack user -> e-mail from ``users.info`` (scope ``users:read.email``), asked once per
    user per process; None when Slack does not show it."""
    known: dict[str, str | None] = {}

    def lookup(users: list[str]) -> Mapping[str, str | None]:
        for user in users:
            if user in known:
                continue
            try:
                profile = (client.users_info(user=user).get("user") or {}).get("profile") or {}
                known[user] = profile.get("email") or None
            except SlackApiError:
                known[user] = None
        return {user: known.get(user) for user in users}

    return lookup


def no_slack_emails(users: list[str]) -> Mapping[str, str | None]:
    return dict.fromkeys(users)


def schedule_sync(scheduler: BaseScheduler, sync: CrmSync, every_seconds: int) -> None:
    def run() -> None:
        log.info("%s", run_sync_job(sync))

    run.__name__ = "leadbot_crm_sync"
    scheduler.add_job(
        run,
        IntervalTrigger(seconds=every_seconds, timezone=UTC),
        id="crm_sync",
        coalesce=True,
        max_instances=1,
        misfire_grace_time=every_seconds,
        next_run_time=datetime.now(UTC),
    )
