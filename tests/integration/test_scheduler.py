"""The scheduler inside `leadbot serve`: its jobs, catching up once, and its place in the app's
lifespan."""

from __future__ import annotations

import threading
import time
from datetime import UTC, datetime, timedelta

from apscheduler.triggers.cron import CronTrigger
from apscheduler.triggers.interval import IntervalTrigger
from fastapi.testclient import TestClient

from bot.http.server import create_app
from bot.workers.scheduler import DIGEST_GRACE_SECONDS, REMINDERS_EVERY_SECONDS, build_scheduler


def test_jobs_coalesce_and_never_overlap(runtime):
    scheduler = build_scheduler(runtime)
    jobs = {job.id: job for job in scheduler.get_jobs()}
    assert set(jobs) == {"reminders", "digest", "retrain", "prune"}
    for job in jobs.values():
        assert job.coalesce is True and job.max_instances == 1
    reminders, digest = jobs["reminders"], jobs["digest"]
    assert isinstance(reminders.trigger, IntervalTrigger)
    assert reminders.trigger.interval == timedelta(seconds=REMINDERS_EVERY_SECONDS)
    assert reminders.misfire_grace_time == REMINDERS_EVERY_SECONDS
    assert isinstance(digest.trigger, CronTrigger)
    assert digest.misfire_grace_time == DIGEST_GRACE_SECONDS
    # The digest runs at every full hour from 08:00 to 23:00 UTC (later runs find it queued).
    fires = digest.trigger.get_next_fire_time(None, datetime(2026, 11, 23, 7, 30, tzinfo=UTC))
    assert fires == datetime(2026, 11, 23, 8, 0, tzinfo=UTC)
    late = digest.trigger.get_next_fire_time(None, datetime(2026, 11, 23, 23, 30, tzinfo=UTC))
    assert late == datetime(2026, 11, 24, 8, 0, tzinfo=UTC)
    # Retraining is weekly: Monday 05:00 UTC (2026-11-23 is a Monday).
    retrain = jobs["retrain"].trigger
    assert retrain.get_next_fire_time(None, datetime(2026, 11, 23, 6, 0, tzinfo=UTC)) == datetime(
        2026, 11, 30, 5, 0, tzinfo=UTC
    )
    prune = jobs["prune"].trigger  # daily, at a quiet hour
    assert prune.get_next_fire_time(None, datetime(2026, 11, 23, 6, 0, tzinfo=UTC)) == datetime(
        2026, 11, 24, 3, 30, tzinfo=UTC
    )


def test_missed_runs_after_a_pause_are_caught_up_once(runtime):
    ran: list[str] = []
    done = threading.Event()

    def count(name):
        def job(_runtime):
            ran.append(name)
            done.set()
            return name

        return job

    scheduler = build_scheduler(
        runtime, jobs={"reminders": count("reminders"), "digest": count("digest")}
    )
    scheduler.start(paused=True)
    try:
        # As if the process had been suspended for an hour: twelve reminder runs were missed.
        scheduler.modify_job("reminders", next_run_time=datetime.now(UTC) - timedelta(hours=1))
        scheduler.resume()
        assert done.wait(10)
        time.sleep(0.5)
    finally:
        scheduler.shutdown()
    assert ran == ["reminders"]


def test_the_app_starts_and_stops_the_scheduler(runtime):
    scheduler = build_scheduler(runtime)
    with TestClient(create_app(runtime, scheduler=scheduler)) as client:
        assert client.get("/healthz").status_code == 200
        assert scheduler.running
    assert not scheduler.running
