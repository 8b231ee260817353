"""``leadbot api-key create|list|revoke``: the intake API's keys."""

from __future__ import annotations

import argparse

from bot.cli.common import (
    UsageError,
    database_url,
)
from bot.runtime import utcnow
from core.db import Database
from core.schemas import unstorable


def cmd_api_key(args: argparse.Namespace) -> int:
    from core.migrate import upgrade
    from core.services import apikeys

    if getattr(args, "name", None) and unstorable(args.name):
        raise UsageError("a key name must be UTF-8 text without NUL characters")
    url = database_url()
    upgrade(url)  # a fresh database works straight away (a no-op at head)
    db = Database(url)
    try:
        with db.transaction() as session:
            if args.action == "create":
                key = apikeys.create_key(session, args.name, now=utcnow())
                print(f"API key {args.name!r} created. It is shown only this once; store it now:")
                print(key)
            elif args.action == "revoke":
                apikeys.revoke_key(session, args.name, now=utcnow())
                print(f"API key {args.name!r} revoked")
            else:
                keys = apikeys.list_keys(session)
                if not keys:
                    print("no API keys (create one with `leadbot api-key create NAME`)")
                for row in keys:
                    state = f"revoked {row.revoked_at:%Y-%m-%d}" if row.revoked_at else "active"
                    used = f"{row.last_used_at:%Y-%m-%d %H:%M}" if row.last_used_at else "never"
                    print(
                        f"{row.name}\t{row.prefix}...\t{state}\tcreated {row.created_at:%Y-%m-%d}"
                        f"\tlast used {used}"
                    )
    finally:
        db.dispose()
    return 0


def add_parser(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    keys = commands.add_parser("api-key", help="intake API keys")
    key_actions = keys.add_subparsers(dest="action", metavar="ACTION", required=True)
    create = key_actions.add_parser("create", help="create a key and print it once")
    create.add_argument("name")
    key_actions.add_parser("list", help="list keys (never the keys themselves)")
    revoke = key_actions.add_parser("revoke", help="revoke a key")
    revoke.add_argument("name")
    keys.set_defaults(func=cmd_api_key)
