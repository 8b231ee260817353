"""Lead -> team, by the workspace config's routes (the first team whose route matches wins), and
lead -> rep inside the team. Pure: plain values in, a decision out."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from core.config import Route, Team


def _in(value: Any, options: Sequence[str] | None) -> bool:
    if options is None:
        return True
    if not isinstance(value, str) or not value.strip():
        return False
    wanted = value.strip().casefold()
    return any(option.casefold() == wanted for option in options)


def route_matches(route: Route, lead: Mapping[str, Any]) -> bool:
    """All conditions a route names must hold; ``default = true`` alone matches anything."""
    size = lead.get("company_size")
    if route.company_size_at_least is not None and (
        size is None or size < route.company_size_at_least
    ):
        return False
    if route.company_size_below is not None and (size is None or size >= route.company_size_below):
        return False
    return (
        _in(lead.get("country"), route.country)
        and _in(lead.get("industry"), route.industry)
        and _in(lead.get("source"), route.source)
    )


def route_lead(teams: Sequence[Team], lead: Mapping[str, Any]) -> Team | None:
    """The first team whose route matches ``lead`` (a mapping of profile fields), or None."""
    return next((team for team in teams if route_matches(team.route, lead)), None)


# --- lead -> rep: smooth weighted round robin ------------------------------------------------
#
# Each pick, every rep who can take the lead gains their weight; the rep with the most gained
# (the first in the config on a tie) is chosen and pays back the sum of the weights that took
# part. Over any stretch the picks follow the weights closely (2:1:1 gives a, b, c, a, ...),
# without the bursts of a plain weighted random choice. Reps who cannot take the lead neither
# gain nor pay, so a week away is not "made up" with a flood of leads on return.


@dataclass(frozen=True)
class Candidate:
    """A rep of the lead's team as they are at the moment of choosing."""

    id: str
    weight: float = 1.0
    max_open: int | None = None
    open_leads: int = 0
    #: Why the rep is away (``"away until 2026-12-10"``), or None when they are not.
    away: str | None = None

    @property
    def unavailable(self) -> str | None:
        if self.away:
            return self.away
        if self.max_open is not None and self.open_leads >= self.max_open:
            return f"at their cap ({self.open_leads} open of {self.max_open})"
        return None


@dataclass(frozen=True)
class Choice:
    """Who is offered the lead and why (None: nobody can take it, the team claims it); the
    rotation state to store; and who was passed over, with the reason."""

    rep: str | None
    reason: str | None
    rotation: dict[str, float]
    skipped: tuple[tuple[str, str], ...] = field(default_factory=tuple)


def choose_rep(
    candidates: Sequence[Candidate],
    rotation: Mapping[str, float],
    *,
    account_owner: str | None = None,
) -> Choice:
    """The rep to offer a lead to. The account owner, when they are a candidate who can take it
    now, gets it without moving the rotation; otherwise the smooth weighted round robin picks
    among the available candidates. ``rotation`` is the state the previous choice returned
    (missing reps start at 0); the returned state covers exactly ``candidates``."""
    state = {c.id: float(rotation.get(c.id, 0.0)) for c in candidates}
    skipped = tuple((c.id, why) for c in candidates if (why := c.unavailable))
    available = [c for c in candidates if c.unavailable is None]
    if account_owner is not None and any(c.id == account_owner for c in available):
        return Choice(account_owner, "account owner", state, skipped)
    if not available:
        return Choice(None, None, state, skipped)
    for c in available:
        state[c.id] += c.weight
    best = max(available, key=lambda c: (state[c.id], -candidates.index(c)))
    state[best.id] -= sum(c.weight for c in available)
    return Choice(best.id, "round robin", state, skipped)


def status_means_away(
    text: str, emoji: str, expiration: int, away_statuses: Sequence[str], now: datetime
) -> str | None:
    """Why a Slack status makes its user away at ``now`` (None: it does not). An entry like
    ``:palm_tree:`` matches the status emoji; any other matches whole words of the status text,
    ignoring case. ``expiration`` (Unix seconds, 0 for never) ends the status."""
    if expiration and expiration <= now.timestamp():
        return None
    words, icon = text.casefold(), emoji.strip().casefold()
    for entry in away_statuses:
        wanted = entry.strip().casefold()
        if len(wanted) > 2 and wanted.startswith(":") and wanted.endswith(":"):
            hit = icon == wanted
        else:
            hit = re.search(rf"(?<!\w){re.escape(wanted)}(?!\w)", words) is not None
        if hit:
            shown = text.strip() or emoji.strip()
            ends = (
                f" until {datetime.fromtimestamp(expiration, UTC):%Y-%m-%d %H:%M} UTC"
                if expiration
                else ""
            )
            return f"away (Slack status {shown!r}{ends})"
    return None
