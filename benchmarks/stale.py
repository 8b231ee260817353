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

from sqlalchemy import text

from benchmarks.common import ROOT, peak_rss_mb
from benchmarks.seed import NOW, _sqlite_time
from core.config import load_config
from core.db import Database
from core.services.reminders import due_reminders

#: The leads whose stored time has come (a range on the next_reminder_at index), with what the
#: decision needs: the stage entry, the levels sent for it, its snooze.
BARE = text(
    """
    SELECT l.id, l.stage, l.team, l.stage_changed_at, l.next_reminder_at, t.id, t.at,
           r.level, r.sent_at, z.until
    FROM leads l
    LEFT JOIN stage_transitions t
      ON t.lead_id = l.id AND t.at = l.stage_changed_at AND t.to_stage = l.stage
    LEFT JOIN sent_reminders r ON r.transition_id = t.id
    LEFT JOIN reminder_snoozes z ON z.transition_id = t.id
    WHERE l.next_reminder_at <= :now
    """
)


def bare_query(db: Database) -> int:
    """The same rows as the run reads, fetched raw: no types, no decisions."""
    now = _sqlite_time(NOW) if db.engine.dialect.name == "sqlite" else NOW
    with db.engine.connect() as connection:
        return len(connection.execute(BARE, {"now": now}).all())


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
