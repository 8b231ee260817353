"""A seeded history of handoffs, and what it should report, counted straight from the plan."""

from __future__ import annotations

import random
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy.orm import Session

from core.lifecycle import Stage
from core.models import Event
from core.services.stages import transition
from tests.factories import accept, make_lead

SINCE = datetime(2026, 11, 2, 0, 0, tzinfo=UTC)
UNTIL = datetime(2026, 11, 30, 0, 0, tzinfo=UTC)
SOURCES = ["webinar", "ads", "list", "partner", None]
CAMPAIGNS = ["spring", "fall", None]
# title -> the labels of the example config's fit rules it matches
TITLES = {
    "VP Sales": {"title contains 'vp'"},
    "Director of IT": {"title contains 'director'"},
    "Engineer": set(),
    "Student": {"title contains 'student'"},
}
# event types with points in the example config; "podcast" is unknown there and scores nothing
EVENT_TYPES = ["pricing_page_view", "webinar_attended", "page_view", "trial_started", "podcast"]
REASONS = ["Bad fit: too small", "Bad fit", "Competitor: uses X", "Not ready yet", "Spam or fake"]


@dataclass
class Planned:
    """One handoff as planned, and what the report must make of it."""

    source: str | None
    campaign: str | None
    labels: set[str]
    verdict: str | None  # accepted / rejected / None
    reason: str | None  # label
    sql: bool
    team: str


@dataclass
class History:
    handoffs: list[Planned] = field(default_factory=list)

    def only(self, team: str | None) -> list[Planned]:
        return [h for h in self.handoffs if team is None or h.team == team]


def _label(reason: str) -> str:
    return reason.split(":")[0]


def seed_history(session: Session, seed: int = 7, leads: int = 90) -> History:
    """``leads`` leads qualified between SINCE and UNTIL (and some outside), with sources,
    campaigns (as a field or in properties), titles, events before and after qualifying, and
    verdicts: accepted (some then SQL), rejected with reasons, undecided, decided only after
    UNTIL, or parked by leadbot. Students are planted to be rejected as a bad fit more often."""
    rng = random.Random(seed)
    history = History()
    for n in range(leads):
        title = rng.choice(list(TITLES))
        size = rng.choice([50, 500])
        country = rng.choice(["DE", "BR"])
        source = rng.choice(SOURCES)
        campaign = rng.choice(CAMPAIGNS)
        in_properties = campaign is not None and rng.random() < 0.3
        team = rng.choice(["emea", "na"])
        qualified_at = SINCE + timedelta(hours=rng.randrange(0, 26 * 24))
        outside = n % 15 == 0  # qualified before the window: must not count
        if outside:
            qualified_at = SINCE - timedelta(days=3)
        lead = make_lead(
            session,
            now=qualified_at - timedelta(days=5),
            team=team,
            title=title,
            company_size=size,
            country=country,
            source=source,
            campaign=None if in_properties else campaign,
            properties={"campaign": campaign} if in_properties else {},
        )
        labels = set(TITLES[title])
        later_labels = set()  # events after the first qualification, before a second one
        if size >= 200:
            labels.add("company_size at least 200")
        if country == "DE":
            labels.add("country is 'DE'")
        for kind in rng.sample(EVENT_TYPES, rng.randrange(0, 4)):
            before = rng.random() < 0.7
            when = qualified_at + timedelta(hours=-rng.randrange(1, 200) if before else 2)
            session.add(
                Event(lead_id=lead.id, type=kind, occurred_at=when, received_at=when, properties={})
            )
            if kind != "podcast":
                (labels if before else later_labels).add(f"{kind} event")
        transition(session, lead, Stage.MQL, actor="system", now=qualified_at)
        fate = rng.random()
        bad_fit_bias = 0.5 if title == "Student" else 0.1
        verdict = reason = None
        sql = False
        later = qualified_at + timedelta(hours=rng.randrange(1, 48))
        if fate < bad_fit_bias:
            verdict, reason = "rejected", "Bad fit" if rng.random() < 0.5 else "Bad fit: too small"
        elif fate < 0.55:
            verdict = "accepted"
        elif fate < 0.7:
            verdict, reason = "rejected", rng.choice(REASONS[2:])
        elif fate < 0.8:
            verdict = "late"  # decided after UNTIL: no verdict in the report
        elif fate < 0.85:
            verdict = "system"  # leadbot parked it: not a verdict from sales
        if verdict == "accepted":
            accept(session, lead, "U0REP1", later)
            if rng.random() < 0.4:
                sql_at = later + timedelta(days=1)
                transition(session, lead, Stage.SQL, actor="U0REP1", now=sql_at)
                sql = sql_at < UNTIL
        elif verdict == "rejected":
            to = Stage.UNQUALIFIED if reason and reason.startswith("Bad fit") else Stage.NURTURE
            transition(session, lead, to, actor="U0REP2", now=later, reason=reason)
            if to is Stage.NURTURE and rng.random() < 0.5 and not outside:
                # Qualified again: a second handoff, accepted, then SQL.
                again = later + timedelta(hours=3)
                transition(session, lead, Stage.MQL, actor="system", now=again)
                accept(session, lead, "U0REP1", again)
                transition(session, lead, Stage.SQL, actor="U0REP1", now=again)
                if again < UNTIL:
                    second = Planned(
                        source, campaign, labels | later_labels, "accepted", None, True, team
                    )
                    history.handoffs.append(second)
        elif verdict == "late":
            transition(session, lead, Stage.SAL, actor="U0REP1", now=UNTIL + timedelta(hours=1))
        elif verdict == "system":
            transition(session, lead, Stage.NURTURE, actor="system", now=later, reason="stale")
        if not outside:
            decided = verdict in ("accepted", "rejected") and later < UNTIL
            history.handoffs.append(
                Planned(
                    source,
                    campaign,
                    labels,
                    verdict if decided else None,
                    _label(reason) if decided and reason else None,
                    sql,
                    team,
                )
            )
    session.flush()
    return history


def expected_groups(handoffs: list[Planned], key: str) -> dict[Any, dict[str, Any]]:
    out: dict[Any, dict[str, Any]] = {}
    grouped: dict[Any, list[Planned]] = defaultdict(list)
    for h in handoffs:
        grouped[getattr(h, key)].append(h)
    for name, members in grouped.items():
        decided = [h for h in members if h.verdict]
        out[name] = {
            "handoffs": len(members),
            "accepted": (sum(h.verdict == "accepted" for h in decided), len(decided)),
            "sql": (sum(h.sql for h in members), len(members)),
            "rejections": Counter(h.reason for h in decided if h.verdict == "rejected"),
        }
    return out


def expected_rules(handoffs: list[Planned]) -> dict[str, tuple[int, int]]:
    counts: dict[str, list[int]] = defaultdict(lambda: [0, 0])
    for h in handoffs:
        if h.verdict:
            for label in h.labels:
                counts[label][1] += 1
                counts[label][0] += h.reason == "Bad fit"
    return {label: (bad, total) for label, (bad, total) in counts.items()}
