"""``leadbot webhook ...`` and the webhook half of ``leadbot jobs run outbox``."""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Callable
from typing import TYPE_CHECKING

from bot.runtime import Runtime, utcnow
from bot.workers.webhooks import Dispatcher, resolve
from core import webhooks
from core.config import Settings, WorkspaceConfig
from core.db import Database
from core.services import webhook_endpoints as endpoints

if TYPE_CHECKING:
    pass


def add_parser(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    hooks = commands.add_parser("webhook", help="outgoing webhooks (signed events to a CRM)")
    actions = hooks.add_subparsers(dest="action", metavar="ACTION", required=True)
    add = actions.add_parser("add", help="add an endpoint; prints its id and secret once")
    add.add_argument("url")
    add.add_argument(
        "--events",
        nargs="+",
        metavar="TYPE",
        help=f"event types to send (default: all): {', '.join(webhooks.LEAD_EVENTS)}",
    )
    add.add_argument("--description", help="what the endpoint is for")
    add.add_argument(
        "--allow-private",
        action="store_true",
        help="allow a private or loopback address (a receiver on this machine or network)",
    )
    actions.add_parser("list", help="endpoints, their state and delivery counts (no secrets)")
    for name, text in (
        ("remove", "delete an endpoint and its undelivered events"),
        ("test", "send a webhook.test event to an endpoint now"),
        ("retry", "send an endpoint's failed deliveries again (enabling it after failures)"),
        ("enable", "enable an endpoint disabled by its receiver (410 Gone) and send again"),
    ):
        actions.add_parser(name, help=text).add_argument("id")
    deliveries = actions.add_parser("deliveries", help="an endpoint's last deliveries")
    deliveries.add_argument("id")
    deliveries.add_argument("--failed", action="store_true", help="only those that failed")
    deliveries.add_argument("--limit", default="20", help="how many (default 20)")
    hooks.set_defaults(func=cmd_webhook)


def cmd_webhook(args: argparse.Namespace) -> int:
    from bot.cli.common import database_url, settings
    from core.migrate import upgrade

    env = settings()
    url = database_url()  # one line naming LEADBOT_DATABASE_URL when it cannot work
    upgrade(url)  # a fresh database works straight away (a no-op at head)
    db = Database(url)
    try:
        return _run(args, env, db)
    finally:
        db.dispose()


def _run(args: argparse.Namespace, env: Settings, db: Database) -> int:
    action = args.action
    if action == "add":
        events = (
            None
            if args.events is None
            else [part for item in args.events for part in item.split(",")]
        )
        with db.transaction() as session:
            added = endpoints.add(
                session,
                args.url,
                events=events,
                description=args.description,
                resolve=resolve,
                now=utcnow(),
                allow_private=args.allow_private,
            )
            endpoint_id, url, chosen = added.endpoint.id, added.endpoint.url, added.endpoint.events
        for warning in added.warnings:
            print(f"warning: {warning}", file=sys.stderr)
        print(f"webhook {endpoint_id} added: {url} ({', '.join(chosen)})")
        print("Its signing secret is shown only this once; store it now:")
        print(added.secret)
        return 0
    if action == "list":
        with db.transaction() as session:
            rows = endpoints.summaries(session)
            if not rows:
                print("no webhooks (add one with `leadbot webhook add URL`)")
            for row in rows:
                e = row.endpoint
                state = f"disabled: {e.disabled_reason}" if e.disabled_at else "enabled"
                print(
                    f"{e.id}\t{e.url}\t{state}\t{','.join(e.events)}\tdelivered {row.delivered}, "
                    f"pending {row.pending}, failed {row.failing}\t{e.description or ''}".rstrip()
                )
        return 0
    endpoint_id = endpoints.parse_id(args.id)
    if action == "remove":
        with db.transaction() as session:
            removed = endpoints.remove(session, endpoint_id)
        print(f"webhook {endpoint_id} removed ({removed.url})")
        return 0
    if action in ("retry", "enable"):
        requeue = endpoints.retry if action == "retry" else endpoints.enable
        with db.transaction() as session:
            queued = requeue(session, endpoint_id, now=utcnow())
        print(
            f"webhook {endpoint_id} enabled; {queued} undelivered event(s) due now "
            "(`leadbot serve` sends them, or `leadbot jobs run outbox`)"
        )
        return 0
    if action == "test":
        return _test(db, env, endpoint_id)
    limit = args.limit
    if not str(limit).isdigit() or not 1 <= int(limit) <= 1000:
        raise webhooks.BadEndpoint(f"--limit {limit!r} is not a number from 1 to 1000")
    with db.transaction() as session:
        found = endpoints.deliveries(
            session, endpoint_id, failed_only=args.failed, limit=int(limit)
        )
        if not found:
            print("no failed deliveries" if args.failed else "no deliveries yet")
        for item in found:
            d = item.delivery
            last = d.last_error or (f"HTTP {d.last_status}" if d.last_status else "-")
            when = (
                f"next {d.next_attempt_at:%Y-%m-%d %H:%M:%S}"
                if item.status in ("pending", "retrying")
                else ""
            )
            print(
                f"{d.id}\t{d.created_at:%Y-%m-%d %H:%M:%S}\t{item.event.type}\t"
                f"{item.event.message_id}\tlead {d.lead_id or '-'}\t{item.status}\t"
                f"{d.attempts} attempt(s)\t{last}\t{when}".rstrip()
            )
    return 0


def _test(db: Database, env: Settings, endpoint_id: int) -> int:
    from bot.cli.common import workspace

    with db.transaction() as session:
        delivery = endpoints.queue_test(session, endpoint_id, now=utcnow())
        delivery_id = delivery.id
    runtime = Runtime(settings=env, config=_config_or_none(workspace), db=db)
    logging.getLogger("bot.workers.webhooks").setLevel(
        logging.ERROR
    )  # the outcome is printed below
    dispatcher = Dispatcher(runtime)
    try:
        outcome = dispatcher.deliver(delivery_id)
    finally:
        dispatcher.close()
    if outcome is None:
        print(f"webhook.test queued for webhook {endpoint_id}; another process is sending it")
        return 0
    if outcome.ok:
        print(f"webhook.test delivered to webhook {endpoint_id}: HTTP {outcome.status}")
        return 0
    print(
        f"leadbot: webhook.test to webhook {endpoint_id} failed: {outcome.error}; it is retried "
        f"on the schedule (`leadbot webhook deliveries {endpoint_id}`)",
        file=sys.stderr,
    )
    return 1


def _config_or_none(load: Callable[[], WorkspaceConfig]) -> WorkspaceConfig:
    """The workspace config when there is one; a test send needs none."""
    from bot.cli.common import UsageError

    try:
        return load()
    except UsageError:
        return WorkspaceConfig.model_construct()  # type: ignore[call-arg]
