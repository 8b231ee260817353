"""The MQL/PQL alert, the Reject modal and marketing's handoff notes. Pure: dict in, dict out."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from slack_sdk.models.blocks import (
    ActionsBlock,
    ButtonElement,
    ContextBlock,
    InputBlock,
    MarkdownTextObject,
    Option,
    PlainTextInputElement,
    SectionBlock,
    StaticSelectElement,
)
from slack_sdk.models.views import View

from bot.views import ids
from bot.views.crm import crm_link
from bot.views.text import clip, duration, esc, esc_clip, mention, points

STAGE_LABEL = {
    "mql": "MQL",
    "pql": "PQL",
    "sal": "SAL",
    "sql": "SQL",
    "sqo": "SQO",
    "nurture": "nurture",
    "unqualified": "unqualified",
    "lead": "lead",
}


@dataclass
class LeadCard:
    """What a message about a lead shows; built from the database by the notifier."""

    id: int
    email: str
    name: str
    title: str | None = None
    company: str | None = None
    company_size: int | None = None
    country: str | None = None
    source: str | None = None
    stage: str = "mql"
    team: str | None = None
    grade: str = "D"
    fit: float = 0
    engagement: float = 0
    product: float = 0
    reasons: Sequence[dict[str, Any]] = field(default_factory=list)
    #: The learned likelihood: probability, model, goal and the top reasons; None without one.
    likelihood: dict[str, Any] | None = None
    #: The CRM record (``{"system", "id", "url"}``) the lead is, or None.
    crm: dict[str, Any] | None = None


@dataclass
class Status:
    """How the alert's story went on: who moved the lead where, after how long, and why."""

    stage: str
    actor: str
    after_seconds: float | None = None
    reason: str | None = None


def who_line(card: LeadCard) -> str:
    who = f"*{esc_clip(card.name, 120)}*"
    if card.title:
        who += f", {esc_clip(card.title, 120)}"
    if card.company:
        who += f" at *{esc_clip(card.company, 120)}*"
    details = [f"{card.company_size:,} employees" if card.company_size else None, card.country]
    extra = " · ".join(part for part in details if part)
    return who + (f" ({extra})" if extra else "")


def crm_suffix(card: LeadCard) -> str:
    """A new line linking the lead's CRM record, or nothing."""
    link = crm_link(card.crm)
    return f"\n{link}" if link else ""


def score_line(card: LeadCard) -> str:
    parts = [f"Grade *{card.grade}* (fit {card.fit:.0f})", f"engagement *{card.engagement:.0f}*"]
    if card.product:
        parts.append(f"product *{card.product:.0f}*")
    parts.append(f"source {esc_clip(card.source, 60)}" if card.source else "source unknown")
    return " · ".join(parts)


def reasons_line(card: LeadCard, top: int = 3) -> str:
    lines = [
        f"• {esc_clip(str(r['rule']), 150)} ({points(float(r['points']))})"
        for r in list(card.reasons)[:top]
    ]
    text = "\n".join(lines) if lines else "• no scoring reasons recorded"
    return text + (likelihood_lines(card.likelihood) if card.likelihood else "")


def likelihood_lines(likelihood: dict[str, Any]) -> str:
    """``Likelihood 72% of reaching SQL (model 3)`` and its top reasons in log-odds points."""
    goal = STAGE_LABEL.get(likelihood["goal"], str(likelihood["goal"]).upper())
    lines = [
        f"*Likelihood {likelihood['probability']:.0%}* of reaching {goal} "
        f"(model {likelihood['model']}):"
    ]
    for reason in likelihood["reasons"]:
        value = "unknown" if reason["value"] is None else reason["value"]
        shown = esc_clip(f"{reason['feature']} = {value}", 150)
        lines.append(f"• {shown} ({float(reason['points']):+.2f})")
    return "\n" + "\n".join(lines)


def status_text(status: Status) -> str:
    after = f" after {duration(status.after_seconds)}" if status.after_seconds is not None else ""
    who = mention(status.actor)
    reason = f": {esc_clip(status.reason, 300)}" if status.reason else ""
    match status.stage:
        case "sal":
            return f":white_check_mark: Accepted by {who}{after}"
        case "nurture":
            return f":seedling: Sent to nurture by {who}{after}{reason}"
        case "unqualified":
            return f":no_entry: Disqualified by {who}{after}{reason}"
        case "sql":
            return f":clipboard: Qualified (SQL) by {who}"
        case "sqo":
            return f":moneybag: Opportunity recorded (SQO) by {who}"
        case "mql" | "pql":
            return f":arrows_counterclockwise: Qualified again ({STAGE_LABEL[status.stage]})"
    return f"Now {STAGE_LABEL.get(status.stage, status.stage)} ({who})"


def lead_alert(
    card: LeadCard,
    kind: str,
    status: Status | None = None,
    *,
    unrouted: bool = False,
    offer: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """The alert for a lead that became ``kind`` (mql or pql): buttons while it waits for sales,
    a status line once somebody acted. ``offer`` is the block naming whom it is offered to."""
    label = STAGE_LABEL.get(kind, kind.upper())
    headline = f":rotating_light: New {label}" + (
        " (no team matched: unrouted)" if unrouted else ""
    )
    blocks: list[Any] = [
        SectionBlock(
            block_id="who",
            text=MarkdownTextObject(text=f"{headline}\n{who_line(card)}{crm_suffix(card)}"),
        ),
        ContextBlock(block_id="score", elements=[MarkdownTextObject(text=score_line(card))]),
        SectionBlock(block_id="why", text=MarkdownTextObject(text=reasons_line(card))),
    ]
    if status is None:
        value = str(card.id)
        if offer is not None:
            blocks.append(offer)
        blocks.append(
            ActionsBlock(
                block_id="handoff",
                elements=[
                    ButtonElement(
                        text="Accept", action_id=ids.ACCEPT, value=value, style="primary"
                    ),
                    ButtonElement(text="Reject", action_id=ids.REJECT, value=value, style="danger"),
                ],
            )
        )
    else:
        blocks.append(
            ContextBlock(block_id="status", elements=[MarkdownTextObject(text=status_text(status))])
        )
    text = f"New {label}: {esc(card.name)}" + (f" ({esc(card.company)})" if card.company else "")
    text += f", grade {card.grade}, engagement {card.engagement:.0f}"
    return {
        "text": clip(text, 3000),
        "blocks": [block if isinstance(block, dict) else block.to_dict() for block in blocks],
    }


def reject_modal(name: str, reasons: Sequence[tuple[str, str]]) -> dict[str, Any]:
    """The Reject modal: a required reason from the fixed list and an optional comment. The
    lead it is about is known from the form's record (core/services/opened_views.py)."""
    view = View(
        type="modal",
        callback_id=ids.REJECT_VIEW,
        title="Reject lead",
        submit="Reject",
        close="Cancel",
        blocks=[
            SectionBlock(
                text=MarkdownTextObject(text=f"Why is *{esc_clip(name, 200)}* not for sales?")
            ),
            InputBlock(
                block_id=ids.REJECT_REASON,
                label="Reason",
                element=StaticSelectElement(
                    action_id=ids.REJECT_REASON,
                    placeholder="Choose a reason",
                    options=[Option(value=code, label=label) for code, label in reasons],
                ),
            ),
            InputBlock(
                block_id=ids.REJECT_COMMENT,
                label="Comment for marketing",
                optional=True,
                element=PlainTextInputElement(
                    action_id=ids.REJECT_COMMENT,
                    multiline=True,
                    max_length=2000,
                    placeholder="What should marketing know?",
                ),
            ),
        ],
    )
    return view.to_dict()


def marketing_accepted(
    card: LeadCard, actor: str, waited_seconds: float, assigned_by: str | None = None
) -> dict[str, Any]:
    how = (
        f"was assigned to {mention(actor)} by {mention(assigned_by)}"
        if assigned_by
        else (f"was accepted by {mention(actor)}")
    )
    text = (
        f":white_check_mark: {who_line(card)} {how} after {duration(waited_seconds)} "
        f"(team {esc(card.team or 'none')})."
    )
    return {
        "text": clip(f"Accepted: {esc(card.name)}", 3000),
        "blocks": [SectionBlock(text=MarkdownTextObject(text=clip(text, 3000))).to_dict()],
    }


def marketing_rejected(
    card: LeadCard,
    actor: str,
    reason_label: str,
    comment: str | None,
    to_stage: str,
    waited_seconds: float,
) -> dict[str, Any]:
    lines = [
        f":leftwards_arrow_with_hook: {mention(actor)} rejected {who_line(card)} "
        f"after {duration(waited_seconds)}.",
        f"*Reason:* {esc_clip(reason_label, 600)} → now *{STAGE_LABEL.get(to_stage, to_stage)}*",
    ]
    if comment:
        lines.append(f"*Comment:* {esc_clip(comment, 1500)}")
    return {
        "text": clip(f"Rejected: {esc(card.name)} ({esc(reason_label)})", 3000),
        "blocks": [
            SectionBlock(text=MarkdownTextObject(text=clip("\n".join(lines), 3000))).to_dict()
        ],
    }


def lead_dm(
    card: LeadCard,
    *,
    block_id: str,
    text: str,
    notice: str,
    actions_id: str,
    buttons: list[ButtonElement],
) -> dict[str, Any]:
    """A DM about one lead: what happened, why it scores, and what to do next."""
    blocks = [
        SectionBlock(block_id=block_id, text=MarkdownTextObject(text=clip(text, 3000))),
        SectionBlock(block_id="why", text=MarkdownTextObject(text=reasons_line(card))),
        ActionsBlock(block_id=actions_id, elements=buttons),
    ]
    return {"text": clip(notice, 3000), "blocks": [block.to_dict() for block in blocks]}


def lead_button(card: LeadCard, text: str, action_id: str, style: str) -> ButtonElement:
    return ButtonElement(text=text, action_id=action_id, value=str(card.id), style=style)


def assigned_dm(card: LeadCard, actor: str) -> dict[str, Any]:
    """The DM to a rep who was just given a lead."""
    text = (
        f":inbox_tray: {mention(actor)} assigned you {who_line(card)} (#{card.id}, now "
        f"{STAGE_LABEL.get(card.stage, card.stage)}).\n{score_line(card)}"
    )
    return lead_dm(
        card,
        block_id="assigned",
        text=text,
        notice=f"You were assigned {esc(card.name)}",
        actions_id="next",
        buttons=[lead_button(card, "Qualify", ids.QUALIFY, "primary")],
    )


def erased_message(text: str) -> dict[str, Any]:
    """What a message about an erased lead becomes: one line, no buttons, nothing about them."""
    section = SectionBlock(block_id="erased", text=MarkdownTextObject(text=f":wastebasket: {text}"))
    return {"text": text, "blocks": [section.to_dict()], "attachments": []}


def redacted_message(text: str) -> dict[str, Any]:
    """A message about another lead that named an erased person, as its words without them."""
    first, _, rest = text.partition("\n")
    body = clip(rest or first, 3000)
    section = SectionBlock(block_id="redacted", text=MarkdownTextObject(text=body))
    return {"text": clip(first, 3000), "blocks": [section.to_dict()]}
