"""Reminders and escalations about stale leads. Pure: values in, message dicts out."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from slack_sdk.models.blocks import (
    ActionsBlock,
    ButtonElement,
    ConfirmObject,
    ContextBlock,
    MarkdownTextObject,
    SectionBlock,
)

from bot.views import ids
from bot.views.alerts import STAGE_LABEL, LeadCard, score_line, who_line
from bot.views.text import clip, esc, esc_clip, mention

_UNITS = {"m": ("business minute", "business minutes"), "h": ("business hour", "business hours")}


def business_duration(text: str) -> str:
    """``"4h"`` -> ``"4 business hours"``, ``"1d"`` -> ``"1 business day"``."""
    amount, unit = int(text[:-1]), text[-1]
    one, many = _UNITS.get(unit, ("business day", "business days"))
    return f"{amount} {one if amount == 1 else many}"


@dataclass
class Waiting:
    """How long a lead has waited: the SLA that ran out and when the stage was entered (already
    written in the team's zone), and whether this is the repeat of a snoozed reminder."""

    sla: str
    since: str
    repeat: bool = False

    def prefix(self) -> str:
        return "Snoozed reminder: " if self.repeat else ""


def _message(text: str, blocks: Sequence[Any]) -> dict[str, Any]:
    return {"text": clip(text, 3000), "blocks": [block.to_dict() for block in blocks]}


def _stage(card: LeadCard) -> str:
    return STAGE_LABEL.get(card.stage, card.stage)


def thread_reminder(
    card: LeadCard, waiting: Waiting, mentions: Sequence[str], *, unrouted: bool = False
) -> dict[str, Any]:
    """In the alert's thread: nobody accepted the MQL/PQL within ``mql_accept``."""
    people = " ".join(mention(user) for user in mentions)
    head = (
        f":alarm_clock: {waiting.prefix()}This {_stage(card)} has waited "
        f"{business_duration(waiting.sla)} (since {esc(waiting.since)}) and nobody has accepted it."
    )
    if unrouted:
        ask = (
            f"{people + ': ' if people else ''}no team's route matches it. Any rep or manager "
            "may accept it from the alert, or a manager may assign it."
        )
    else:
        ask = f"{people + ', ' if people else ''}can one of you accept or reject it?"
    blocks: list[Any] = [
        SectionBlock(block_id="reminder", text=MarkdownTextObject(text=f"{head}\n{ask}"))
    ]
    if not waiting.repeat:
        blocks.append(
            ContextBlock(
                block_id="who",
                elements=[MarkdownTextObject(text=clip(who_line(card), 2000))],
            )
        )
    return _message(f"Waiting for sales: {esc(card.name)}", blocks)


def escalation_dm(card: LeadCard, waiting: Waiting, where: str) -> dict[str, Any]:
    """To a manager: nobody accepted the MQL/PQL within ``mql_escalate``."""
    text = (
        f":rotating_light: {waiting.prefix()}*Escalation.* {who_line(card)} (#{card.id}) has "
        f"waited {business_duration(waiting.sla)} as an {_stage(card)} in {where} "
        f"(since {esc(waiting.since)}) and nobody has accepted it."
    )
    value = str(card.id)
    blocks = [
        SectionBlock(block_id="escalation", text=MarkdownTextObject(text=clip(text, 3000))),
        ContextBlock(block_id="score", elements=[MarkdownTextObject(text=score_line(card))]),
        ActionsBlock(
            block_id="escalation_actions",
            elements=[
                ButtonElement(text="Accept", action_id=ids.ACCEPT, value=value, style="primary"),
                ButtonElement(text="Assign", action_id=ids.ASSIGN, value=value),
            ],
        ),
    ]
    return _message(f"Escalation: {esc(card.name)} is waiting for sales", blocks)


def owner_dm(
    card: LeadCard, waiting: Waiting, *, instead_of: str | None = None, manager: bool = False
) -> dict[str, Any]:
    """To the owner of a SAL (not qualified) or SQL (no opportunity); or, when the owner left
    the sales config, to the team's managers (``instead_of`` names the owner)."""
    sql = card.stage == "sql"
    missing = "no opportunity recorded" if sql else "no BANT qualification"
    how_long = f"{business_duration(waiting.sla)} (since {esc(waiting.since)})"
    if instead_of is not None or manager:
        owner = mention(instead_of) if instead_of else "nobody"
        text = (
            f":hourglass: {waiting.prefix()}{who_line(card)} (#{card.id}) has been an "
            f"{_stage(card)} for {how_long} with {missing}. Its owner {owner} is no longer in "
            "the sales team; please take it over or assign it."
        )
    else:
        text = (
            f":hourglass: {waiting.prefix()}{who_line(card)} (#{card.id}) has been your "
            f"{_stage(card)} for {how_long} with {missing}."
        )
    value = str(card.id)
    main = (
        ButtonElement(text="Opportunity", action_id=ids.OPPORTUNITY, value=value, style="primary")
        if sql
        else ButtonElement(text="Qualify", action_id=ids.QUALIFY, value=value, style="primary")
    )
    buttons = [
        main,
        ButtonElement(text="Snooze 1 day", action_id=ids.SNOOZE, value=value),
        ButtonElement(
            text="Nurture",
            action_id=ids.NURTURE,
            value=value,
            confirm=ConfirmObject(
                title="Send to nurture?",
                text=f"{esc_clip(card.name, 150)} leaves sales for marketing's nurture programme.",
                confirm="Nurture",
                deny="Cancel",
            ),
        ),
    ]
    if instead_of is not None or manager:
        buttons.append(ButtonElement(text="Assign", action_id=ids.ASSIGN, value=value))
    blocks = [
        SectionBlock(block_id="reminder", text=MarkdownTextObject(text=clip(text, 3000))),
        ContextBlock(block_id="score", elements=[MarkdownTextObject(text=score_line(card))]),
        ActionsBlock(block_id="reminder_actions", elements=buttons),
    ]
    label = "Opportunity" if sql else "Qualification"
    return _message(f"{label} pending: {esc(card.name)}", blocks)


def snoozed_note(until: str) -> str:
    return f":zzz: Snoozed. The next reminder about this lead comes {until}."
