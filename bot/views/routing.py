"""Routing in Slack: the alert's offer line, the DM to the offered rep, the managers' note when
nobody could take a lead, and replies to `/lead away` and `/lead back`. Pure."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from slack_sdk.models.blocks import (
    ContextBlock,
    MarkdownTextObject,
    SectionBlock,
)

from bot.views import ids
from bot.views.alerts import (
    STAGE_LABEL,
    LeadCard,
    lead_button,
    lead_dm,
    score_line,
    who_line,
)
from bot.views.text import clip, esc, esc_clip, mention


@dataclass(frozen=True)
class OfferLine:
    """How an alert names its offer: to one rep until a moment, or opened to the team."""

    rep: str | None = None
    until: str | None = None  # already in the team's zone, like "Mon 02 Nov 10:15 Europe/Berlin"
    reason: str | None = None
    opened_to: Sequence[str] = ()


def offer_text(offer: OfferLine) -> str:
    if offer.rep:
        why = " (account owner)" if offer.reason == "account owner" else ""
        return (
            f":bust_in_silhouette: For {mention(offer.rep)}{why} until {esc(offer.until)}: "
            "until then only they or a manager may accept."
        )
    people = " ".join(mention(rep) for rep in offer.opened_to) or "everyone on the team"
    return f":busts_in_silhouette: The claim window ended: open to the whole team, {people}."


def offer_block(offer: OfferLine) -> dict[str, Any]:
    return ContextBlock(
        block_id="offer", elements=[MarkdownTextObject(text=clip(offer_text(offer), 3000))]
    ).to_dict()


def offer_dm(card: LeadCard, until: str, reason: str) -> dict[str, Any]:
    """The DM to the rep a new lead is offered to."""
    why = "you own their company's open lead" if reason == "account owner" else "it's your turn"
    text = (
        f":inbox_tray: New {STAGE_LABEL.get(card.stage, card.stage)} for you ({why}): "
        f"{who_line(card)} (#{card.id}).\nOnly you (or a manager) may accept it until "
        f"{esc(until)}; then it opens to the team.\n{score_line(card)}"
    )
    return lead_dm(
        card,
        block_id="offer",
        text=text,
        notice=f"New lead for you: {esc(card.name)}",
        actions_id="handoff",
        buttons=[
            lead_button(card, "Accept", ids.ACCEPT, "primary"),
            lead_button(card, "Reject", ids.REJECT, "danger"),
        ],
    )


def fallback_note(managers: Sequence[str], skipped: Sequence[tuple[str, str]]) -> dict[str, Any]:
    """In the alert's thread: nobody could be offered the lead, so the team claims it."""
    lines = [
        f"{' '.join(mention(m) for m in managers) or 'Managers'}: no rep could be offered "
        "this lead, so it is open to the whole team."
    ]
    lines += [f"• {mention(rep)}: {esc_clip(why, 200)}" for rep, why in skipped[:30]]
    if not skipped:
        lines.append("• the team has no reps")
    return {
        "text": clip(lines[0], 3000),
        "blocks": [
            SectionBlock(text=MarkdownTextObject(text=clip("\n".join(lines), 3000))).to_dict()
        ],
    }
