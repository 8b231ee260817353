"""Scheduled jobs run once across processes: on PostgreSQL two schedulers with engines of their
own, firing the weekly retrain at the same moment, store one model version between them."""

from __future__ import annotations

import threading
from datetime import UTC, datetime

import pytest
from sqlalchemy import func, select

from bot.runtime import Runtime
from bot.workers.scheduler import BUSY, run_digest, run_retrain
from core import joblock
from core.config import Settings
from core.db import Database
from core.models import ScoringModel
from tests.integration.test_learning import NOW, seed_outcomes


def test_keys_and_periods():
    monday = datetime(2026, 11, 23, 5, 0, tzinfo=UTC)
    assert joblock.week(monday) == "2026-W48" and joblock.day(monday) == "2026-11-23"
    assert joblock.slot(monday, 300) == joblock.slot(monday.replace(minute=4), 300)
    assert joblock.lock_key("retrain", "2026-W48") == joblock.lock_key("retrain", "2026-W48")
    assert joblock.lock_key("retrain", "2026-W48") != joblock.lock_key("retrain", "2026-W49")
    assert -(2**63) <= joblock.lock_key("digest", "2026-11-23") < 2**63


def test_sqlite_needs_no_lock(db, db_url):
    if not db_url.startswith("sqlite"):
        pytest.skip("the SQLite case")
    with db.transaction() as session:
        assert joblock.hold(session, "retrain", "2026-W48")
        assert joblock.hold(session, "retrain", "2026-W48")  # one process: nothing to exclude


def test_two_processes_retraining_at_once_store_one_version(db, db_url, config):
    if not db_url.startswith("postgresql"):
        pytest.skip("advisory locks are PostgreSQL's; SQLite serves one process")
    with db.transaction() as session:
        seed_outcomes(session, 240)
    runtimes = [
        Runtime(
            settings=Settings(LEADBOT_DATABASE_URL=db_url),
            config=config,
            db=Database(db_url),  # an engine, a pool and connections of its own
            clock=lambda: NOW,
        )
        for _ in range(2)
    ]
    start = threading.Barrier(2)
    said: list[str] = []

    def serve(runtime: Runtime) -> None:
        start.wait()
        said.append(run_retrain(runtime))

    threads = [threading.Thread(target=serve, args=(runtime,)) for runtime in runtimes]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    for runtime in runtimes:
        runtime.db.dispose()
    with db.transaction() as session:
        assert session.scalar(select(func.count()).select_from(ScoringModel)) == 1
    assert sum("trained on" in line for line in said) == 1, said  # one version, whatever its fate
    # The other one skipped: it found the lock taken, or (coming later) the week's version.
    assert sum(BUSY in line or "less than a week old" in line for line in said) == 1, said


def test_a_held_lock_makes_another_process_skip(db, db_url, config):
    if not db_url.startswith("postgresql"):
        pytest.skip("advisory locks are PostgreSQL's")
    other = Database(db_url)
    runtime = Runtime(settings=Settings(LEADBOT_DATABASE_URL=db_url), config=config, db=other,
                      clock=lambda: NOW)  # fmt: skip
    try:
        with db.transaction() as session:
            assert joblock.hold(session, "digest", joblock.day(NOW))
            assert run_digest(runtime) == f"digest: {BUSY}"
        assert run_digest(runtime) != f"digest: {BUSY}"  # released with the transaction
    finally:
        other.dispose()
