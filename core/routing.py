"""Lead -> team, by the workspace config's routes; the first team whose route matches wins."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
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
