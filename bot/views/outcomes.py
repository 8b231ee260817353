"""What sales made of marketing's leads, for `/lead stats` and the digest. Pure: the report of
``core.services.outcomes`` in, Block Kit or text out."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from slack_sdk.models.blocks import ContextBlock, MarkdownTextObject, SectionBlock

from bot.views.text import clip, esc, esc_clip
from core.messages import DigestWeek
from core.services.outcomes import BAD_FIT, MIN_BASE, GroupStats, Outcomes, RuleStats, Share

SHOWN = 8  # lines per list; the rest is counted


def share_text(share: Share) -> str:
    """``9 of 14 (64%)``; only ``1 of 2`` when the base is too small for a rate."""
    text = f"{share.count} of {share.total}"
    return text if share.rate is None else f"{text} ({share.rate:.0%})"


def per_ten(count: int, total: int) -> str:
    """A rate in words a reader compares at a glance: ``2 in 10``, or ``1 in 25`` when rarer."""
    if not total or not count:
        return f"{count} in {total}"
    tenths = round(10 * count / total)
    return f"{tenths} in 10" if tenths >= 1 else f"1 in {round(total / count)}"


def _group_line(group: GroupStats, none_label: str) -> str:
    name = esc_clip(group.name, 80) if group.name is not None else f"_{none_label}_"
    parts = [
        f"{group.handoffs} qualified",
        f"accepted {share_text(group.accepted)}" if group.accepted.total else "no verdict yet",
        f"SQL {share_text(group.sql)}",
    ]
    if group.rejections:
        top = ", ".join(f"{esc(label)} {count}" for label, count in group.rejections[:3])
        parts.append(f"rejected: {top}")
    return f"• *{name}*: " + " · ".join(parts)


def _rule_line(rule: RuleStats) -> str:
    line = f"• {esc_clip(rule.rule, 120)}: {share_text(rule.bad_fit)} rejected as {BAD_FIT}"
    if rule.lift is not None:
        line += f", {rule.lift:.1f}x the average"
    return line


def _listed(title: str, lines: Sequence[str], total: int) -> str:
    more = total - len(lines)
    tail = [f"…and {more} more."] if more > 0 else []
    return clip("\n".join([title, *lines, *tail]), 3000)


def outcome_blocks(report: Outcomes) -> list[dict[str, Any]]:
    if not report.handoffs:
        return [
            SectionBlock(
                block_id="outcomes",
                text=MarkdownTextObject(text="*By source and campaign*\nNo leads qualified."),
            ).to_dict()
        ]
    sources = [_group_line(g, "no source") for g in report.sources[:SHOWN]]
    campaigns = [_group_line(g, "no campaign") for g in report.campaigns[:SHOWN]]
    scored = [rule for rule in report.rules if rule.bad_fit.total]
    rules = [_rule_line(rule) for rule in scored[:SHOWN]]
    overall = (
        f"Overall {share_text(report.bad_fit)} leads with a verdict were rejected as {BAD_FIT}."
        if report.decided
        else "No verdicts from sales yet."
    )
    blocks = [
        SectionBlock(
            block_id="sources",
            text=MarkdownTextObject(text=_listed("*By source*", sources, len(report.sources))),
        ),
        SectionBlock(
            block_id="campaigns",
            text=MarkdownTextObject(
                text=_listed("*By campaign*", campaigns, len(report.campaigns))
            ),
        ),
        SectionBlock(
            block_id="rules",
            text=MarkdownTextObject(
                text=_listed(f"*Scoring rules and {BAD_FIT}*\n{overall}", rules, len(scored))
            ),
        ),
        ContextBlock(
            block_id="outcomes_help",
            elements=[
                MarkdownTextObject(
                    text=f"Leads qualified in the period and what sales decided by now. Accepted: "
                    f"of those with a verdict. SQL: of all qualified. A rule's line: leads it "
                    f"gave points to; the average is the overall {BAD_FIT} rate. Rates out of "
                    f"fewer than {MIN_BASE} are left out: too few to say."
                )
            ],
        ),
    ]
    return [block.to_dict() for block in blocks]


def week_text(week: DigestWeek | None) -> str | None:
    """The digest's lines about the week, or None: too few verdicts to say anything."""
    if week is None:
        return None
    lines = []
    rule = week.worst_rule
    if rule:
        lines.append(
            f"*Worst rule this week*: {esc_clip(rule.rule, 120)}: {rule.bad_fit} of "
            f"{rule.decided} rejected as {BAD_FIT}, against "
            f"{per_ten(rule.overall_bad_fit, rule.overall_decided)} overall"
        )
    best, worst = week.best_source, week.worst_source
    if best and worst:
        lines.append(
            f"*Best source*: {esc_clip(best.name or 'no source', 80)}, {best.accepted} of "
            f"{best.decided} accepted · *worst*: {esc_clip(worst.name or 'no source', 80)}, "
            f"{worst.accepted} of {worst.decided} accepted"
        )
    return "\n".join(lines) or None
