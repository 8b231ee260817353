"""`/lead stats`: the funnel, the handoff outcomes and each rep's part over a window, for the
people allowed to see them (managers and marketing)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy.orm import Session

from core import access
from core.config import WorkspaceConfig
from core.services import outcomes, reports

#: The windows `/lead stats` offers, by the word that names them.
PERIODS = {"7d": 7, "30d": 30, "90d": 90}


@dataclass(frozen=True)
class Stats:
    days: int
    team: str | None
    funnel: reports.Funnel
    outcomes: outcomes.Outcomes
    reps: list[reports.RepStats]
    caps: dict[str, int | None]  # each rep's cap of open leads


def stats(
    session: Session,
    config: WorkspaceConfig,
    user: str,
    *,
    team: str | None,
    days: int,
    now: datetime,
) -> Stats:
    access.check_stats(config, user)
    since = now - timedelta(days=days)
    return Stats(
        days=days,
        team=team,
        funnel=reports.funnel(session, config, since=since, until=now, team=team),
        outcomes=outcomes.outcomes(session, config, since=since, until=now, team=team),
        reps=reports.rep_stats(session, config, since=since, until=now, team=team),
        caps={r.id: r.max_open for t in config.teams for r in t.rep_entries},
    )
