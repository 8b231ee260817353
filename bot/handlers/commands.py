"""`/lead`: one slash command, many subcommands. Replies are ephemeral (Slack's default for a
command's response); a bad or missing argument gets that subcommand's usage."""

from __future__ import annotations

import html
import re
from collections.abc import Callable
from datetime import date, timedelta
from typing import Any

from slack_bolt import Ack, App
from slack_sdk import WebClient
from slack_sdk.webhook import WebhookClient

from bot.handlers import modals
from bot.runtime import Runtime
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
from core.services import leadops, offers, outcomes, reports

Command = dict[str, Any]
MENTION = re.compile(r"^<@([UW][A-Z0-9]+)(?:\|[^>]*)?>$|^@?([UW][A-Z0-9]{2,})$")
PERIODS = {"7d": 7, "30d": 30, "90d": 90}
FORMS: dict[str, modals.Builder] = {
    "qualify": modals.bant_view,
    "opportunity": modals.opportunity_view,
}


class Usage(Exception):
    def __init__(self, subcommand: str, problem: str | None = None) -> None:
        super().__init__(problem or subcommand)
        self.subcommand = subcommand
        self.problem = problem


def register(app: App, runtime: Runtime) -> None:
    handlers: dict[str, Callable[[Ack, Command, WebClient, list[str]], None]] = {}

    def subcommand(name: str) -> Callable[[Callable[..., None]], Callable[..., None]]:
        def add(handler: Callable[..., None]) -> Callable[..., None]:
            handlers[name] = handler
            return handler

        return add

    @app.command("/lead")
    def on_lead(ack: Ack, command: Command, client: WebClient) -> None:
        # Slack sends &, < and > in a command's text as entities; mentions stay <@U...|name>.
        words = [
            w if MENTION.match(w) else html.unescape(w) for w in (command.get("text") or "").split()
        ]
        name = words[0].lower() if words else "help"
        handler = handlers.get(name)
        if handler is None:
            ack(**usage(None, f"I don't know `{esc(name[:30])}`."))
            return
        if name != "help" and not access.can_look_up(runtime.config, command["user_id"]):
            # Checked before any lead is looked up: people outside sales and marketing learn
            # nothing, not even whether an address is a lead.
            ack(**text_reply(access.refusal("/lead", "sales reps, managers and marketing")))
            return
        try:
            handler(ack, command, client, words[1:])
        except Usage as exc:
            ack(**usage(exc.subcommand, exc.problem))
        except Refusal as refusal:
            ack(**text_reply(slack_text(refusal)))

    @subcommand("help")
    def on_help(ack: Ack, command: Command, client: WebClient, args: list[str]) -> None:
        ack(**usage())

    @subcommand("lookup")
    def on_lookup(ack: Ack, command: Command, client: WebClient, args: list[str]) -> None:
        user = command["user_id"]
        if not args:
            raise Usage("lookup", "What should I look for?")
        query = " ".join(args)
        with runtime.db.transaction() as session:
            found = leadops.lookup(session, query)
            details = [
                details_of(session, lead, user, runtime.config, runtime.now())
                for lead in found.leads
            ]
        ack(**lookup_reply(query, details, found.more, runtime.now()))

    def lead_arg(args: list[str], name: str) -> int:
        if not args:
            raise Usage(name, "Which lead?")
        return run(runtime, lambda session: leadops.find_lead(session, args[0]).id, wake=False)

    def open_form(
        ack: Ack, command: Command, client: WebClient, name: str, args: list[str]
    ) -> None:
        build = FORMS[name]
        lead_id = lead_arg(args, name)
        view = run(
            runtime,
            lambda session: build(runtime, session, lead_id, command["user_id"], command),
            wake=False,
        )
        ack()  # within Slack's 3 seconds; the trigger_id stays valid for views.open after it
        problem = modals.open_view(
            runtime, client, command["trigger_id"], view, user=command["user_id"], lead_id=lead_id
        )
        if problem:  # through the command's response_url: only the user sees it, anywhere
            WebhookClient(command["response_url"]).send(text=problem, response_type="ephemeral")

    @subcommand("qualify")
    def on_qualify(ack: Ack, command: Command, client: WebClient, args: list[str]) -> None:
        open_form(ack, command, client, "qualify", args)

    @subcommand("opportunity")
    def on_opportunity(ack: Ack, command: Command, client: WebClient, args: list[str]) -> None:
        open_form(ack, command, client, "opportunity", args)

    def park(ack: Ack, command: Command, args: list[str], to: Stage, name: str) -> None:
        lead_id = lead_arg(args, name)
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
        ack(**text_reply(f"#{lead.id} {lead.full_name} is now {to.value}."))

    @subcommand("nurture")
    def on_nurture(ack: Ack, command: Command, client: WebClient, args: list[str]) -> None:
        park(ack, command, args, Stage.NURTURE, "nurture")

    @subcommand("disqualify")
    def on_disqualify(ack: Ack, command: Command, client: WebClient, args: list[str]) -> None:
        park(ack, command, args, Stage.UNQUALIFIED, "disqualify")

    @subcommand("assign")
    def on_assign(ack: Ack, command: Command, client: WebClient, args: list[str]) -> None:
        if len(args) < 2:
            raise Usage("assign", "Which lead, and to whom?")
        match = MENTION.match(args[1])
        if not match:
            raise Usage("assign", f"{args[1][:40]} is not a person; mention them, like @name.")
        owner = match.group(1) or match.group(2)
        lead_id = lead_arg(args, "assign")
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
        label = f"#{lead.id} {lead.full_name}"
        ack(**text_reply(f"{label} is now <@{owner}>'s ({lead.stage}). I let them know."))

    @subcommand("mine")
    def on_mine(ack: Ack, command: Command, client: WebClient, args: list[str]) -> None:
        user = command["user_id"]
        with runtime.db.transaction() as session:
            rows = [(card_of(lead), lead.stage_changed_at) for lead in leadops.mine(session, user)]
        ack(**mine_reply(rows, runtime.now()))

    @subcommand("stats")
    def on_stats(ack: Ack, command: Command, client: WebClient, args: list[str]) -> None:
        config = runtime.config
        if not access.can_see_stats(config, command["user_id"]):
            raise Refused(access.refusal("stats", "managers and marketing"))
        team, days = None, 30
        for word in args:
            if word.lower() in PERIODS:
                days = PERIODS[word.lower()]
            elif config.team(word.lower()):
                team = word.lower()
            else:
                names = ", ".join(t.name for t in config.teams)
                raise Usage("stats", f"{word[:30]} is neither a team ({names}) nor 7d, 30d or 90d.")
        now = runtime.now()
        since = now - timedelta(days=days)
        with runtime.db.transaction() as session:
            funnel = reports.funnel(session, config, since=since, until=now, team=team)
            handoffs = outcomes.outcomes(session, config, since=since, until=now, team=team)
            caps = {r.id: r.max_open for t in config.teams for r in t.rep_entries}
            per_rep = [
                RepLine(
                    r.rep,
                    r.team,
                    r.offered,
                    r.accepted,
                    r.median_accept_seconds,
                    r.open_now,
                    caps.get(r.rep),
                    r.away,
                )
                for r in reports.rep_stats(session, config, since=since, until=now, team=team)
            ]
        ack(
            **stats_reply(
                StatsView(
                    title=f"Funnel, last {days} days"
                    + (f", team {team}" if team else ", all teams"),
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
                    outcomes=handoffs,
                    reps=per_rep,
                )
            )
        )

    def person(args: list[str], command: Command) -> tuple[str, list[str]]:
        """``[@user] rest...``: the mentioned user (else the caller) and the other words."""
        if args and (match := MENTION.match(args[0])):
            return match.group(1) or match.group(2), args[1:]
        if args and args[0].startswith("@"):
            raise Refused(f"I don't know {esc(args[0][:40])}; mention them, like @name.")
        return command["user_id"], args

    @subcommand("away")
    def on_away(ack: Ack, command: Command, client: WebClient, args: list[str]) -> None:
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
        with runtime.db.transaction() as session:
            offers.set_away(
                session,
                user,
                actor=command["user_id"],
                last_day=last_day,
                reason=" ".join(rest) or None,
                config=runtime.config,
                now=runtime.now(),
            )
        who = "You are" if user == command["user_id"] else f"<@{user}> is"
        until = f" until {last_day:%Y-%m-%d} (inclusive)" if last_day else ""
        back = "`/lead back`" + ("" if user == command["user_id"] else f" <@{user}>")
        ack(**text_reply(f"{who} away{until}: no new leads are offered meanwhile. {back} ends it."))

    @subcommand("back")
    def on_back(ack: Ack, command: Command, client: WebClient, args: list[str]) -> None:
        user, rest = person(args, command)
        if rest:
            raise Usage("back", "`/lead back` takes nothing but an optional @user.")
        with runtime.db.transaction() as session:
            was_away = offers.set_back(
                session, user, actor=command["user_id"], config=runtime.config, now=runtime.now()
            )
        who = "You are" if user == command["user_id"] else f"<@{user}> is"
        if not was_away:
            ack(**text_reply(f"{who} not away; nothing changed."))
            return
        ack(**text_reply(f"{who} back: new leads are offered again."))
