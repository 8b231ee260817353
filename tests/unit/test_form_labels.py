"""The modals' labels: Slack writes "(optional)" after an optional input's label itself, so the
bot's own labels never say it, and every input that may stay empty is marked optional."""

from __future__ import annotations

from datetime import date
from typing import Any

import pytest

from bot.views.alerts import reject_modal
from bot.views.forms import assign_modal, bant_modal, opportunity_modal
from core.services import handoff, qualification

REASONS = [(reason.code, reason.label) for reason in handoff.REJECT_REASONS]

VIEWS = {
    "bant": bant_modal("Ada Lovelace"),
    "bant, prefilled": bant_modal("Ada Lovelace", {"budget_amount": 25000, "notes": "call in May"}),
    "opportunity": opportunity_modal(
        "Ada Lovelace", list(qualification.CURRENCIES), date(2026, 3, 2), "Acme: new business"
    ),
    "assign": assign_modal("Ada Lovelace"),
    "reject": reject_modal("Ada Lovelace", REASONS),
}

OPTIONAL = {
    "bant": {"budget_amount", "need_text", "notes"},
    "bant, prefilled": {"budget_amount", "need_text", "notes"},
    "opportunity": {"crm_url"},
    "assign": set(),
    "reject": {"comment"},
}


def inputs(view: dict[str, Any]) -> list[dict[str, Any]]:
    return [block for block in view["blocks"] if block["type"] == "input"]


@pytest.mark.parametrize("name", VIEWS)
def test_no_label_says_optional_itself(name):
    labels = [block["label"]["text"] for block in inputs(VIEWS[name])]
    assert labels
    assert [label for label in labels if "optional" in label.lower()] == []


@pytest.mark.parametrize("name", VIEWS)
def test_inputs_that_may_stay_empty_are_marked_optional(name):
    marked = {block["block_id"] for block in inputs(VIEWS[name]) if block.get("optional")}
    assert marked == OPTIONAL[name]
