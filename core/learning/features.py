"""Features of a lead *as of* a moment: the one definition shared by training, the live score
and the backtest, so the three can never disagree.

A lead here is a plain mapping (``profile_of`` of a stored lead, or a history file's row mapped
the way the CSV import maps it). Nothing after ``as_of`` is looked at: an event that happened
later is what the model must predict, not what it may learn from.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

#: Profile fields that describe who a lead is. Names, e-mail, phone and company name identify a
#: person or an account rather than describe one, so they never become features.
PROFILE_FEATURES = ("title", "company_size", "industry", "country", "source", "campaign")
IDENTITY_FIELDS = frozenset({"email", "first_name", "last_name", "phone", "company"})
PROPERTY_PREFIX = "properties."
EVENT_PREFIX = "events."
COUNT_SUFFIX = ".count"
RECENCY_SUFFIX = ".days_since_last"


@dataclass(frozen=True)
class Happened:
    """An event as the features see it: what and when."""

    type: str
    occurred_at: datetime


def lead_features(
    lead: Mapping[str, Any], events: Iterable[Happened] = (), as_of: datetime | None = None
) -> dict[str, Any]:
    """Feature name -> raw value (missing values are simply absent or None)."""
    features: dict[str, Any] = {name: readable(lead.get(name)) for name in PROFILE_FEATURES}
    properties = lead.get("properties") or {}
    if isinstance(properties, Mapping):
        for key, value in properties.items():
            if not isinstance(value, Mapping | list):
                features[PROPERTY_PREFIX + str(key)] = readable(value)
    counts: Counter[str] = Counter()
    latest: dict[str, datetime] = {}
    for event in events:
        if as_of is not None and event.occurred_at > as_of:
            continue
        counts[event.type] += 1
        if event.type not in latest or event.occurred_at > latest[event.type]:
            latest[event.type] = event.occurred_at
    for kind, count in counts.items():
        features[EVENT_PREFIX + kind + COUNT_SUFFIX] = count
        if as_of is not None:
            age = (as_of - latest[kind]).total_seconds() / 86400.0
            features[EVENT_PREFIX + kind + RECENCY_SUFFIX] = round(age, 3)
    return features


def readable(value: Any) -> Any:
    """``value``, or None (missing) when no model can read it: an integer no float can hold
    (stored before intake bounded numbers, or written to the database by hand)."""
    if isinstance(value, int) and not isinstance(value, bool):
        try:
            float(value)
        except OverflowError:
            return None
    return value


def absent_value(feature: str) -> Any:
    """What an absent feature means: no events of a type is a count of 0, not an unknown."""
    if feature.startswith(EVENT_PREFIX) and feature.endswith(COUNT_SUFFIX):
        return 0
    return None


def feature_label(feature: str) -> str:
    """How a person reads a feature's name: ``properties.budget`` is ``budget``."""
    if feature.startswith(PROPERTY_PREFIX):
        return feature.removeprefix(PROPERTY_PREFIX)
    if feature.startswith(EVENT_PREFIX):
        rest = feature.removeprefix(EVENT_PREFIX)
        if rest.endswith(COUNT_SUFFIX):
            return rest.removesuffix(COUNT_SUFFIX) + " events"
        if rest.endswith(RECENCY_SUFFIX):
            return "days since last " + rest.removesuffix(RECENCY_SUFFIX)
    return feature
