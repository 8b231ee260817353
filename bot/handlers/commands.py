"""`/lead`: one slash command, many subcommands. Replies are ephemeral (Slack's default for a
command's response) and ride on the command's acknowledgement, within Slack's 3 seconds: each
subcommand is one short transaction. The two that open a form acknowledge first and then call
``views.open``. A bad or missing argument gets that subcommand's usage; people and lead names
in replies are escaped, so nothing typed becomes a mention or a link."""

from __future__ import annotations

import html
import re
from collections.abc import Callable
from datetime import date
from typing import Any

from slack_bolt import Ack, App, BoltContext
from slack_sdk import WebClient
from slack_sdk.webhook import WebhookClient

from bot.handlers import modals
from bot.runtime import Runtime
from bot.slack.middleware import runtime_of
from bot.slack.present import card_of, details_of
from bot.usecase import run, slack_text
from bot.views.cards import (
    RepLine,
    StatsView,
    lookup_reply,
    mine_reply,
    stats_reply,
    text_reply,
    usage,
)
from bot.views.text import esc
from core import access
from core.lifecycle import Stage
from core.refusals import Refusal, Refused
from core.services import leadops, offers
from core.services.stats import PERIODS, Stats, stats

Command = dict[str, Any]
Args = list[str]
MENTION = re.compile(r"^<@([UW][A-Z0-9]+)(?:\|[^>]*)?>$|^@?([UW][A-Z0-9]{2,})$")


class Usage(Exception):
    def __init__(self, subcommand: str, problem: str | None = None) -> None:
        super().__init__(problem or subcommand)
        self.subcommand = subcommand
        self.problem = problem


def words_of(text: str | None) -> Args:
    """The command's words as typed: Slack sends &, < and > as entities; mentions stay
    ``<@U...|name>``."""
    return [w if MENTION.match(w) else html.unescape(w) for w in (text or "").split()]


def on_lead(ack: Ack, command: Command, client: WebClient, context: BoltContext) -> None:
    runtime = runtime_of(context)
    words = words_of(command.get("text"))
    name = words[0].lower() if words else "help"
    handler = SUBCOMMANDS.get(name)
    if handler is None:
        ack(**usage(None, f"I don't know `{esc(name[:30])}`."))
        return
    try:
        if name != "help":
            access.check_look_up(runtime.config, command["user_id"])
        handler(runtime, ack, command, client, words[1:])
    except Usage as exc:
        ack(**usage(exc.subcommand, exc.problem))
    except Refusal as refusal:
        ack(**text_reply(slack_text(refusal)))


def on_help(runtime: Runtime, ack: Ack, command: Command, client: WebClient, args: Args) -> None:
    ack(**usage())


def on_lookup(runtime: Runtime, ack: Ack, command: Command, client: WebClient, args: Args) -> None:
    if not args:
        raise Usage("lookup", "What should I look for?")
    query, user, now = " ".join(args), command["user_id"], runtime.now()
    with runtime.db.transaction() as session:
        found = leadops.lookup(session, query)
        details = [details_of(session, lead, user, runtime.config, now) for lead in found.leads]
    ack(**lookup_reply(query, details, found.more, now))


def lead_arg(runtime: Runtime, args: Args, name: str) -> int:
    if not args:
        raise Usage(name, "Which lead?")
    return run(runtime, lambda session: leadops.find_lead(session, args[0]).id, wake=False)


def form_opener(name: str, build: modals.Builder) -> Callable[..., None]:
    def open_form(
        runtime: Runtime, ack: Ack, command: Command, client: WebClient, args: Args
    ) -> None:
        user = command["user_id"]
        lead_id = lead_arg(runtime, args, name)
        view = run(
            runtime, lambda session: build(runtime, session, lead_id, user, command), wake=False
        )
        ack()  # within Slack's 3 seconds; the trigger_id stays valid for views.open after it
        problem = modals.open_view(
            runtime, client, command["trigger_id"], view, user=user, lead_id=lead_id
        )
        if problem:  # through the command's response_url: only the user sees it, anywhere
            WebhookClient(command["response_url"]).send(text=problem, response_type="ephemeral")

    return open_form


def parker(to: Stage, name: str) -> Callable[..., None]:
    def park(runtime: Runtime, ack: Ack, command: Command, client: WebClient, args: Args) -> None:
        lead_id = lead_arg(runtime, args, name)
        lead = run(
            runtime,
            lambda session: leadops.park(
                session,
                lead_id,
                to,
                actor=command["user_id"],
                reason=" ".join(args[1:]) or None,
                config=runtime.config,
                now=runtime.now(),
            ),
        )
        ack(**text_reply(f"#{lead.id} {esc(lead.full_name)} is now {to.value}."))

    return park


def on_assign(runtime: Runtime, ack: Ack, command: Command, client: WebClient, args: Args) -> None:
    if len(args) < 2:
        raise Usage("assign", "Which lead, and to whom?")
    match = MENTION.match(args[1])
    if not match:
        raise Usage("assign", f"{esc(args[1][:40])} is not a person; mention them, like @name.")
    owner = match.group(1) or match.group(2)
    lead_id = lead_arg(runtime, args, "assign")
    lead = run(
        runtime,
        lambda session: leadops.assign(
            session,
            lead_id,
            owner,
            actor=command["user_id"],
            config=runtime.config,
            now=runtime.now(),
        ),
    )
    label = f"#{lead.id} {esc(lead.full_name)}"
    ack(**text_reply(f"{label} is now <@{owner}>'s ({lead.stage}). I let them know."))


def on_mine(runtime: Runtime, ack: Ack, command: Command, client: WebClient, args: Args) -> None:
    with runtime.db.transaction() as session:
        rows = [
            (card_of(lead), lead.stage_changed_at)
            for lead in leadops.mine(session, command["user_id"])
        ]
    ack(**mine_reply(rows, runtime.now()))


def on_stats(runtime: Runtime, ack: Ack, command: Command, client: WebClient, args: Args) -> None:
    config = runtime.config
    access.check_stats(config, command["user_id"])  # before the words: they name teams
    team, days = None, 30
    for word in args:
        if word.lower() in PERIODS:
            days = PERIODS[word.lower()]
        elif config.team(word.lower()):
            team = word.lower()
        else:
            names = ", ".join(t.name for t in config.teams)
            raise Usage(
                "stats", f"{esc(word[:30])} is neither a team ({names}) nor 7d, 30d or 90d."
            )
    with runtime.db.transaction() as session:
        found = stats(session, config, command["user_id"], team=team, days=days, now=runtime.now())
    ack(**stats_reply(stats_view(found)))


def stats_view(found: Stats) -> StatsView:
    funnel = found.funnel
    return StatsView(
        title=f"Funnel, last {found.days} days"
        + (f", team {found.team}" if found.team else ", all teams"),
        entered=funnel.entered,
        qualified=funnel.qualified,
        conversions=[
            ("MQL→SAL", funnel.rate("sal", "qualified")),
            ("SAL→SQL", funnel.rate("sql", "sal")),
            ("SQL→SQO", funnel.rate("sqo", "sql")),
        ],
        median_accept=funnel.median_accept_seconds,
        breaches=len(funnel.breaches),
        rejections=funnel.top_rejections(),
        unrouted=funnel.unrouted,
        outcomes=found.outcomes,
        reps=[
            RepLine(
                r.rep,
                r.team,
                r.offered,
                r.accepted,
                r.median_accept_seconds,
                r.open_now,
                found.caps.get(r.rep),
                r.away,
            )
            for r in found.reps
        ],
    )


def person(args: Args, command: Command) -> tuple[str, Args]:
    """``[@user] rest...``: the mentioned user (else the caller) and the other words."""
    if args and (match := MENTION.match(args[0])):
        return match.group(1) or match.group(2), args[1:]
    if args and args[0].startswith("@"):
        raise Refused(f"I don't know {esc(args[0][:40])}; mention them, like @name.")
    return command["user_id"], args


def on_away(runtime: Runtime, ack: Ack, command: Command, client: WebClient, args: Args) -> None:
    user, rest = person(args, command)
    last_day = None
    if rest and rest[0].lower() == "until":
        if len(rest) < 2:
            raise Usage("away", "Until when? Give a date like 2026-12-24.")
        try:
            last_day = date.fromisoformat(rest[1])
        except ValueError:
            raise Usage("away", f"{esc(rest[1][:20])} is not a date like 2026-12-24.") from None
        rest = rest[2:]
    run(
        runtime,
        lambda session: offers.set_away(
            session,
            user,
            actor=command["user_id"],
            last_day=last_day,
            reason=" ".join(rest) or None,
            config=runtime.config,
            now=runtime.now(),
        ),
    )
    who = "You are" if user == command["user_id"] else f"<@{user}> is"
    until = f" until {last_day:%Y-%m-%d} (inclusive)" if last_day else ""
    back = "`/lead back`" + ("" if user == command["user_id"] else f" <@{user}>")
    ack(**text_reply(f"{who} away{until}: no new leads are offered meanwhile. {back} ends it."))


def on_back(runtime: Runtime, ack: Ack, command: Command, client: WebClient, args: Args) -> None:
    user, rest = person(args, command)
    if rest:
        raise Usage("back", "`/lead back` takes nothing but an optional @user.")
    was_away = run(
        runtime,
        lambda session: offers.set_back(
            session, user, actor=command["user_id"], config=runtime.config, now=runtime.now()
        ),
    )
    who = "You are" if user == command["user_id"] else f"<@{user}> is"
    if not was_away:
        ack(**text_reply(f"{who} not away; nothing changed."))
        return
    ack(**text_reply(f"{who} back: new leads are offered again."))


SUBCOMMANDS: dict[str, Callable[[Runtime, Ack, Command, WebClient, Args], None]] = {
    "help": on_help,
    "lookup": on_lookup,
    "qualify": form_opener("qualify", modals.bant_view),
    "opportunity": form_opener("opportunity", modals.opportunity_view),
    "nurture": parker(Stage.NURTURE, "nurture"),
    "disqualify": parker(Stage.UNQUALIFIED, "disqualify"),
    "assign": on_assign,
    "mine": on_mine,
    "stats": on_stats,
    "away": on_away,
    "back": on_back,
}


def register(app: App) -> None:
    app.command("/lead")(on_lead)
