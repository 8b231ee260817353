"""The CRM search language: filterGroups (OR of ANDs), one sort, ``limit`` and ``after``.

HubSpot's documented limits are enforced: at most 5 filter groups, 6 filters in a group and 18
in all, ``limit`` at most 200, and no result past the 10,000th (``after`` >= 10000 is a 400).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from emulators.hubspot.model import parse_time

MAX_GROUPS = 5
MAX_FILTERS_PER_GROUP = 6
MAX_FILTERS = 18
MAX_LIMIT = 200
RESULT_CAP = 10_000

OPERATORS = frozenset(
    {
        "EQ",
        "NEQ",
        "LT",
        "LTE",
        "GT",
        "GTE",
        "BETWEEN",
        "IN",
        "NOT_IN",
        "HAS_PROPERTY",
        "NOT_HAS_PROPERTY",
        "CONTAINS_TOKEN",
        "NOT_CONTAINS_TOKEN",
    }
)


class SearchError(ValueError):
    """A request HubSpot would refuse with 400 VALIDATION_ERROR."""


@dataclass(frozen=True)
class Query:
    groups: list[list[dict[str, Any]]]
    sort_by: str | None
    descending: bool
    properties: list[str] | None
    limit: int
    after: int


def parse_query(body: Any, cap: int = RESULT_CAP) -> Query:
    if not isinstance(body, dict):
        raise SearchError("Invalid input JSON: expected an object")
    groups_in = body.get("filterGroups") or []
    if not isinstance(groups_in, list):
        raise SearchError("filterGroups must be a list")
    if len(groups_in) > MAX_GROUPS:
        raise SearchError(f"Too many filter groups ({len(groups_in)}); the maximum is {MAX_GROUPS}")
    groups: list[list[dict[str, Any]]] = []
    total = 0
    for group in groups_in:
        filters = group.get("filters") if isinstance(group, dict) else None
        if not isinstance(filters, list):
            raise SearchError("each filter group needs a list of filters")
        if len(filters) > MAX_FILTERS_PER_GROUP:
            raise SearchError(
                f"Too many filters in a group ({len(filters)}); the maximum is "
                f"{MAX_FILTERS_PER_GROUP}"
            )
        for item in filters:
            if not isinstance(item, dict) or not item.get("propertyName"):
                raise SearchError("each filter needs a propertyName")
            operator = item.get("operator", "EQ")
            if operator not in OPERATORS:
                raise SearchError(f"Unknown operator {operator!r}")
        total += len(filters)
        groups.append(filters)
    if total > MAX_FILTERS:
        raise SearchError(f"Too many filters ({total}); the maximum is {MAX_FILTERS}")
    sorts = body.get("sorts") or []
    if not isinstance(sorts, list) or len(sorts) > 1:
        raise SearchError("At most one sort is allowed")
    sort_by, descending = None, False
    if sorts:
        sort = sorts[0]
        if isinstance(sort, str):
            descending = sort.startswith("-")
            sort_by = sort.lstrip("-")
        elif isinstance(sort, dict) and sort.get("propertyName"):
            sort_by = str(sort["propertyName"])
            descending = str(sort.get("direction", "ASCENDING")).upper() == "DESCENDING"
        else:
            raise SearchError("a sort needs a propertyName")
    properties = body.get("properties")
    if properties is not None and not (
        isinstance(properties, list) and all(isinstance(p, str) for p in properties)
    ):
        raise SearchError("properties must be a list of property names")
    try:
        limit = int(body.get("limit", 10))
        after = int(body.get("after") or 0)
    except (TypeError, ValueError) as exc:
        raise SearchError("limit and after must be integers") from exc
    if not 0 < limit <= MAX_LIMIT:
        raise SearchError(f"limit must be between 1 and {MAX_LIMIT} (got {limit})")
    if after < 0:
        raise SearchError("after must not be negative")
    if after >= cap:
        raise SearchError(
            f"The search API returns at most {cap:,} results per query; narrow the query "
            f"(after={after})"
        )
    return Query(groups, sort_by, descending, properties, limit, after)


_TOKEN = re.compile(r"[^\W_]+", re.UNICODE)


def _tokens(text: str) -> list[str]:
    return [t.lower() for t in _TOKEN.findall(text)]


def _contains_token(value: str | None, wanted: str) -> bool:
    if value is None:
        return False
    pattern = wanted.lower().strip()
    if "*" in pattern:
        regex = re.compile("^" + ".*".join(map(re.escape, pattern.split("*"))) + "$")
        return any(regex.match(t) for t in _tokens(value)) or bool(regex.match(value.lower()))
    wanted_tokens = _tokens(pattern)
    have = _tokens(value)
    # A multi-token value matches when its tokens appear in order, one after another.
    n = len(wanted_tokens)
    return n > 0 and any(have[i : i + n] == wanted_tokens for i in range(len(have) - n + 1))


Kind = Callable[[str], str]  # property name -> "datetime" | "number" | "string"


def _compare(kind: str, left: str, right: Any) -> tuple[Any, Any] | None:
    a: Any
    b: Any
    if kind == "datetime":
        a, b = parse_time(left), parse_time(right)
    elif kind == "number":
        try:
            a, b = float(left), float(right)
        except (TypeError, ValueError):
            return None
    else:
        a, b = left.lower(), str(right).lower()
    if a is None or b is None:
        return None
    return a, b


def matches(flt: dict[str, Any], value: str | None, kind: str) -> bool:
    operator = flt.get("operator", "EQ")
    if operator == "HAS_PROPERTY":
        return value not in (None, "")
    if operator == "NOT_HAS_PROPERTY":
        return value in (None, "")
    if operator == "CONTAINS_TOKEN":
        return _contains_token(value, str(flt.get("value", "")))
    if operator == "NOT_CONTAINS_TOKEN":
        return not _contains_token(value, str(flt.get("value", "")))
    if value in (None, ""):
        return operator in ("NEQ", "NOT_IN")
    if operator in ("IN", "NOT_IN"):
        values = [str(v).lower() for v in flt.get("values") or []]
        inside = value.lower() in values
        return inside if operator == "IN" else not inside
    if operator == "BETWEEN":
        low = _compare(kind, value, flt.get("value"))
        high = _compare(kind, value, flt.get("highValue"))
        return low is not None and high is not None and low[1] <= low[0] <= high[1]
    pair = _compare(kind, value, flt.get("value"))
    if pair is None:
        return False
    a, b = pair
    return bool(
        {
            "EQ": a == b,
            "NEQ": a != b,
            "LT": a < b,
            "LTE": a <= b,
            "GT": a > b,
            "GTE": a >= b,
        }[operator]
    )


_FAST = {
    "EQ": lambda a, b: a == b,
    "NEQ": lambda a, b: a != b,
    "LT": lambda a, b: a < b,
    "LTE": lambda a, b: a <= b,
    "GT": lambda a, b: a > b,
    "GTE": lambda a, b: a >= b,
}


def compile_filter(flt: dict[str, Any], kind: str) -> Callable[[str | None], bool]:
    """One filter as a predicate on a value; a datetime or number comparison parses the
    filter's value once, not once per row."""
    operator = flt.get("operator", "EQ")
    if kind in ("datetime", "number") and operator in _FAST:
        target = _compare(kind, "0", flt.get("value"))
        if target is not None:
            bound = target[1]
            test = _FAST[operator]
            convert = parse_time if kind == "datetime" else float

            def fast(value: str | None) -> bool:
                if value in (None, ""):
                    return operator == "NEQ"
                try:
                    have = convert(value)
                except ValueError:
                    return False
                return have is not None and bool(test(have, bound))

            return fast
    return lambda value: matches(flt, value, kind)


def run(
    query: Query,
    rows: Iterable[tuple[str, dict[str, str], dict[str, list[str]]]],
    kind: Kind,
) -> tuple[int, list[tuple[str, dict[str, str]]]]:
    """``rows``: (id, properties, associations). Returns (total, the requested page)."""

    def value_of(
        obj_id: str, props: dict[str, str], assoc: dict[str, list[str]], name: str
    ) -> str | list[str] | None:
        if name.startswith("associations."):
            return assoc.get(name.removeprefix("associations."), [])
        if name == "hs_object_id":
            return obj_id
        return props.get(name)

    compiled = [
        [(flt, compile_filter(flt, kind(flt["propertyName"]))) for flt in group]
        for group in query.groups
    ]
    hits = []
    for obj_id, props, assoc in rows:
        if compiled:
            ok = False
            for group in compiled:
                good = True
                for flt, predicate in group:
                    value = value_of(obj_id, props, assoc, flt["propertyName"])
                    if isinstance(value, list):
                        good = str(flt.get("value")) in value
                    else:
                        good = predicate(value)
                    if not good:
                        break
                if good:
                    ok = True
                    break
            if not ok:
                continue
        hits.append((obj_id, props))
    if query.sort_by:
        name = query.sort_by
        sort_kind = kind(name)

        def key(hit: tuple[str, dict[str, str]]) -> tuple[int, Any, int]:
            raw = hit[0] if name == "hs_object_id" else hit[1].get(name)
            if raw in (None, ""):
                return (1, 0, int(hit[0]))
            if sort_kind == "datetime":
                return (0, parse_time(raw) or 0.0, int(hit[0]))
            if sort_kind == "number":
                try:
                    return (0, float(raw), int(hit[0]))
                except ValueError:
                    return (1, 0, int(hit[0]))
            return (0, str(raw).lower(), int(hit[0]))

        hits.sort(key=key, reverse=query.descending)
    else:
        hits.sort(key=lambda hit: int(hit[0]))
    return len(hits), hits[query.after : query.after + query.limit]
