"""The daily digest for the marketing channel, and its funnel chart. Pure: the digest message
(see ``core.services.digest``) in, a message dict or PNG bytes out."""

from __future__ import annotations

import io
from datetime import date, timedelta
from typing import Any

from slack_sdk.models.blocks import (
    ContextBlock,
    HeaderBlock,
    MarkdownTextObject,
    SectionBlock,
)

from bot.views.outcomes import week_text
from bot.views.text import clip, duration, esc
from core.messages import Digest

SERIES_LABELS = {"mql_pql": "MQL + PQL", "sal": "SAL (accepted)", "sql": "SQL", "sqo": "SQO"}


def _day_label(iso: str) -> str:
    return date.fromisoformat(iso).strftime("%a %d %b %Y")


def digest_message(numbers: Digest) -> dict[str, Any]:
    day = _day_label(numbers.day)
    qualified = numbers.mql + numbers.pql
    median = numbers.median_accept_seconds
    lines = [
        f"*New MQLs* {numbers.mql} · *PQLs* {numbers.pql}",
        f"*Accepted* {numbers.accepted} · *Rejected* {numbers.rejected}",
        f"*Median time to accept* {duration(median) if median is not None else 'n/a'}",
        f"*SLA breaches* {numbers.breaches} · *Unrouted, waiting now* {numbers.unrouted}",
    ]
    top = numbers.top_rejections
    reasons = (
        "Top reject reasons: " + ", ".join(f"{esc(label)} ({count})" for label, count in top)
        if top
        else "No rejections."
    )
    breach_ids = numbers.breach_leads
    blocks: list[Any] = [
        HeaderBlock(block_id="title", text=clip(f"Lead handoff, {day}", 150)),
        SectionBlock(block_id="numbers", text=MarkdownTextObject(text="\n".join(lines))),
        SectionBlock(block_id="reasons", text=MarkdownTextObject(text=clip(reasons, 3000))),
    ]
    week = week_text(numbers.week)
    if week:
        blocks.append(SectionBlock(block_id="week", text=MarkdownTextObject(text=clip(week, 3000))))
    if numbers.models:
        blocks.append(
            SectionBlock(
                block_id="models",
                text=MarkdownTextObject(
                    text=clip("\n".join(esc(line) for line in numbers.models), 3000)
                ),
            )
        )
    if breach_ids:
        listed = ", ".join(f"#{lead_id}" for lead_id in breach_ids)
        blocks.append(
            ContextBlock(
                block_id="breaches",
                elements=[MarkdownTextObject(text=clip(f"Leads past the SLA: {listed}", 2000))],
            )
        )
    blocks.append(
        ContextBlock(
            block_id="period",
            elements=[
                MarkdownTextObject(
                    text="Day in UTC. SLA breaches: leads qualified that day and accepted later "
                    "than the accept SLA, or still waiting past it. Chart: the last "
                    f"{numbers.series['days']} days."
                )
            ],
        )
    )
    text = (
        f"Lead handoff, {day}: {qualified} qualified, {numbers.accepted} accepted, "
        f"{numbers.rejected} rejected, {numbers.breaches} SLA breaches"
    )
    return {"text": clip(text, 3000), "blocks": [block.to_dict() for block in blocks]}


def chart_filename(numbers: Digest) -> str:
    return f"leadbot-funnel-{numbers.day}.png"


def funnel_chart(series: dict[str, Any]) -> bytes:
    """A PNG line chart of stage entries per day (matplotlib, Agg backend)."""
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib.figure import Figure
    from matplotlib.ticker import MaxNLocator

    first = date.fromisoformat(series["first_day"])
    days: list[Any] = [first + timedelta(days=i) for i in range(int(series["days"]))]
    figure = Figure(figsize=(8, 3.6), dpi=100)
    axes = figure.subplots()
    for key, label in SERIES_LABELS.items():
        axes.plot(days, series[key], label=label, marker="o", markersize=2.5, linewidth=1.6)
    axes.set_title(f"Funnel, last {len(days)} days (entries per day, UTC)")
    axes.set_ylim(bottom=0)
    axes.yaxis.set_major_locator(MaxNLocator(integer=True))
    axes.grid(alpha=0.3)
    axes.legend(loc="upper left", fontsize="small", ncols=4)
    figure.autofmt_xdate()
    figure.tight_layout()
    out = io.BytesIO()
    figure.savefig(out, format="png")
    return out.getvalue()
