"""The outbox queue protocol: who takes which row, for how long, and what is recorded after.

1. claim: in a short transaction, take the oldest due row whose lead has no earlier unsent row
   (``FOR UPDATE SKIP LOCKED`` on PostgreSQL, so several processes never take the same row),
   count the attempt and lease it for ``LEASE``; commit.
2. (the delivery, outside any transaction, while :class:`Leases` renews the lease; a row can
   also be given back untried with :meth:`OutboxQueue.defer`.) A worker that dies (kill -9, a
   lost machine) stops renewing, so its row, and with it every later message about that lead,
   is free for another worker within one lease.
3. finish: mark it sent, or store the error and when to try again, or give it up when trying
   again cannot help. Nothing is ever dropped: a row that keeps failing stays, with its last
   error; a given-up row stays too and no longer holds up the lead's later rows.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Select, bindparam, exists, select, update
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session, aliased

from core.db import Database
from core.models import Outbox

log = logging.getLogger(__name__)

#: How long a claimed row is its worker's: renewed every quarter lease while the worker is
#: delivering (however slow Slack is), so it runs out only when that worker is gone.
LEASE = timedelta(seconds=20)
MAX_BACKOFF = timedelta(minutes=15)


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


def backoff(attempts: int, retry_after: float | None = None) -> timedelta:
    if retry_after is not None:
        return timedelta(seconds=max(1.0, retry_after))
    return min(MAX_BACKOFF, timedelta(seconds=5 * 2 ** max(0, attempts - 1)))


def _claimable() -> Select[Outbox]:
    earlier = aliased(Outbox)
    blocked = exists().where(
        earlier.lead_id == Outbox.lead_id,
        earlier.sent_at.is_(None),
        earlier.gave_up_at.is_(None),
        earlier.id < Outbox.id,
    )
    return (
        select(Outbox)
        .where(
            Outbox.sent_at.is_(None),
            Outbox.gave_up_at.is_(None),
            Outbox.next_attempt_at <= bindparam("now"),
            ~blocked,
        )
        .order_by(Outbox.id)
        .limit(1)
        .with_for_update(skip_locked=True, of=Outbox)
    )


#: The oldest due row whose lead has no earlier unsent row. Built once: a claim comes right
#: after every commit that queues a message, and building the statement cost more than running it.
CLAIMABLE = _claimable()


class OutboxQueue:
    def __init__(
        self, db: Database, clock: Callable[[], datetime], *, lease: timedelta = LEASE
    ) -> None:
        self.db = db
        self.clock = clock
        self.lease = lease

    def claim(self) -> Claimed | None:
        now = self.clock()
        with self.db.transaction() as session:
            row = session.scalars(CLAIMABLE, {"now": now}).first()
            if row is None:
                return None
            row.attempts += 1
            row.next_attempt_at = now + self.lease
            return Claimed(
                row.id, row.kind, row.lead_id, dict(row.payload), row.attempts, row.created_at
            )

    def renew_leases(self, claims: Iterable[Claimed]) -> set[int]:
        """Extend the leases of rows this worker holds, in one transaction; the ids of those
        that are no longer ours (finished, or taken over after a lease ran out)."""
        lost: set[int] = set()
        with self.db.transaction() as session:
            until = self.clock() + self.lease
            for claimed in claims:
                result = session.execute(
                    update(Outbox)
                    .where(
                        Outbox.id == claimed.id,
                        Outbox.attempts == claimed.attempts,
                        Outbox.sent_at.is_(None),
                    )
                    .values(next_attempt_at=until)
                    .execution_options(synchronize_session=False)
                )
                if not result.rowcount:  # type: ignore[attr-defined]
                    lost.add(claimed.id)
        return lost

    @contextmanager
    def leases(self) -> Iterator[Leases]:
        """A heartbeat that renews the lease of every row added to it until it is discarded."""
        leases = Leases(self)
        try:
            yield leases
        finally:
            leases.stop()

    def defer(self, claimed: Claimed, until: datetime) -> None:
        """Give a claimed row back untried, due again at ``until``: Slack was not asked (or
        refused with 429 and did nothing), so the attempt does not count."""
        with self.db.transaction() as session:
            session.execute(
                update(Outbox)
                .where(
                    Outbox.id == claimed.id,
                    Outbox.attempts == claimed.attempts,
                    Outbox.sent_at.is_(None),
                )
                .values(attempts=claimed.attempts - 1, next_attempt_at=until)
                .execution_options(synchronize_session=False)
            )

    def succeeded(
        self, claimed: Claimed, record: Callable[[Session, datetime], None] | None = None
    ) -> None:
        """Mark the row sent; ``record`` writes what the delivery left behind (where an alert
        landed) in the same transaction."""
        with self.db.transaction() as session:
            row = self._still_ours(session, claimed)
            if row is None:
                return
            now = self.clock()
            row.sent_at = now
            row.last_error = None
            if record is not None:
                record(session, now)

    def failed(self, claimed: Claimed, error: Undeliverable) -> None:
        log.warning(
            "outbox %s (%s) attempt %s failed: %s",
            claimed.id,
            claimed.kind,
            claimed.attempts,
            error,
        )
        with self.db.transaction() as session:
            row = self._still_ours(session, claimed)
            if row is None:
                return
            row.last_error = str(error)[:2000]
            now = self.clock()
            if error.permanent:
                log.error("outbox %s (%s) given up: %s", claimed.id, claimed.kind, error)
                row.gave_up_at = now
            else:
                row.next_attempt_at = now + backoff(claimed.attempts, error.retry_after)

    def retry_given_up(self) -> int:
        """Queue every given-up row again (after fixing what Slack refused, e.g. inviting the
        bot to a channel); returns how many."""
        with self.db.transaction() as session:
            rows = session.scalars(
                select(Outbox).where(Outbox.sent_at.is_(None), Outbox.gave_up_at.is_not(None))
            ).all()
            for row in rows:
                row.gave_up_at = None
                row.next_attempt_at = self.clock()
            return len(rows)

    @staticmethod
    def _still_ours(session: Session, claimed: Claimed) -> Outbox | None:
        """The row, unless it was finished meanwhile or another worker took it over after our
        lease ran out (its ``attempts`` moved on): then the outcome is that worker's to record."""
        row = session.get(Outbox, claimed.id, with_for_update=True)
        if row is None or row.sent_at is not None or row.attempts != claimed.attempts:
            return None
        return row


class Leases:
    """The rows one worker holds, their leases renewed every quarter lease by one thread (started
    with the first row, so a drain that finds nothing starts none)."""

    def __init__(self, queue: OutboxQueue) -> None:
        self.queue = queue
        self._held: dict[int, Claimed] = {}
        self._lost: set[int] = set()
        self._lock = threading.Lock()
        self._done = threading.Event()
        self._beat: threading.Thread | None = None

    def stop(self) -> None:
        """No renewal starts after this; one under way only extends rows already finished or
        given back, which their compare-and-set then refuses or which nobody minds."""
        self._done.set()

    def add(self, claimed: Claimed) -> None:
        with self._lock:
            self._held[claimed.id] = claimed
            if self._beat is None:
                self._beat = threading.Thread(
                    target=self._heartbeat, name="leadbot-leases", daemon=True
                )
                self._beat.start()

    def discard(self, claimed: Claimed) -> None:
        with self._lock:
            self._held.pop(claimed.id, None)

    def lost(self, claimed: Claimed) -> bool:
        """Whether the row's lease could not be renewed: another worker may have it now."""
        with self._lock:
            return claimed.id in self._lost

    def _heartbeat(self) -> None:
        while not self._done.wait(self.queue.lease.total_seconds() / 4):
            with self._lock:
                held = list(self._held.values())
            if not held:
                continue
            try:
                lost = self.queue.renew_leases(held)
            except SQLAlchemyError as exc:  # try again next beat; the lease may run out
                log.warning("outbox leases not renewed: %s", exc)
                continue
            with self._lock:
                self._lost |= lost
                for row_id in lost:
                    self._held.pop(row_id, None)
