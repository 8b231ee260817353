"""Figure 4: one reminders run deciding what is due among many leads (Slack excluded), against
one indexed SQL query over the same predicate; each in its own process, so its peak memory is
its own (figure 8).

    python -m benchmarks.stale ours|bare URL REPEAT   # prints {"seconds": [...], "rss_mb": ...}
"""

from __future__ import annotations

import json
import os
import sys
import time

from sqlalchemy import and_, exists, or_, select

from benchmarks.common import ROOT, peak_rss_mb
from benchmarks.seed import NOW
from core.config import load_config
from core.db import Database
from core.models import Lead, SentReminder, StageTransition
from core.services.reminders import LEVELS, due_reminders


def bare_query(db: Database) -> int:
    """Open leads past their first SLA whose stage entry still lacks a level."""
    config = load_config(ROOT / "leadbot.example.toml")
    from core.services.reminders import _earliest_real_time

    clauses = []
    for stage, levels in LEVELS.items():
        unsent = [
            ~exists().where(
                SentReminder.transition_id == StageTransition.id, SentReminder.level == lvl
            )
            for lvl in levels
        ]
        clauses.append(
            and_(
                Lead.stage == stage.value,
                Lead.stage_changed_at
                <= NOW - min(_earliest_real_time(getattr(config.sla, lvl)) for lvl in levels),
                or_(*unsent),
            )
        )
    query = (
        select(Lead.id, StageTransition.id)
        .join(
            StageTransition,
            and_(StageTransition.lead_id == Lead.id, StageTransition.at == Lead.stage_changed_at),
        )
        .where(or_(*clauses))
    )
    with db.transaction() as session:
        return len(session.execute(query).all())


def main(mode: str, url: str, repeat: int) -> None:
    db = Database(url)
    config = load_config(ROOT / "leadbot.example.toml")
    seconds, found = [], 0
    for _ in range(repeat):
        start = time.perf_counter()
        if mode == "ours":
            with db.transaction() as session:
                found = len(due_reminders(session, config, NOW))
        else:
            found = bare_query(db)
        seconds.append(time.perf_counter() - start)
    db.dispose()
    print(json.dumps({"seconds": seconds, "found": found, "rss_mb": peak_rss_mb(os.getpid())}))


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2], int(sys.argv[3]))
