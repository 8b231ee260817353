"""Lookup cards, lists, usage and stats for `/lead` replies. Pure: plain values in, blocks out."""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from slack_sdk.models.blocks import (
    ActionsBlock,
    ButtonElement,
    ContextBlock,
    DividerBlock,
    HeaderBlock,
    MarkdownTextObject,
    SectionBlock,
)

from bot.views.alerts import (
    STAGE_LABEL,
    LeadCard,
    crm_suffix,
    reasons_line,
    score_line,
    who_line,
)
from bot.views.outcomes import outcome_blocks
from bot.views.text import clip, duration, esc, esc_clip, esc_people, mention
from core.services.outcomes import Outcomes
from core.services.qualification import QUESTIONS

USAGE: dict[str, str] = {
    "help": "`/lead help`: what you can do",
    "lookup": "`/lead lookup QUERY`: find a lead by e-mail, id, company or name",
    "qualify": "`/lead qualify LEAD`: BANT questions; SQL when enough are met",
    "opportunity": "`/lead opportunity LEAD`: record the opportunity (SQL to SQO)",
    "nurture": "`/lead nurture LEAD [reason]`: back to marketing for nurturing",
    "disqualify": "`/lead disqualify LEAD [reason]`: not a lead for us",
    "assign": "`/lead assign LEAD @user`: give a lead to a rep (managers)",
    "mine": "`/lead mine`: your open leads, oldest first",
    "stats": "`/lead stats [team] [7d|30d|90d]`: the funnel, by source, campaign and scoring "
    "rule (managers and marketing)",
    "away": "`/lead away [@user] [until YYYY-MM-DD] [reason]`: no new leads offered meanwhile",
    "back": "`/lead back [@user]`: leads are offered again",
}
LEAD_HINT = "LEAD is an id (like `42`) or an e-mail address."


def text_reply(text: str) -> dict[str, Any]:
    return {
        "text": clip(text, 3000),
        "blocks": [SectionBlock(text=MarkdownTextObject(text=clip(text, 3000))).to_dict()],
    }


def usage(subcommand: str | None = None, problem: str | None = None) -> dict[str, Any]:
    if subcommand in USAGE:
        lines = [f"Usage: {USAGE[subcommand]}"]
        if subcommand in ("qualify", "opportunity", "nurture", "disqualify", "assign"):
            lines.append(LEAD_HINT)
    else:
        lines = [
            "*leadbot* helps you work your leads in Slack:",
            *(f"• {line}" for line in USAGE.values()),
            LEAD_HINT,
        ]
    if problem:
        lines.insert(0, problem)
    return text_reply("\n".join(lines))


@dataclass
class HistoryLine:
    from_stage: str
    to_stage: str
    actor: str
    reason: str | None
    at: datetime
    #: For an owner change: (from, to), either None for nobody.
    owners: tuple[str | None, str | None] | None = None


def history_text(h: HistoryLine, people: Collection[str]) -> str:
    """One history line; user ids in a reason ("assigned by U0MGR1") shown as mentions."""
    reason = esc_people(h.reason, people, 120) if h.reason else ""
    if h.owners is not None:
        return (
            f"{h.at:%Y-%m-%d %H:%M} owner {mention(h.owners[0])} → {mention(h.owners[1])}"
            f" by {mention(h.actor)}: {reason}"
        )
    return (
        f"{h.at:%Y-%m-%d %H:%M} {STAGE_LABEL.get(h.from_stage, h.from_stage)} → "
        f"{STAGE_LABEL.get(h.to_stage, h.to_stage)} by {mention(h.actor)}"
        + (f": {reason}" if reason else "")
    )


@dataclass
class LeadDetails:
    card: LeadCard
    owner: str | None
    stage_since: datetime
    history: Sequence[HistoryLine] = ()
    bant: dict[str, Any] | None = None
    opportunity: dict[str, Any] | None = None
    actions: Sequence[tuple[str, str]] = field(default_factory=list)  # (action_id, label)
    people: frozenset[str] = frozenset()  # user ids to show as mentions in history reasons


def lead_blocks(details: LeadDetails, now: datetime) -> list[dict[str, Any]]:
    card = details.card
    stage = STAGE_LABEL.get(card.stage, card.stage)
    facts = (
        f"*#{card.id}* · *{stage}* for {duration((now - details.stage_since).total_seconds())}"
        f" · owner {mention(details.owner)} · team {esc(card.team or 'none (unrouted)')}"
    )
    blocks: list[Any] = [
        SectionBlock(
            text=MarkdownTextObject(text=f"{who_line(card)}\n{esc(card.email)}{crm_suffix(card)}")
        ),
        ContextBlock(elements=[MarkdownTextObject(text=facts)]),
        ContextBlock(elements=[MarkdownTextObject(text=score_line(card))]),
        SectionBlock(text=MarkdownTextObject(text=reasons_line(card))),
    ]
    if details.history:
        lines = [history_text(h, details.people) for h in list(details.history)[-5:]]
        blocks.append(SectionBlock(text=MarkdownTextObject(text="*History*\n" + "\n".join(lines))))
    if details.bant:
        b = details.bant
        amount = f" ({b['budget_amount']})" if b.get("budget_amount") else ""
        blocks.append(
            SectionBlock(
                text=MarkdownTextObject(
                    text=(
                        f"*BANT* ({b['met']}/{len(QUESTIONS)} met, by {mention(b['actor'])}): "
                        + " · ".join(
                            # the answer as the form named it, not its stored code
                            f"{q.key} {esc(q.options.get(b[q.key], b[q.key]))}"
                            + (amount if q.key == "budget" else "")
                            for q in QUESTIONS
                        )
                    )
                )
            )
        )
    if details.opportunity:
        o = details.opportunity
        blocks.append(
            SectionBlock(
                text=MarkdownTextObject(
                    text=(
                        f"*Opportunity* {esc_clip(o['name'], 200)}: "
                        f"{o['amount']} {o['currency']}, closing {o['close_date']}"
                    )
                )
            )
        )
    if details.actions:
        blocks.append(
            ActionsBlock(
                block_id=f"lead_{card.id}",
                elements=[
                    ButtonElement(text=label, action_id=action_id, value=str(card.id))
                    for action_id, label in details.actions
                ],
            )
        )
    return [block.to_dict() for block in blocks]


def lookup_reply(
    query: str, found: Sequence[LeadDetails], more: int, now: datetime
) -> dict[str, Any]:
    if not found:
        return text_reply(
            f"No lead matches {esc(query)}. "
            "Try an e-mail, an id, or the start of a company or name."
        )
    blocks: list[dict[str, Any]] = []
    for index, details in enumerate(found):
        if index:
            blocks.append(DividerBlock().to_dict())
        blocks += lead_blocks(details, now)
    if more:
        blocks.append(
            ContextBlock(
                elements=[
                    MarkdownTextObject(text=f"…and {more:,} more. Narrow the search to see them.")
                ]
            ).to_dict()
        )
    names = ", ".join(esc(d.card.name) for d in found)
    return {"text": clip(f"{len(found)} lead(s): {names}", 3000), "blocks": blocks[:50]}


def mine_reply(leads: Sequence[tuple[LeadCard, datetime]], now: datetime) -> dict[str, Any]:
    if not leads:
        return text_reply(
            "You have no open leads. New ones arrive as alerts in your team's channel."
        )
    lines, current = [], None
    for card, since in leads[:40]:
        if card.stage != current:
            current = card.stage
            lines.append(f"*{STAGE_LABEL.get(card.stage, card.stage)}*")
        company = f" ({esc(card.company)})" if card.company else ""
        lines.append(
            f"• #{card.id} {esc_clip(card.name, 80)}{company}, "
            f"{duration((now - since).total_seconds())} in stage"
        )
    if len(leads) > 40:
        lines.append(f"…and {len(leads) - 40} more.")
    return text_reply("\n".join(lines))


def percent(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.0%}"


@dataclass
class StatsView:
    title: str
    entered: dict[str, int]
    qualified: int
    conversions: Sequence[tuple[str, float | None]]
    median_accept: float | None
    breaches: int
    rejections: Sequence[tuple[str, int]]
    unrouted: int
    outcomes: Outcomes | None = None
    reps: Sequence[RepLine] = ()


@dataclass(frozen=True)
class RepLine:
    rep: str
    team: str
    offered: int
    accepted: int
    median_accept: float | None
    open_now: int
    cap: int | None
    away: str | None


def rep_line(r: RepLine) -> str:
    median = duration(r.median_accept) if r.median_accept is not None else "n/a"
    cap = f" of {r.cap}" if r.cap is not None else ""
    away = f" · {esc(r.away)}" if r.away else ""
    return (
        f"• {mention(r.rep)} ({esc(r.team)}): offered {r.offered} · accepted {r.accepted} · "
        f"median to accept {median} · open now {r.open_now}{cap}{away}"
    )


def stats_reply(stats: StatsView) -> dict[str, Any]:
    e = stats.entered
    lines = [
        " · ".join(
            f"{label} {e.get(stage, 0)}"
            for stage, label in (
                ("mql", "MQL"),
                ("pql", "PQL"),
                ("sal", "SAL"),
                ("sql", "SQL"),
                ("sqo", "SQO"),
                ("nurture", "nurture"),
                ("unqualified", "unqualified"),
            )
        ),
        "Conversion: " + " · ".join(f"{name} {percent(rate)}" for name, rate in stats.conversions),
        "Median time to accept: "
        + (
            duration(stats.median_accept)
            if stats.median_accept is not None
            else "n/a (nothing accepted)"
        ),
        f"SLA breaches (accept): {stats.breaches}",
        "Top reject reasons: "
        + (", ".join(f"{esc(reason)} ({count})" for reason, count in stats.rejections) or "none"),
        f"Unrouted leads waiting: {stats.unrouted}",
    ]
    blocks = [
        HeaderBlock(text=clip(stats.title, 150)).to_dict(),
        SectionBlock(text=MarkdownTextObject(text="\n".join(lines))).to_dict(),
    ]
    if stats.reps:
        per_rep = "*Per rep*\n" + "\n".join(rep_line(r) for r in stats.reps[:40])
        blocks.append(SectionBlock(text=MarkdownTextObject(text=clip(per_rep, 3000))).to_dict())
    if stats.outcomes is not None:
        blocks += outcome_blocks(stats.outcomes)
    return {"text": clip(stats.title, 3000), "blocks": blocks}
