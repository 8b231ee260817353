"""Small text helpers for Block Kit: escaping, truncation, durations, mentions."""

from __future__ import annotations

import re
from collections.abc import Collection

_USER_ID = re.compile(r"\b[UW][A-Z0-9]+\b")


def esc(text: object) -> str:
    """Escape the three characters Slack's mrkdwn treats as control characters."""
    return str(text).replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def clip(text: str, limit: int) -> str:
    """``text`` cut to ``limit`` characters with an ellipsis, never inside an ``&amp;``-style
    entity, so escaped text can be clipped after escaping (escaping first is what keeps the
    result within Slack's limits: it can make text five times longer)."""
    if len(text) <= limit:
        return text
    cut = text[: limit - 1]
    amp = cut.rfind("&")
    if amp != -1 and ";" not in cut[amp:]:
        cut = cut[:amp]
    return cut + "…"


def esc_clip(text: object, limit: int) -> str:
    """Escaped for mrkdwn, then clipped to ``limit`` characters."""
    return clip(esc(text), limit)


def esc_people(text: object, people: Collection[str], limit: int) -> str:
    """``text`` escaped and clipped, with the user ids of ``people`` in it shown as mentions
    (core stores plain ids, as in a history reason "assigned to U0REP2")."""
    return _USER_ID.sub(
        lambda found: mention(found[0]) if found[0] in people else found[0],
        esc_clip(text, limit),
    )


def mention(user: str | None) -> str:
    if not user:
        return "nobody"
    return "leadbot" if user == "system" else f"<@{user}>"


def duration(seconds: float) -> str:
    """A short human duration: ``45 s``, ``12 min``, ``3 h 5 min``, ``2 d 4 h``."""
    seconds = max(0, int(seconds))
    if seconds < 60:
        return f"{seconds} s"
    minutes = seconds // 60
    if minutes < 60:
        return f"{minutes} min"
    hours, minutes = divmod(minutes, 60)
    if hours < 24:
        return f"{hours} h {minutes} min" if minutes else f"{hours} h"
    days, hours = divmod(hours, 24)
    return f"{days} d {hours} h" if hours else f"{days} d"


def points(value: float) -> str:
    """Score points with their sign: ``+30``, ``-25``, ``+7.5``."""
    return f"{round(value, 1):+g}"
