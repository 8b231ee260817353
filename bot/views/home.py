"""The App Home tab: what waits for this person (and, for managers, for their team)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from slack_sdk.models.blocks import (
    ButtonElement,
    ContextBlock,
    DividerBlock,
    HeaderBlock,
    MarkdownTextObject,
    SectionBlock,
)

from bot.views.alerts import STAGE_LABEL, LeadCard
from bot.views.text import duration, esc_clip, mention

PER_SECTION = 15


@dataclass
class HomeItem:
    card: LeadCard
    since: datetime
    owner: str | None = None
    action: tuple[str, str] | None = None  # (action_id, label)


@dataclass
class Home:
    mine: Sequence[HomeItem] = ()
    unaccepted: Sequence[HomeItem] = ()
    breaches: Sequence[HomeItem] = ()
    is_sales: bool = True
    is_manager: bool = False
    teams: Sequence[str] = field(default_factory=list)
    #: For managers: reps who are away and reps at their cap, (user, why) each.
    away: Sequence[tuple[str, str]] = ()
    capped: Sequence[tuple[str, str]] = ()


def _item(item: HomeItem, now: datetime) -> dict[str, Any]:
    card = item.card
    company = f" ({esc_clip(card.company, 80)})" if card.company else ""
    owner = f" · {mention(item.owner)}" if item.owner else ""
    text = (
        f"*#{card.id} {esc_clip(card.name, 80)}*{company}\n"
        f"{STAGE_LABEL.get(card.stage, card.stage)} for "
        f"{duration((now - item.since).total_seconds())} · grade {card.grade}"
        f" · engagement {card.engagement:.0f}{owner}"
    )
    accessory = None
    if item.action:
        action_id, label = item.action
        accessory = ButtonElement(text=label, action_id=action_id, value=str(card.id))
    return SectionBlock(text=MarkdownTextObject(text=text), accessory=accessory).to_dict()


def _section(
    title: str, items: Sequence[HomeItem], empty: str, now: datetime
) -> list[dict[str, Any]]:
    blocks = [HeaderBlock(text=title).to_dict()]
    if not items:
        return [*blocks, ContextBlock(elements=[MarkdownTextObject(text=empty)]).to_dict()]
    blocks += [_item(item, now) for item in list(items)[:PER_SECTION]]
    if len(items) > PER_SECTION:
        blocks.append(
            ContextBlock(
                elements=[
                    MarkdownTextObject(
                        text=f"…and {len(items) - PER_SECTION} more (`/lead mine` lists them all)."
                    )
                ]
            ).to_dict()
        )
    return blocks


def home_view(home: Home, now: datetime) -> dict[str, Any]:
    if not home.is_sales:
        blocks = [
            SectionBlock(
                text=MarkdownTextObject(
                    text=("leadbot hands marketing-qualified leads to sales. Try `/lead help`.")
                )
            ).to_dict()
        ]
        return {"type": "home", "blocks": blocks}
    blocks = _section("Waiting for you", home.mine, "Nothing waits for you right now.", now)
    if home.is_manager:
        teams = ", ".join(home.teams)
        blocks += [DividerBlock().to_dict()]
        blocks += _section(
            f"Not accepted yet ({teams})",
            home.unaccepted,
            "Every qualified lead has been accepted.",
            now,
        )
        blocks += [DividerBlock().to_dict()]
        blocks += _section("SLA breaches, last 7 days", home.breaches, "No breaches.", now)
        blocks += [DividerBlock().to_dict(), *_people(home)]
    return {"type": "home", "blocks": blocks[:100]}


def _people(home: Home) -> list[dict[str, Any]]:
    """Who gets no offers now: away (by command or Slack status) or at their cap."""

    def lines(people: Sequence[tuple[str, str]], empty: str) -> str:
        if not people:
            return empty
        return "\n".join(f"• {mention(user)}: {esc_clip(why, 200)}" for user, why in people[:30])

    return [
        HeaderBlock(text="Who is away, who is at their cap").to_dict(),
        SectionBlock(
            text=MarkdownTextObject(
                text="*Away*\n"
                + lines(home.away, "Nobody is away.")
                + "\n*At their cap*\n"
                + lines(home.capped, "Nobody is at their cap.")
            )
        ).to_dict(),
    ]
