"""One delivery protocol for every queue of things to tell an outside system: Slack messages
(``outbox``), webhooks (``webhook_deliveries``) and, with the same columns, CRM writes. The
tables differ; what happens to a row does not:

1. claim: in a short transaction, take the oldest due row whose key (a lead, or a lead and an
   endpoint) has no earlier row still waiting (``FOR UPDATE SKIP LOCKED`` on PostgreSQL, so
   several processes never take the same row), count the attempt and lease the row; commit.
2. deliver, outside any transaction, while the worker renews the lease (``renew``); a row can
   be given back untried (``defer``). A worker that dies (kill -9, a lost machine) stops
   renewing, so its row, and with it every later row of its key, is free again within a lease.
3. finish: ``delivered``, or ``failed`` with the error and when to try again, or given up when
   trying again cannot help. A given-up row stays, with its error, for people to see, and no
   longer holds up its key's later rows. Each outcome is recorded only by the worker that still
   holds the row (same ``attempts``): one whose lease ran out and was taken over records nothing.

Every queue table has the columns ``id``, ``created_at``, ``next_attempt_at``, ``attempts``,
``last_error``, ``delivered_at`` and ``gave_up_at``; a :class:`Queue` names the table and the
columns its rows are ordered by. Pure SQL on a session: no threads, no clock of its own.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Generic, Protocol, TypeVar

from sqlalchemy import ColumnElement, Select, and_, bindparam, exists, select, update
from sqlalchemy.orm import InstrumentedAttribute, Session, aliased

MAX_BACKOFF = timedelta(minutes=15)
MAX_ERROR = 2000


class QueueRow(Protocol):
    id: Any
    created_at: Any
    next_attempt_at: Any
    attempts: Any
    last_error: Any
    delivered_at: Any
    gave_up_at: Any


Row = TypeVar("Row", bound=QueueRow)


def backoff(attempts: int, retry_after: float | None = None) -> timedelta:
    """When to try again after ``attempts`` failures: what the other side asked for, else 5 s
    doubling up to 15 minutes."""
    if retry_after is not None:
        return timedelta(seconds=max(1.0, retry_after))
    return min(MAX_BACKOFF, timedelta(seconds=5 * 2 ** max(0, attempts - 1)))


@dataclass(frozen=True)
class Queue(Generic[Row]):
    """A queue table and the columns that order its rows (rows of one key go out in id order)."""

    model: type[Row]
    key: Sequence[str]
    _claimable: Select[Any] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        # Built once: a claim follows every commit that queues a row, and building the
        # statement cost more than running it.
        object.__setattr__(self, "_claimable", self.claimable())

    def column(self, name: str, model: Any = None) -> InstrumentedAttribute[Any]:
        column: InstrumentedAttribute[Any] = getattr(model or self.model, name)
        return column

    def waiting(self, model: Any = None) -> list[ColumnElement[bool]]:
        """Conditions of a row that is neither delivered nor given up."""
        return [
            self.column("delivered_at", model).is_(None),
            self.column("gave_up_at", model).is_(None),
        ]

    def claimable(self, *conditions: ColumnElement[bool]) -> Select[Any]:
        """The oldest row due at ``:now`` whose key has no earlier waiting row, locked for the
        claimer; more ``conditions`` narrow it (callers may also join and add columns)."""
        earlier = aliased(self.model)
        blocked = exists().where(
            *(self.column(name, earlier) == self.column(name) for name in self.key),
            self.column("id", earlier) < self.column("id"),
            *self.waiting(earlier),
        )
        return (
            select(self.model)
            .where(
                *self.waiting(),
                self.column("next_attempt_at") <= bindparam("now"),
                ~blocked,
                *conditions,
            )
            .order_by(self.column("id"))
            .limit(1)
            .with_for_update(skip_locked=True, of=self.model)
        )

    def claim(
        self,
        session: Session,
        now: datetime,
        lease: timedelta,
        statement: Select[Any] | None = None,
    ) -> Any:
        """Lease the first row ``statement`` (default: :meth:`claimable`) finds: the result
        row (the queue row first, then any columns the statement added), or None."""
        found = session.execute(
            self._claimable if statement is None else statement, {"now": now}
        ).first()
        if found is None:
            return None
        row = found[0]
        row.attempts += 1
        row.next_attempt_at = now + lease
        return found

    def _held(self, row_id: int, attempts: int) -> list[ColumnElement[bool]]:
        return [
            self.column("id") == row_id,
            self.column("attempts") == attempts,
            self.column("delivered_at").is_(None),
        ]

    def renew(self, session: Session, held: Iterable[tuple[int, int]], until: datetime) -> set[int]:
        """Extend the leases of the rows ``(id, attempts)`` a worker holds; the ids of those that
        are no longer its own (finished, or taken over after a lease ran out)."""
        lost: set[int] = set()
        for row_id, attempts in held:
            result = session.execute(
                update(self.model)
                .where(*self._held(row_id, attempts))
                .values(next_attempt_at=until)
                .execution_options(synchronize_session=False)
            )
            if not result.rowcount:  # type: ignore[attr-defined]
                lost.add(row_id)
        return lost

    def defer(self, session: Session, row_id: int, attempts: int, until: datetime) -> None:
        """Give a claimed row back untried, due again at ``until``: the other side was not asked
        (or refused with a rate limit and did nothing), so the attempt does not count."""
        session.execute(
            update(self.model)
            .where(*self._held(row_id, attempts))
            .values(attempts=attempts - 1, next_attempt_at=until)
            .execution_options(synchronize_session=False)
        )

    def still_ours(self, session: Session, row_id: int, attempts: int) -> Row | None:
        """The row, locked, unless it was finished meanwhile or another worker took it over
        after our lease ran out (its ``attempts`` moved on): then the outcome is theirs."""
        row = session.get(self.model, row_id, with_for_update=True)
        if row is None or row.delivered_at is not None or row.attempts != attempts:
            return None
        return row

    def delivered(self, session: Session, row_id: int, attempts: int, now: datetime) -> Row | None:
        row = self.still_ours(session, row_id, attempts)
        if row is not None:
            row.delivered_at = now
            row.last_error = None
        return row

    def failed(
        self,
        session: Session,
        row_id: int,
        attempts: int,
        error: str,
        *,
        now: datetime,
        retry_at: datetime | None,
    ) -> Row | None:
        """Record a failed attempt: due again at ``retry_at``, or given up when it is None."""
        row = self.still_ours(session, row_id, attempts)
        if row is None:
            return None
        row.last_error = error[:MAX_ERROR]
        if retry_at is None:
            row.gave_up_at = now
            row.next_attempt_at = now
        else:
            row.next_attempt_at = retry_at
        return row

    def retry_given_up(
        self, session: Session, now: datetime, *conditions: ColumnElement[bool]
    ) -> int:
        """Queue every given-up row (matching ``conditions``) again, due now; how many."""
        rows = session.scalars(
            select(self.model).where(
                and_(
                    self.column("delivered_at").is_(None),
                    self.column("gave_up_at").is_not(None),
                    *conditions,
                )
            )
        ).all()
        for row in rows:
            row.gave_up_at = None
            row.next_attempt_at = now
        return len(rows)
