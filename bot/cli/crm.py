"""``leadbot crm check|sync|status``: the CRM link from the command line."""

from __future__ import annotations

import argparse
from collections.abc import Mapping
from datetime import UTC, datetime

from bot.crm.port import CrmAdapter, CrmSetupError, build_adapter, sales_people
from bot.runtime import Runtime
from core.config import Settings, WorkspaceConfig
from core.db import Database


def add_parser(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    crm = commands.add_parser("crm", help="the CRM link (HubSpot or Salesforce)")
    actions = crm.add_subparsers(dest="action", metavar="ACTION", required=True)
    actions.add_parser(
        "check", help="credentials, every mapped field and option, owners: one line per problem"
    )
    sync = actions.add_parser("sync", help="one pull of changes and a drain of pending writes")
    sync.add_argument("--full", action="store_true", help="read every record again")
    sync.add_argument(
        "--at", type=datetime.fromisoformat, metavar="T", help="as if the clock read T (ISO-8601)"
    )
    actions.add_parser("status", help="cursor, last sync, counts, pending and failed writes")
    crm.set_defaults(func=cmd_crm)


def adapter_for(env: Settings, config: WorkspaceConfig) -> CrmAdapter:
    from bot.cli.common import UsageError

    try:
        return build_adapter(env, config)
    except CrmSetupError as exc:
        raise UsageError(str(exc)) from None


def slack_lookup(env: Settings):  # type: ignore[no-untyped-def]
    """Slack e-mails of reps when a bot token is set (else only ``[crm.owners]`` matches)."""
    from bot.workers.crm import no_slack_emails, slack_emails

    if not env.slack_bot_token:
        return no_slack_emails
    from slack_sdk import WebClient

    return slack_emails(WebClient(token=env.slack_bot_token, base_url=env.slack_api_url))


def cmd_crm(args: argparse.Namespace) -> int:
    from bot.cli.common import UsageError, database_url, settings, workspace

    env = settings()
    config = workspace()
    if config.crm.system is None:
        raise UsageError("no CRM is configured ([crm] system is not set in the workspace config)")
    if args.action == "check":
        adapter = adapter_for(env, config)
        try:
            emails: Mapping[str, str | None] = slack_lookup(env)(sales_people(config))
            problems = adapter.check(emails)
        finally:
            adapter.close()
        for line in problems:
            print(line)
        if problems:
            return 1
        print(f"{config.crm.system}: credentials, mapping and owners are fine")
        return 0
    from core.migrate import upgrade

    url = database_url()
    upgrade(url)
    db = Database(url)
    try:
        if args.action == "status":
            return status(db, config)
        runtime = Runtime(settings=env, config=config, db=db)
        if args.at:
            at = args.at if args.at.tzinfo else args.at.replace(tzinfo=UTC)
            runtime.clock = lambda: at
        return sync(runtime, env, full=args.full)
    finally:
        db.dispose()


def sync(runtime: Runtime, env: Settings, *, full: bool) -> int:
    from bot.cli.common import UsageError
    from bot.workers.crm import CrmSender, CrmSync

    adapter = adapter_for(env, runtime.config)
    lookup = slack_lookup(env)
    try:
        try:
            adapter.connect()
        except CrmSetupError as exc:
            raise UsageError(str(exc)) from None
        run = CrmSync(runtime, adapter, lookup).run(full=full)
        if run.busy:
            print(f"another process is syncing ({run.busy}); try again later")
            return 1
        r = run.report
        print(
            f"read {r.seen} in {run.pages} page(s), {run.seconds:.1f} s: {r.created} created, "
            f"{r.updated} updated, {r.unchanged} unchanged, {r.qualified} qualified, "
            f"{r.stage_changes} stage and {r.owner_changes} owner changes, {r.converted} "
            f"converted, {r.deleted} deleted"
        )
        for line in r.skipped[:20]:
            print(f"  skipped: {line}")
        if r.unmatched_owners:
            print(f"  owners with no Slack user: {', '.join(sorted(r.unmatched_owners))}")
        sender = CrmSender(runtime, adapter, lookup)
        sender.drain()
        print(f"writes: delivered {sender.delivered}, failed {sender.failed}")
        for line in sender.errors[:20]:
            print(f"  {line}")
        if run.error:
            print(f"sync stopped: {run.error}")
            return 1
        return 0
    finally:
        adapter.close()


def status(db: Database, config: WorkspaceConfig) -> int:
    from sqlalchemy import func, select

    from core.models import CrmWriteRow, Lead
    from core.services import crm_sync, crm_writes

    system = config.crm.system or ""
    with db.transaction() as session:
        state = crm_sync.sync_state(session, system)
        counts = crm_writes.counts(session)
        deleted = session.scalar(
            select(func.count())
            .select_from(Lead)
            .where(Lead.crm_system == system, Lead.crm_deleted_at.is_not(None))
        )
        linked = session.scalar(
            select(func.count()).select_from(Lead).where(Lead.crm_system == system)
        )
        failures = session.scalars(
            select(CrmWriteRow)
            .where(CrmWriteRow.delivered_at.is_(None), CrmWriteRow.gave_up_at.is_not(None))
            .order_by(CrmWriteRow.id.desc())
            .limit(10)
        ).all()
        print(f"system: {system} (qualify = {config.crm.qualify})")
        print(f"cursor: {state.cursor or 'none (the next sync reads everything)'}"[:300])
        if state.last_sync_at:
            print(
                f"last sync: {state.last_sync_at.isoformat()} in {state.last_duration or 0:.1f} s, "
                f"{state.last_seen} record(s) seen"
                + (f"; stopped: {state.last_error}" if state.last_error else "")
            )
        else:
            print("last sync: never")
        print(
            f"records seen: {state.seen_total}; leads linked: {linked}; "
            f"deleted in the CRM: {deleted}"
        )
        print(
            f"writes: {counts.pending} pending, {counts.failed} failed, "
            f"{counts.delivered} delivered"
        )
        for row in failures:
            print(f"  failed write {row.id} (lead {row.lead_id}, {row.kind}): {row.last_error}")
    return 0
