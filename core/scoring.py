"""Lead scoring, pure: profile and events in, score, grade, reasons and a decision out.

- **fit**: the points of every matching ``[[scoring.fit]]`` rule, summed and clipped to 0..100,
  graded A >= 75, B >= 50, C >= 25, else D.
- **engagement**: each behavioural event's points, halved every ``half_life_days`` of age as of
  ``now``; the sum never goes below 0. Events after ``now`` have not happened yet and count 0.
- **product**: the same for product events, towards a PQL.

Every point is explained by a reason; when clipping changes a total, that adjustment is a reason
too, so the reasons of an axis always add up to its score.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Literal

from core.config import FitRule, Scoring
from core.lifecycle import Stage

Axis = Literal["fit", "engagement", "product"]
GRADE_FLOORS = (("A", 75.0), ("B", 50.0), ("C", 25.0))


@dataclass(frozen=True)
class ScoredEvent:
    type: str
    occurred_at: datetime


@dataclass(frozen=True)
class Folded:
    """Events deleted by retention, folded in: their raw decayed points as of ``at``."""

    at: datetime
    engagement: float
    product: float


@dataclass(frozen=True)
class Reason:
    axis: Axis
    rule: str
    points: float

    def as_dict(self) -> dict[str, Any]:
        return {"rule": f"{self.axis}: {self.rule}", "points": round(self.points, 2)}


@dataclass(frozen=True)
class Score:
    fit: float
    grade: str
    engagement: float
    product: float
    reasons: tuple[Reason, ...]

    def reasons_for(self, axis: Axis) -> list[Reason]:
        return [reason for reason in self.reasons if reason.axis == axis]


@dataclass(frozen=True)
class Decision:
    """Where scoring says a lead belongs: ``mql``, ``pql`` or None, and the rule that said so."""

    stage: Stage | None
    rule: str | None = None


def grade_of(fit: float) -> str:
    return next((grade for grade, floor in GRADE_FLOORS if fit >= floor), "D")


def _text(value: Any) -> str | None:
    if value is None:
        return None
    text = str(value).strip()
    return text.casefold() if text else None


def _number(value: Any) -> float | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        try:
            result = float(value)
        except OverflowError:  # an integer no float can hold reads as no number
            return None
        return result if math.isfinite(result) else None
    try:
        number = float(str(value).strip())
    except (ValueError, OverflowError):
        return None
    return number if math.isfinite(number) else None


def _field(lead: Mapping[str, Any], field: str) -> Any:
    if field.startswith("properties."):
        properties = lead.get("properties") or {}
        return (
            properties.get(field.removeprefix("properties."))
            if isinstance(properties, Mapping)
            else None
        )
    return lead.get(field)


def match_rule(rule: FitRule, lead: Mapping[str, Any]) -> str | None:
    """The rule's explanation if it matches ``lead``, else None."""
    value = _field(lead, rule.field)
    if rule.contains is not None:
        text = _text(value)
        hit = next((word for word in rule.contains if text and word.casefold() in text), None)
        return f"{rule.field} contains {hit!r}" if hit is not None else None
    if rule.in_ is not None:
        text = _text(value)
        hit = next((option for option in rule.in_ if text == option.casefold()), None)
        return f"{rule.field} is {hit!r}" if hit is not None else None
    if rule.equals is not None:
        if isinstance(rule.equals, str):
            matched = _text(value) == rule.equals.casefold()
        else:
            matched = _number(value) == float(rule.equals)
        return f"{rule.field} is {rule.equals!r}" if matched else None
    number = _number(value)
    if number is None:
        return None
    if rule.at_least is not None and number >= rule.at_least:
        return f"{rule.field} at least {rule.at_least:g}"
    if rule.below is not None and number < rule.below:
        return f"{rule.field} below {rule.below:g}"
    return None


def fit_score(rules: Iterable[FitRule], lead: Mapping[str, Any]) -> tuple[float, list[Reason]]:
    reasons = [
        Reason("fit", label, float(rule.points))
        for rule in rules
        if (label := match_rule(rule, lead)) is not None and rule.points
    ]
    raw = math.fsum(reason.points for reason in reasons)
    fit = min(100.0, max(0.0, raw))
    if fit != raw:
        reasons.append(Reason("fit", f"clipped to {fit:g}", fit - raw))
    return fit, reasons


def decay(points: float, age: timedelta, half_life_days: float) -> float:
    """``points`` halved for every ``half_life_days`` of ``age``; no decay for a negative age."""
    days = max(age.total_seconds(), 0.0) / 86400.0
    return points * math.pow(0.5, days / half_life_days)


def decayed_score(
    table: Mapping[str, int],
    events: Iterable[ScoredEvent],
    *,
    now: datetime,
    half_life_days: float,
    axis: Axis,
    folded: tuple[datetime, float] | None = None,
) -> tuple[float, list[Reason]]:
    """Sum of decayed points of ``events`` per ``table``, floored at 0, with per-type reasons;
    ``folded`` adds the raw points (as of a moment) of events retention deleted, decayed on."""
    per_type: dict[str, list[float]] = defaultdict(list)
    for event in events:
        points = table.get(event.type, 0)
        if points and event.occurred_at <= now:
            per_type[event.type].append(decay(points, now - event.occurred_at, half_life_days))
    reasons = [
        Reason(axis, f"{kind} x{len(values)}", math.fsum(values))
        for kind, values in sorted(per_type.items())
    ]
    earlier = 0.0
    if folded is not None and folded[1]:
        earlier = decay(folded[1], now - folded[0], half_life_days)
        reasons.append(Reason(axis, "earlier events (folded by retention)", earlier))
    raw = math.fsum(value for values in per_type.values() for value in values) + earlier
    total = max(0.0, raw)
    if total != raw:
        reasons.append(Reason(axis, "floored at 0", total - raw))
    return total, reasons


def score_lead(
    scoring: Scoring,
    lead: Mapping[str, Any],
    events: Iterable[ScoredEvent],
    now: datetime,
    folded: Folded | None = None,
) -> Score:
    events = list(events)
    fit, fit_reasons = fit_score(scoring.fit, lead)
    engagement, engagement_reasons = decayed_score(
        scoring.events,
        events,
        now=now,
        half_life_days=scoring.half_life_days,
        axis="engagement",
        folded=(folded.at, folded.engagement) if folded else None,
    )
    product, product_reasons = decayed_score(
        scoring.product_events,
        events,
        now=now,
        half_life_days=scoring.half_life_days,
        axis="product",
        folded=(folded.at, folded.product) if folded else None,
    )
    reasons = sorted(
        fit_reasons + engagement_reasons + product_reasons,
        key=lambda reason: (-abs(reason.points), reason.axis, reason.rule),
    )
    return Score(fit, grade_of(fit), engagement, product, tuple(reasons))


def decide(
    scoring: Scoring, score: Score, events: Iterable[ScoredEvent], now: datetime
) -> Decision:
    """MQL by a recent hand-raiser or by engagement (both need an allowed grade); else PQL by
    product engagement; else nothing. A hand-raiser counts for ``half_life_days`` after it."""
    if scoring.grade_allows(score.grade):
        window = timedelta(days=scoring.half_life_days)
        raised = sorted(
            (
                event
                for event in events
                if event.type in scoring.hand_raisers
                and timedelta(0) <= now - event.occurred_at <= window
            ),
            key=lambda event: event.occurred_at,
        )
        if raised:
            return Decision(Stage.MQL, f"hand-raiser {raised[-1].type} with grade {score.grade}")
        if score.engagement >= scoring.mql_threshold:
            return Decision(
                Stage.MQL,
                f"engagement {score.engagement:.1f} >= mql_threshold {scoring.mql_threshold:g}"
                f" with grade {score.grade}",
            )
    if score.product >= scoring.pql_threshold:
        return Decision(
            Stage.PQL, f"product {score.product:.1f} >= pql_threshold {scoring.pql_threshold:g}"
        )
    return Decision(None)
