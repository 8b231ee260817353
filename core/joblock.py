"""Each scheduled job once per period across any number of processes.

Every ``leadbot serve`` runs its own scheduler. A job's work is one transaction; on PostgreSQL
it first takes a transaction-scoped advisory lock keyed by the job's name and period (the ISO
week of a weekly job, the day of a daily one, the slot of a frequent one), without waiting: a
process that finds it taken skips the run, and one that comes after the holder committed finds
the work done (each job's own check: a version less than a week old, a digest already queued).
SQLite serves one process and needs no lock.
"""

from __future__ import annotations

import hashlib
from datetime import datetime

from sqlalchemy import text
from sqlalchemy.orm import Session

#: Keeps these keys apart from other advisory locks of the same database (the migration lock).
NAMESPACE = "leadbot.job"


def lock_key(job: str, period: str) -> int:
    """A signed 64-bit key for ``(job, period)``, as ``pg_try_advisory_xact_lock`` takes."""
    digest = hashlib.blake2b(f"{NAMESPACE}:{job}:{period}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big", signed=True)


def week(now: datetime) -> str:
    year, number, _ = now.isocalendar()
    return f"{year}-W{number:02d}"


def day(now: datetime) -> str:
    return now.date().isoformat()


def slot(now: datetime, seconds: int) -> str:
    return str(int(now.timestamp()) // seconds)


def hold(session: Session, job: str, period: str) -> bool:
    """Whether this transaction may run ``job`` for ``period``: on PostgreSQL it now holds the
    lock until it ends (False: another process holds it, skip); elsewhere always True."""
    if session.get_bind().dialect.name != "postgresql":
        return True
    taken = session.scalar(
        text("SELECT pg_try_advisory_xact_lock(:key)"), {"key": lock_key(job, period)}
    )
    return bool(taken)
