"""The clock inside ``leadbot serve``: APScheduler 3 runs each job in a background thread. A job
is one call into ``core.services`` in one transaction, then a nudge to the outbox worker.

- ``reminders`` every 5 minutes: stale-lead reminders and escalations that came due.
- ``retrain`` on Mondays at 05:00 UTC: a new learned-scoring model from the week's outcomes,
  unless ``[scoring.model] use = "off"``.
- ``prune`` daily at 03:30 UTC: forgets the records of modals opened more than a week ago,
  and applies ``[privacy]`` retention (old raw events folded and deleted, stale leads anonymized).
- ``digest`` at minute 0 of every hour from 08:00 to 23:00 UTC: the first run of the day
  queues yesterday's digest, the later ones find it queued and do nothing. So a process that
  starts (or wakes) after 08:00 still sends the day's digest, at the next full hour.

Missed runs (a paused process, a busy machine) are caught up once: ``coalesce`` folds every
missed run of a job into one, ``misfire_grace_time`` (one period) lets that one run late, and
``max_instances=1`` never runs a job twice at once in a process. Across processes, each job
takes a PostgreSQL advisory lock for its period first (:mod:`core.joblock`): one process runs
it, the others skip; and the database's unique keys make a later second run a no-op.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from datetime import UTC

from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.triggers.cron import CronTrigger
from apscheduler.triggers.interval import IntervalTrigger

from bot.runtime import Runtime
from core import joblock
from core.services import digest, learning, offers, opened_views, reminders, retention

log = logging.getLogger(__name__)

REMINDERS_EVERY_SECONDS = 5 * 60
RETRAIN_WEEKDAY, RETRAIN_HOUR = "mon", 5  # UTC, before the working week starts
RETRAIN_GRACE_SECONDS = 24 * 60 * 60
DIGEST_HOURS = "8-23"  # UTC; the first run at or after 08:00 sends the day's digest
DIGEST_GRACE_SECONDS = 60 * 60
PRUNE_HOUR, PRUNE_MINUTE = 3, 30  # UTC, a quiet hour
PRUNE_GRACE_SECONDS = 24 * 60 * 60

Job = Callable[[Runtime], str]


BUSY = "another process is running it"


def run_reminders(runtime: Runtime) -> str:
    """Claim windows that ran out are closed first, then the SLA reminders come due."""
    with runtime.db.transaction() as session:
        if not joblock.hold(
            session, "reminders", joblock.slot(runtime.now(), REMINDERS_EVERY_SECONDS)
        ):
            return f"reminders: {BUSY}"
        opened = offers.close_expired_windows(session, runtime.config, runtime.now())
        queued = reminders.send_reminders(session, runtime.config, runtime.now())
    if queued or opened:
        runtime.outbox_changed()
    windows = f", claim windows closed {len(opened)}" if opened else ""
    return f"reminders: queued {len(queued)}{windows}"


def run_digest(runtime: Runtime) -> str:
    with runtime.db.transaction() as session:
        if not joblock.hold(session, "digest", joblock.day(runtime.now())):
            return f"digest: {BUSY}"
        queued = digest.queue_digest(session, runtime.config, runtime.now())
    if queued:
        runtime.outbox_changed()
    day = digest.digest_day(runtime.now()).isoformat()
    return f"digest: {'queued' if queued else 'already queued'} for {day}"


def run_retrain(runtime: Runtime) -> str:
    with runtime.db.transaction() as session:
        if not joblock.hold(session, "retrain", joblock.week(runtime.now())):
            return f"retrain: {BUSY}"
        return "retrain: " + learning.retrain_weekly(session, runtime.config, runtime.now())


def run_prune(runtime: Runtime) -> str:
    """Old form records forgotten, then retention (``[privacy]``): old raw events folded into
    the score and deleted, leads that went nowhere anonymized."""
    with runtime.db.transaction() as session:
        if not joblock.hold(session, "prune", joblock.day(runtime.now())):
            return f"prune: {BUSY}"
        forgotten = opened_views.prune(session, runtime.now())
        pruned = retention.prune(session, runtime.config, runtime.now())
    if pruned.slack_messages or pruned.unqualified or pruned.nurture:
        runtime.outbox_changed()
    runtime.db.checkpoint()  # SQLite: old page versions leave the -wal file too
    return f"prune: {forgotten} old form record(s) forgotten; {pruned.summary()}"


#: Every job `leadbot jobs run NAME` knows besides `outbox`.
JOBS: dict[str, Job] = {
    "reminders": run_reminders,
    "digest": run_digest,
    "retrain": run_retrain,
    "prune": run_prune,
}


def _logged(name: str, job: Job, runtime: Runtime) -> Callable[[], None]:
    def run() -> None:
        log.info("%s", job(runtime))

    run.__name__ = f"leadbot_{name}"
    return run


def build_scheduler(runtime: Runtime, jobs: Mapping[str, Job] | None = None) -> BackgroundScheduler:
    """A scheduler (not started) with the reminders and digest jobs."""
    jobs = jobs or JOBS
    scheduler = BackgroundScheduler(timezone=UTC)
    scheduler.add_job(
        _logged("reminders", jobs["reminders"], runtime),
        IntervalTrigger(seconds=REMINDERS_EVERY_SECONDS, timezone=UTC),
        id="reminders",
        coalesce=True,
        max_instances=1,
        misfire_grace_time=REMINDERS_EVERY_SECONDS,
    )
    scheduler.add_job(
        _logged("digest", jobs["digest"], runtime),
        CronTrigger(hour=DIGEST_HOURS, minute=0, timezone=UTC),
        id="digest",
        coalesce=True,
        max_instances=1,
        misfire_grace_time=DIGEST_GRACE_SECONDS,
    )
    if "prune" in jobs:
        scheduler.add_job(
            _logged("prune", jobs["prune"], runtime),
            CronTrigger(hour=PRUNE_HOUR, minute=PRUNE_MINUTE, timezone=UTC),
            id="prune",
            coalesce=True,
            max_instances=1,
            misfire_grace_time=PRUNE_GRACE_SECONDS,
        )
    if "retrain" in jobs:
        scheduler.add_job(
            _logged("retrain", jobs["retrain"], runtime),
            CronTrigger(day_of_week=RETRAIN_WEEKDAY, hour=RETRAIN_HOUR, minute=0, timezone=UTC),
            id="retrain",
            coalesce=True,
            max_instances=1,
            misfire_grace_time=RETRAIN_GRACE_SECONDS,
        )
    return scheduler
