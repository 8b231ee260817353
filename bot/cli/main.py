"""The ``leadbot`` command: the parser made of each command group's module, and the one place
that turns an error meant for the operator into one line on stderr."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from sqlalchemy.exc import SQLAlchemyError

from bot.cli import (
    apikey,
    crm,
    db,
    imports,
    jobs,
    lead,
    preflight,
    sandbox,
    scoring,
    serve,
    webhook,
)
from core.refusals import LeadbotError

GROUPS = (db, serve, jobs, apikey, imports, scoring, webhook, crm, lead, sandbox)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="leadbot",
        description="Slack-native sales assistant: scores leads, hands MQLs to sales in Slack, "
        "runs BANT qualification and keeps the SLA clock.",
    )
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for group in GROUPS:
        group.add_parser(commands)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return int(args.func(args))
    except LeadbotError as exc:  # every error meant for the operator, whichever part raised it
        print(f"leadbot: {exc}", file=sys.stderr)
        return 2
    except SQLAlchemyError as exc:  # the database went away or refused mid-command
        print(f"leadbot: database error: {preflight.first_line(exc)}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
