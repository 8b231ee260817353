"""Test data builders: ``make_lead(session, **overrides)``."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy.orm import Session

from core.config import load_config
from core.lifecycle import Stage
from core.models import Lead, StageTransition
from core.services.handoff import hand_over
from core.services.stages import transition

_seq = itertools.count(1)
T0 = datetime(2026, 11, 2, 9, 0, tzinfo=UTC)  # a Monday
EXAMPLE = load_config(Path(__file__).resolve().parents[1] / "leadbot.example.toml")


def make_lead(session: Session, **overrides: Any) -> Lead:
    n = next(_seq)
    now = overrides.pop("now", T0)
    values: dict[str, Any] = {
        "email": f"lead{n}@example.com",
        "first_name": "Ada",
        "last_name": f"Lovelace{n}",
        "title": "VP Engineering",
        "company": f"Acme {n}",
        "company_size": 500,
        "country": "DE",
        "stage": "lead",
        "properties": {},
        "stage_changed_at": now,
        "created_at": now,
        "updated_at": now,
    }
    values.update(overrides)
    lead = Lead(**values)
    session.add(lead)
    session.flush()
    return lead


def story(session: Session, team: str | None, *steps: tuple[Any, ...]) -> int:
    """A lead and its moves, each ``(stage, actor, time[, reason])``; returns the lead's id.
    Accepting (``sal``) makes the actor the owner."""
    lead = make_lead(session, team=team, now=steps[0][2])
    for stage, actor, when, *reason in steps:
        if stage == "sal":
            accept(session, lead, actor, when, reason=reason[0] if reason else None)
        else:
            transition(
                session,
                lead,
                Stage(stage),
                actor=actor,
                now=when,
                reason=reason[0] if reason else None,
            )
    return lead.id


def accept(
    session: Session, lead: Lead, rep: str, now: datetime, *, reason: str | None = None
) -> StageTransition:
    """``rep`` accepts the lead, as the Accept button does (the example config's teams)."""
    return hand_over(session, lead, owner=rep, actor=rep, config=EXAMPLE, now=now, reason=reason)
