"""The Slack outbox on the one delivery protocol (:mod:`core.queue`): claims as
:class:`Claimed` rows, outcomes recorded in short transactions of their own, and the heartbeat
(:class:`Leases`) that renews a worker's leases while it delivers, however slow Slack is.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session

from core.db import Database
from core.models import Outbox
from core.queue import Queue, backoff

log = logging.getLogger(__name__)

#: How long a claimed row is its worker's: renewed every quarter lease while the worker is
#: delivering (however slow Slack is), so it runs out only when that worker is gone.
LEASE = timedelta(seconds=20)


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


#: The outbox on the one protocol: rows about one lead go out in order.
OUTBOX: Queue[Outbox] = Queue(Outbox, key=("lead_id",))


class OutboxQueue:
    def __init__(
        self, db: Database, clock: Callable[[], datetime], *, lease: timedelta = LEASE
    ) -> None:
        self.db = db
        self.clock = clock
        self.lease = lease

    def claim(self) -> Claimed | None:
        with self.db.transaction() as session:
            found = OUTBOX.claim(session, self.clock(), self.lease)
            if found is None:
                return None
            row = found[0]
            return Claimed(
                row.id, row.kind, row.lead_id, dict(row.payload), row.attempts, row.created_at
            )

    def renew_leases(self, claims: Iterable[Claimed]) -> set[int]:
        """Extend the leases of rows this worker holds, in one transaction; the ids of those
        that are no longer ours (finished, or taken over after a lease ran out)."""
        with self.db.transaction() as session:
            return OUTBOX.renew(
                session, [(c.id, c.attempts) for c in claims], self.clock() + self.lease
            )

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
            OUTBOX.defer(session, claimed.id, claimed.attempts, until)

    def succeeded(
        self,
        claimed: Claimed,
        record: Callable[[Session, datetime], None] | None = None,
        *,
        always: bool = False,
    ) -> None:
        """Mark the row sent; ``record`` writes what the delivery left behind (where a message
        landed) in the same transaction, only if this worker still held the row unless
        ``always``."""
        with self.db.transaction() as session:
            now = self.clock()
            marked = OUTBOX.delivered(session, claimed.id, claimed.attempts, now)
            if record and (marked or always):
                record(session, now)

    def failed(self, claimed: Claimed, error: Undeliverable) -> None:
        log.warning(
            "outbox %s (%s) attempt %s failed: %s",
            claimed.id,
            claimed.kind,
            claimed.attempts,
            error,
        )
        if error.permanent:
            log.error("outbox %s (%s) given up: %s", claimed.id, claimed.kind, error)
        with self.db.transaction() as session:
            now = self.clock()
            retry_at = (
                None if error.permanent else now + backoff(claimed.attempts, error.retry_after)
            )
            OUTBOX.failed(
                session, claimed.id, claimed.attempts, str(error), now=now, retry_at=retry_at
            )

    def retry_given_up(self) -> int:
        """Queue every given-up row again (after fixing what Slack refused, e.g. inviting the
        bot to a channel); returns how many."""
        with self.db.transaction() as session:
            return OUTBOX.retry_given_up(session, self.clock())


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
