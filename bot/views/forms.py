"""Modals: BANT qualification, opportunity, assign; and the views that answer a submission."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date
from typing import Any

from slack_sdk.models.blocks import (
    DatePickerElement,
    InputBlock,
    MarkdownTextObject,
    Option,
    PlainTextInputElement,
    SectionBlock,
    StaticSelectElement,
    UserSelectElement,
)
from slack_sdk.models.views import View

from bot.views import ids
from bot.views.text import clip, esc_clip
from core.services.qualification import QUESTIONS, TEXT_LIMITS


def _select(
    block: str,
    label: str,
    options: Mapping[str, str],
    initial: str | None,
    *,
    optional: bool = False,
) -> InputBlock:
    choices = [Option(value=value, label=text) for value, text in options.items()]
    chosen = next((c for c in choices if c.value == initial), None)
    return InputBlock(
        block_id=block,
        label=label,
        optional=optional,
        element=StaticSelectElement(
            action_id=block, placeholder="Choose", options=choices, initial_option=chosen
        ),
    )


def _text(
    block: str,
    label: str,
    initial: str | None = None,
    *,
    multiline: bool = False,
    max_length: int = 3000,
    optional: bool = True,
    placeholder: str | None = None,
) -> InputBlock:
    return InputBlock(
        block_id=block,
        label=label,
        optional=optional,
        element=PlainTextInputElement(
            action_id=block,
            multiline=multiline,
            max_length=max_length,
            initial_value=initial or None,
            placeholder=placeholder,
        ),
    )


def bant_modal(name: str, last: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """The BANT questions, prefilled with the last answers; the amount follows the budget and
    the free-text need follows the need."""
    last = last or {}
    amount = last.get("budget_amount")
    after = {
        "budget": _text(
            "budget_amount",
            "Budget amount",
            str(amount) if amount else None,
            max_length=20,
            placeholder="e.g. 25000",
        ),
        "need": _text(
            "need_text",
            "What do they need?",
            last.get("need_text"),
            multiline=True,
            max_length=TEXT_LIMITS["need_text"],
        ),
    }
    blocks: list[Any] = [
        SectionBlock(text=MarkdownTextObject(text=f"BANT for *{esc_clip(name, 200)}*"))
    ]
    for question in QUESTIONS:
        blocks.append(
            _select(question.key, question.label, question.options, last.get(question.key))
        )
        if question.key in after:
            blocks.append(after[question.key])
    blocks.append(
        _text(
            "notes",
            "Notes",
            last.get("notes"),
            multiline=True,
            max_length=TEXT_LIMITS["notes"],
        )
    )
    return View(
        type="modal",
        callback_id=ids.BANT_VIEW,
        title="Qualify lead",
        submit="Save",
        close="Cancel",
        blocks=blocks,
    ).to_dict()


def opportunity_modal(
    name: str, currencies: list[str], today: date, default_name: str | None = None
) -> dict[str, Any]:
    return View(
        type="modal",
        callback_id=ids.OPPORTUNITY_VIEW,
        title="Record opportunity",
        submit="Save",
        close="Cancel",
        blocks=[
            SectionBlock(text=MarkdownTextObject(text=f"Opportunity for *{esc_clip(name, 200)}*")),
            _text("name", "Opportunity name", default_name, max_length=300, optional=False),
            _text(
                "amount", "Amount", None, max_length=20, optional=False, placeholder="e.g. 48000"
            ),
            _select("currency", "Currency", {c: c for c in currencies}, currencies[0]),
            InputBlock(
                block_id="close_date",
                label="Expected close date",
                element=DatePickerElement(action_id="close_date", initial_date=today.isoformat()),
            ),
            _text("crm_url", "CRM link", None, max_length=2000, placeholder="https://"),
        ],
    ).to_dict()


def assign_modal(name: str) -> dict[str, Any]:
    return View(
        type="modal",
        callback_id=ids.ASSIGN_VIEW,
        title="Assign lead",
        submit="Assign",
        close="Cancel",
        blocks=[
            SectionBlock(text=MarkdownTextObject(text=f"Who should work *{esc_clip(name, 200)}*?")),
            InputBlock(
                block_id="owner",
                label="New owner",
                element=UserSelectElement(action_id="owner", placeholder="Choose a rep"),
            ),
        ],
    ).to_dict()


def result_view(title: str, text: str) -> dict[str, Any]:
    """What a modal turns into after a successful submission."""
    return View(
        type="modal",
        title=clip(title, 24),
        close="Done",
        blocks=[SectionBlock(text=MarkdownTextObject(text=clip(text, 3000)))],
    ).to_dict()
