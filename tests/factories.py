"""Test data builders: ``make_lead(session, **overrides)``."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime
from typing import Any

from sqlalchemy.orm import Session

from core.models import Lead

_seq = itertools.count(1)
T0 = datetime(2026, 11, 2, 9, 0, tzinfo=UTC)  # a Monday


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
