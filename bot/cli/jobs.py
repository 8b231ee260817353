"""``leadbot jobs run NAME [--at T]``: one scheduled job, once, then a drain of what it queued."""

from __future__ import annotations

import argparse
import sys

from bot.cli.common import (
    UsageError,
    database_url,
    require,
    settings,
    workspace,
)
from bot.runtime import Runtime, utcnow
from core.db import Database


def cmd_jobs_run(args: argparse.Namespace) -> int:
    from datetime import datetime

    from bot.http.server import build_slack
    from bot.workers.drain import drain_both

    env = settings()
    require(env.slack_bot_token, "SLACK_BOT_TOKEN")
    at = utcnow()
    if args.at:
        try:
            at = datetime.fromisoformat(args.at)
        except ValueError as exc:
            raise UsageError(f"--at {args.at!r} is not an ISO-8601 time") from exc
        if at.tzinfo is None:
            raise UsageError(f"--at {args.at!r} needs a UTC offset, like 2026-11-23T09:00:00+01:00")
        if not 1970 <= at.year <= 9000:  # jobs add and subtract days; year 1 or 9999 overflows
            raise UsageError(f"--at {args.at!r} is out of range (years 1970 to 9000)")
    config = workspace()
    from core.migrate import upgrade

    url = database_url()
    upgrade(url)  # a no-op at head; a fresh database gets its tables instead of an error
    db = Database(url)
    try:
        # Without --at the clock runs: the outbox's lease is renewed in real time.
        clock = (lambda: at) if args.at else utcnow
        runtime = Runtime(settings=env, config=config, db=db, clock=clock)
        slack = build_slack(runtime, verify_token=False)
        if args.name != "outbox":
            from bot.workers.scheduler import JOBS

            print(JOBS[args.name](runtime), flush=True)
        if args.retry_given_up:
            print(
                f"outbox: {slack.notifier.retry_given_up()} given-up notification(s) queued again"
            )
        report, hooks = drain_both(runtime, slack.notifier)
        print(f"outbox: sent {report.sent}, failed {report.failed}")
        for line in report.errors:
            print(f"  {line}", file=sys.stderr)
        if hooks.delivered or hooks.failed:  # silent when no webhook was due
            print(f"webhooks: delivered {hooks.delivered}, failed {hooks.failed}")
        for line in hooks.errors:
            print(f"  {line}", file=sys.stderr)
    finally:
        db.dispose()
    return 1 if report.failed or hooks.failed else 0


def add_parser(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    from bot.workers.scheduler import JOBS

    jobs = commands.add_parser("jobs", help="scheduled jobs")
    job_actions = jobs.add_subparsers(dest="action", metavar="ACTION", required=True)
    run = job_actions.add_parser("run", help="run one job once")
    run.add_argument(
        "name",
        choices=[*JOBS, "outbox"],
        help="the job (reminders and digest also deliver what they queue, as outbox does)",
    )
    run.add_argument("--at", help="run as if the clock read this ISO-8601 time (with offset)")
    run.add_argument(
        "--retry-given-up",
        action="store_true",
        help="first queue again the notifications Slack refused for good (after fixing the cause)",
    )
    run.set_defaults(func=cmd_jobs_run)
