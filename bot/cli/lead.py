"""``leadbot lead export|erase|unsuppress``: personal data on request (see the README's
"Personal data" section)."""

from __future__ import annotations

import argparse
import getpass
import sys

from bot.runtime import Runtime, utcnow
from core.db import Database
from core.refusals import Refusal, UnknownLead
from core.schemas import unstorable
from core.services import privacy


def add_parser(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    lead = commands.add_parser("lead", help="personal data: export, erase, unsuppress")
    actions = lead.add_subparsers(dest="action", metavar="ACTION", required=True)
    export = actions.add_parser("export", help="everything held about a person, one JSON document")
    export.add_argument("lead", metavar="EMAIL|ID")
    erase = actions.add_parser(
        "erase", help="erase a person everywhere (database, Slack messages, queued payloads)"
    )
    erase.add_argument("lead", metavar="EMAIL|ID")
    erase.add_argument("--reason", required=True, help="why (audited; say why, never whom)")
    unsuppress = actions.add_parser("unsuppress", help="allow an erased e-mail address again")
    unsuppress.add_argument("email")
    unsuppress.add_argument("--reason", default="unsuppressed by an operator", help="why")
    lead.set_defaults(func=cmd_lead)


def operator() -> str:
    try:
        return f"cli:{getpass.getuser()}"
    except (KeyError, OSError):  # no user name for this uid (a container)
        return "cli"


def cmd_lead(args: argparse.Namespace) -> int:
    from bot.cli.common import UsageError, database_url, settings, workspace
    from core.migrate import upgrade

    given = args.email if args.action == "unsuppress" else args.lead
    for value in (given, getattr(args, "reason", None) or ""):
        if unstorable(value):
            raise UsageError("arguments must be UTF-8 text without NUL characters")
    env = settings()
    config = workspace()
    url = database_url()
    upgrade(url)  # a no-op at head
    db = Database(url)
    runtime = Runtime(settings=env, config=config, db=db)
    try:
        if args.action == "export":
            with db.transaction() as session:
                lead = privacy.find(session, args.lead)
                document = privacy.export(session, lead, config=config, now=runtime.now())
            sys.stdout.write(privacy.dumps(document) + "\n")
            return 0
        if args.action == "unsuppress":
            if "@" not in args.email:
                raise UsageError(f"{args.email!r} is not an e-mail address")
            with db.transaction() as session:
                done = privacy.unsuppress(
                    session, args.email, actor=operator(), reason=args.reason, now=utcnow()
                )
            if not done:
                print(f"leadbot: {args.email} was not suppressed; nothing changed", file=sys.stderr)
                return 1
            print(f"{args.email} may come back (unsuppressed)")
            return 0
        with db.transaction() as session:
            lead = privacy.find(session, args.lead, lock=True)
            erased = privacy.erase(
                session, lead, config=config, actor=operator(), reason=args.reason, now=utcnow()
            )
        db.checkpoint()  # SQLite: the pages as they were go from the -wal file too
        print(erased.summary())
        print(
            "the Slack rewrites and lead.erased go out with the outbox (leadbot serve, or "
            "`leadbot jobs run outbox`); they are retried while Slack is unreachable"
        )
        return 0
    except UnknownLead as exc:
        print(f"leadbot: {exc}; nothing changed", file=sys.stderr)
        return 1
    except Refusal as exc:
        print(f"leadbot: {exc}; nothing changed", file=sys.stderr)
        return 1
    finally:
        db.dispose()
