"""Benchmarks: each prints how many times slower than a baseline doing the bare minimum of the
same work, measured in the same process (ratios, not seconds, so they compare across machines).

    python benchmarks/run.py            # all
    python benchmarks/run.py scoring    # one
    python benchmarks/run.py --quick    # what CI runs
"""

from __future__ import annotations

import sys
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlalchemy import insert

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from core.config import load_config  # noqa: E402
from core.db import Database  # noqa: E402
from core.migrate import upgrade  # noqa: E402
from core.models import Event, Lead  # noqa: E402
from core.schemas import EventIn  # noqa: E402
from core.scoring import ScoredEvent, score_lead  # noqa: E402
from core.services.intake import record_events  # noqa: E402

CONFIG = load_config(ROOT / "leadbot.example.toml")
NOW = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)


def best_of(fn: Callable[[], object], repeat: int = 5) -> float:
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return min(times)


def report(name: str, ours: float, baseline: float, what: str) -> None:
    print(
        f"{name:<28} {ours / baseline:7.1f}x baseline   ({what}; ours {ours * 1e3:.1f} ms,"
        f" baseline {baseline * 1e3:.1f} ms)"
    )


def bench_scoring() -> None:
    """Scoring 2000 events with decay, reasons and fit rules vs summing their raw points."""
    kinds = list(CONFIG.scoring.events) + list(CONFIG.scoring.product_events)
    events = [ScoredEvent(kinds[i % len(kinds)], NOW - timedelta(hours=i)) for i in range(2000)]
    lead = {"title": "VP Sales", "company_size": 500, "country": "DE"}
    table = {**CONFIG.scoring.events, **CONFIG.scoring.product_events}
    ours = best_of(lambda: [score_lead(CONFIG.scoring, lead, events, NOW) for _ in range(20)])
    baseline = best_of(lambda: [sum(table.get(e.type, 0) for e in events) for _ in range(20)])
    report("scoring", ours, baseline, "20 x 2000 events")


def bench_intake() -> None:
    """A 1000-event batch through record_events (dedupe, lead creation, locking, re-scoring,
    qualification) vs inserting the same rows with one bare INSERT, on SQLite."""
    with tempfile.TemporaryDirectory() as tmp:
        url = f"sqlite:///{Path(tmp) / 'bench.db'}"
        upgrade(url)
        db = Database(url)
        rounds = iter(range(10_000))

        def ours() -> None:
            n = next(rounds)
            batch = [
                EventIn(
                    email=f"lead{i % 50}-{n}@example.com", type="page_view", event_id=f"{n}-{i}"
                )
                for i in range(1000)
            ]
            with db.transaction() as session:
                record_events(session, batch, config=CONFIG, now=NOW)

        def baseline() -> None:
            n = next(rounds)
            with db.transaction() as session:
                ids = [
                    session.execute(
                        insert(Lead).values(
                            email=f"raw{i}-{n}@example.com",
                            stage="lead",
                            properties={},
                            stage_changed_at=NOW,
                            created_at=NOW,
                            updated_at=NOW,
                            version=1,
                            fit=0,
                            grade="D",
                            engagement=0,
                            product=0,
                            score_reasons=[],
                        )
                    ).inserted_primary_key[0]
                    for i in range(50)
                ]
                session.execute(
                    insert(Event),
                    [
                        {
                            "lead_id": ids[i % 50],
                            "type": "page_view",
                            "event_id": f"raw-{n}-{i}",
                            "occurred_at": NOW,
                            "received_at": NOW,
                            "properties": {},
                        }
                        for i in range(1000)
                    ],
                )

        report("intake (1000 events)", best_of(ours), best_of(baseline), "SQLite, 50 new leads")
        db.dispose()


BENCHMARKS = {"scoring": bench_scoring, "intake": bench_intake}

if __name__ == "__main__":
    # --quick: every benchmark once, to show they still run (CI); the figures are the same kind.
    args = [arg for arg in sys.argv[1:] if arg != "--quick"]
    unknown = [name for name in args if name not in BENCHMARKS]
    if unknown:
        sys.exit(f"unknown benchmark {unknown[0]!r}; choose from {', '.join(BENCHMARKS)}")
    for name in args or list(BENCHMARKS):
        BENCHMARKS[name]()
