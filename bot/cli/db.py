"""``leadbot db upgrade`` and ``leadbot config check``: the schema and the workspace config."""

from __future__ import annotations

import argparse
import sys

from bot.cli import preflight
from bot.cli.common import (
    database_url,
    settings,
)
from core.config import ConfigError, load_config
from core.services.qualification import CRITERIA


def cmd_db_upgrade(args: argparse.Namespace) -> int:
    from core.migrate import upgrade

    url = database_url()
    upgrade(url)
    print(f"database at head ({preflight.safe_url(url)})")
    return 0


def cmd_config_check(args: argparse.Namespace) -> int:
    path = args.path or settings().config_path
    try:
        config = load_config(path)
    except ConfigError as exc:
        print(
            f"{exc.path}: {len(exc.errors)} error{'s' if len(exc.errors) != 1 else ''}",
            file=sys.stderr,
        )
        for line in exc.errors:
            print(f"  {line}", file=sys.stderr)
        return 1
    print(f"{path}: ok")
    print(
        f"  marketing channel {config.marketing.channel}, {len(config.marketing.members)} member(s)"
    )
    for team in config.teams:
        route = team.route.model_dump(exclude_defaults=True) or {"default": True}
        print(
            f"  team {team.name}: channel {team.channel}, {len(team.reps)} rep(s), "
            f"{len(team.managers)} manager(s), {team.timezone}, route {route}, "
            + (
                f"round robin ({team.claim_minutes} min claim window)"
                if team.assign == "round_robin"
                else "claim"
            )
        )
    scoring = config.scoring
    print(
        f"  scoring: MQL at {scoring.mql_threshold:g} with grade {scoring.min_grade} or better, "
        f"PQL at {scoring.pql_threshold:g}, half-life {scoring.half_life_days:g} days, "
        f"{len(scoring.events)} event types, {len(scoring.product_events)} product event types, "
        f"{len(scoring.fit)} fit rules"
    )
    sla = config.sla
    print(
        f"  sla: accept {sla.mql_accept}, escalate {sla.mql_escalate}, qualify {sla.sal_qualify}, "
        f"opportunity {sla.sql_opportunity}; "
        f"SQL needs {config.qualification.bant_required} of {CRITERIA} BANT criteria"
    )
    return 0


def add_parser(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    db = commands.add_parser("db", help="database schema")
    db_commands = db.add_subparsers(dest="db_command", metavar="ACTION", required=True)
    db_commands.add_parser("upgrade", help="bring the schema up to date").set_defaults(
        func=cmd_db_upgrade
    )

    config = commands.add_parser("config", help="workspace config")
    config_commands = config.add_subparsers(dest="config_command", metavar="ACTION", required=True)
    check = config_commands.add_parser("check", help="validate a workspace config file")
    check.add_argument(
        "path", nargs="?", help="TOML file (default: $LEADBOT_CONFIG or leadbot.toml)"
    )
    check.set_defaults(func=cmd_config_check)
