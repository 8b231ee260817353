"""The ``leadbot`` command."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from sqlalchemy.exc import SQLAlchemyError

from bot.cli import preflight
from bot.cli.common import UsageError, database_url, require, settings, workspace
from bot.runtime import Runtime, utcnow
from core.config import ConfigError, WorkspaceConfig, load_config
from core.db import Database
from core.schemas import unstorable

# --- commands --------------------------------------------------------------------------------


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
        f"SQL needs {config.qualification.bant_required} of 4 BANT criteria"
    )
    return 0


def cmd_serve(args: argparse.Namespace) -> int:
    import uvicorn

    from bot.http.server import build_slack, build_webhooks, create_app
    from core.migrate import upgrade

    env = settings()
    token = require(env.slack_bot_token, "SLACK_BOT_TOKEN")
    if args.socket_mode:
        require(env.slack_app_token, "SLACK_APP_TOKEN")
    else:
        require(env.slack_signing_secret, "SLACK_SIGNING_SECRET")
    config = workspace()
    url = database_url()
    host = args.host or env.host
    port = args.port or env.port
    preflight.port(host, port)
    preflight.slack(token, env.slack_api_url)
    upgrade(url)
    runtime = Runtime(settings=env, config=config, db=Database(url))
    slack = build_slack(runtime)
    scheduler = None
    if not args.no_scheduler:
        from bot.workers.scheduler import build_scheduler

        scheduler = build_scheduler(runtime)
    app = create_app(runtime, slack, scheduler, build_webhooks(runtime))
    if args.socket_mode:
        from slack_bolt.adapter.socket_mode import SocketModeHandler
        from slack_sdk.errors import SlackApiError

        try:
            SocketModeHandler(slack.bolt, env.slack_app_token).connect()  # type: ignore[no-untyped-call]
        except SlackApiError as exc:
            raise UsageError(
                f"Slack refused the app token ({exc.response.get('error')}); check SLACK_APP_TOKEN"
            ) from None
    mode = "Socket Mode" if args.socket_mode else f"http://{host}:{port}/slack/events"
    print(f"leadbot listening on http://{host}:{port} (Slack: {mode})", flush=True)
    uvicorn.run(app, host=host, port=port, log_level="warning", access_log=False)
    return 0


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
    except apikeys.ApiKeyError as exc:
        raise UsageError(str(exc)) from exc
    finally:
        db.dispose()
    return 0


def _readable(path: Path) -> None:
    """An input file that cannot be opened stops the command before it does anything else."""
    from core.csvread import file_problem

    problem = file_problem(path)
    if problem:
        raise UsageError(f"{path}: {problem}")


def cmd_import(args: argparse.Namespace) -> int:
    from core.services.imports import ImportError_, import_csv

    path = Path(args.file)
    _readable(path)
    config = workspace()
    from core.migrate import upgrade

    url = database_url()
    upgrade(url)
    db = Database(url)
    try:
        with _progress(enabled=sys.stdout.isatty()) as progress:
            report = import_csv(
                db,
                path,
                config=config,
                now=utcnow(),
                dry_run=args.dry_run,
                progress=progress,
                encoding=args.encoding,
            )
    except ImportError_ as exc:
        raise UsageError(f"{path}: {exc}") from exc
    finally:
        db.dispose()
    print(f"read as {report.encoding} ({report.encoding_source})")
    if args.dry_run:
        print("dry run: nothing was written to the database")
    if report.merged:
        print(f"{report.merged} row(s) repeated an earlier e-mail and were merged into it")
    if report.unchanged:
        print(f"{report.unchanged} lead(s) already up to date")
    if report.rejects_path:
        print(f"rejected rows and reasons: {report.rejects_path}")
    print(report.summary())
    return 0


def _scoring_workspace() -> tuple[WorkspaceConfig, str | None]:
    """The workspace config, or, when none exists at all, the packaged example (a backtest
    needs only the rules, and must work on a laptop with nothing but a history file)."""
    import os

    path = settings().config_path
    if not os.environ.get("LEADBOT_CONFIG") and not Path(path).is_file():
        from bot.cli.sandbox import packaged_config

        return workspace(str(packaged_config())), (
            f"no workspace config at {path}: the rules are those of the example config"
        )
    return workspace(path), None


def _backtest_options(args: argparse.Namespace) -> Any:
    from core.learning.backtest import Options

    return Options(
        target=args.target,
        positive=args.positive,
        time=args.time,
        exclude=args.exclude or (),
        keep=args.keep or (),
    )


def cmd_scoring_backtest(args: argparse.Namespace) -> int:
    import json

    from core.services.learning import LearningError, backtest_file

    path = Path(args.file)
    _readable(path)
    config, note = _scoring_workspace()
    try:
        report, _ = backtest_file(path, _backtest_options(args), config)
    except LearningError as exc:
        raise UsageError(str(exc)) from exc
    if note:
        report["warnings"].append(note)
    if args.json:
        print(json.dumps(report))
        return 0
    from bot.cli.scoring_text import backtest_lines

    for line in backtest_lines(path.name, report):
        print(line)
    return 0


def cmd_scoring_train(args: argparse.Namespace) -> int:
    from core.services import learning

    if args.csv and not args.target:
        raise UsageError("--csv needs --target COLUMN (the outcome column)")
    if args.target and not args.csv:
        raise UsageError(
            "--target goes with --csv FILE; without a file the outcomes come from the database"
        )
    if args.csv:
        _readable(Path(args.csv))
    config = workspace()

    def train(session: Any) -> list[str]:
        if args.csv:
            version, _ = learning.train_from_file(
                session, Path(args.csv), _backtest_options(args), config, utcnow()
            )
        else:
            version = learning.train_from_database(session, config, utcnow())
        return list(model_lines(version))

    return _print_models(train)


def cmd_scoring_models(args: argparse.Namespace) -> int:
    from core.services import learning

    def listed(session: Any) -> list[str]:
        return [line for version in learning.list_models(session) for line in model_lines(version)]

    return _print_models(
        listed, empty="no model versions yet (train one with `leadbot scoring train`)"
    )


def cmd_scoring_use(args: argparse.Namespace) -> int:
    from core.services import learning

    return _print_models(
        lambda session: list(model_lines(learning.use_model(session, args.version, utcnow())))
    )


def _print_models(work: Callable[[Any], list[str]], *, empty: str | None = None) -> int:
    """Run ``work`` in one transaction on the migrated database and print the lines it returns
    (``empty`` when there are none); a refusal of the learning side is one line, exit 2."""
    from core.migrate import upgrade
    from core.services import learning

    url = database_url()
    upgrade(url)
    db = Database(url)
    try:
        with db.transaction() as session:
            lines = work(session)
    except learning.LearningError as exc:
        raise UsageError(str(exc)) from exc
    finally:
        db.dispose()
    if not lines and empty:
        print(empty)
    for line in lines:
        print(line)
    return 0


def model_lines(version: Any) -> Iterator[str]:
    from bot.cli.scoring_text import version_lines

    return version_lines(version)


def cmd_sandbox(args: argparse.Namespace) -> int:
    from bot.cli.sandbox import SandboxError, run_sandbox

    try:
        return run_sandbox(port=args.port)
    except SandboxError as exc:
        raise UsageError(str(exc)) from exc


@contextmanager
def _progress(enabled: bool) -> Iterator[Callable[[int, int], None] | None]:
    if not enabled:
        yield None
        return
    from rich.progress import Progress

    with Progress(transient=True) as bar:
        task = bar.add_task("importing", total=None)

        def update(done: int, total: int) -> None:
            bar.update(task, completed=done, total=total)

        yield update


# --- parser ----------------------------------------------------------------------------------


def _history_options(parser: argparse.ArgumentParser, *, required: bool) -> None:
    parser.add_argument("--target", required=required, help="the outcome column")
    parser.add_argument("--positive", help="the outcome value that counts as good")
    parser.add_argument("--time", help="split by this column: its latest 30%% are the test set")
    # extend + "+": `--exclude A B` and `--exclude A --exclude B` both work.
    parser.add_argument(
        "--exclude", action="extend", nargs="+", metavar="COL", help="leave columns out"
    )
    parser.add_argument(
        "--keep",
        action="extend",
        nargs="+",
        metavar="COL",
        help="use columns the leak guard would drop",
    )


def port_number(lowest: int) -> Callable[[str], int]:
    """An argparse type: a TCP port from ``lowest`` to 65535 (else socket.bind would raise)."""

    def parse(text: str) -> int:
        if not text.isdigit() or not lowest <= int(text) <= 65535:
            raise argparse.ArgumentTypeError(f"{text!r} is not a port from {lowest} to 65535")
        return int(text)

    return parse


def build_parser() -> argparse.ArgumentParser:
    from bot.workers.scheduler import JOBS

    parser = argparse.ArgumentParser(
        prog="leadbot",
        description="Slack-native sales assistant: scores leads, hands MQLs to sales in Slack, "
        "runs BANT qualification and keeps the SLA clock.",
    )
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

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

    serve = commands.add_parser("serve", help="run the bot: Slack endpoint, intake API, scheduler")
    serve.add_argument("--host", help="address to listen on (default $LEADBOT_HOST or 127.0.0.1)")
    serve.add_argument("--port", type=port_number(1), help="port (default $LEADBOT_PORT or 3000)")
    serve.add_argument(
        "--socket-mode", action="store_true", help="take Slack's requests over Socket Mode"
    )
    serve.add_argument(
        "--no-scheduler", action="store_true", help="do not run the scheduled jobs here"
    )
    serve.set_defaults(func=cmd_serve)

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

    keys = commands.add_parser("api-key", help="intake API keys")
    key_actions = keys.add_subparsers(dest="action", metavar="ACTION", required=True)
    create = key_actions.add_parser("create", help="create a key and print it once")
    create.add_argument("name")
    key_actions.add_parser("list", help="list keys (never the keys themselves)")
    revoke = key_actions.add_parser("revoke", help="revoke a key")
    revoke.add_argument("name")
    keys.set_defaults(func=cmd_api_key)

    importer = commands.add_parser("import", help="bulk upsert of leads from a CSV file")
    importer.add_argument("file", help="CSV file with a header row and an e-mail column")
    importer.add_argument(
        "--dry-run", action="store_true", help="validate and report, write nothing"
    )
    importer.add_argument(
        "--encoding",
        metavar="NAME",
        help="the file's encoding, like utf-8, cp1252 or latin-1 (default: detected)",
    )
    importer.set_defaults(func=cmd_import)

    scoring = commands.add_parser("scoring", help="learned scoring: backtest, train, versions")
    scoring_actions = scoring.add_subparsers(dest="action", metavar="ACTION", required=True)
    backtest = scoring_actions.add_parser(
        "backtest", help="measure the learned model and the rules on a history file"
    )
    backtest.add_argument("file", help="CSV history, one row a lead, with an outcome column")
    _history_options(backtest, required=True)
    backtest.add_argument("--json", action="store_true", help="print one JSON object")
    backtest.set_defaults(func=cmd_scoring_backtest)
    train = scoring_actions.add_parser(
        "train", help="train a new active model version from the database's outcomes (or a file)"
    )
    train.add_argument("--csv", metavar="FILE", help="train from this history file instead")
    _history_options(train, required=False)
    train.set_defaults(func=cmd_scoring_train)
    scoring_actions.add_parser("models", help="list model versions").set_defaults(
        func=cmd_scoring_models
    )
    use = scoring_actions.add_parser("use", help="make model version N the active one")
    use.add_argument("version", type=int, metavar="N")
    use.set_defaults(func=cmd_scoring_use)

    from bot.cli.webhook import add_parser as add_webhook_parser

    add_webhook_parser(commands)
    from bot.cli.lead import add_parser as add_lead_parser

    add_lead_parser(commands)

    sandbox = commands.add_parser(
        "sandbox", help="the whole bot against a local Slack emulator with a web page, on SQLite"
    )
    sandbox.add_argument(
        "--port", type=port_number(0), default=3000, help="the bot's port (default 3000)"
    )
    sandbox.set_defaults(func=cmd_sandbox)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return int(args.func(args))
    except (UsageError, preflight.StartupError) as exc:
        print(f"leadbot: {exc}", file=sys.stderr)
        return 2
    except SQLAlchemyError as exc:  # the database went away or refused mid-command
        print(f"leadbot: database error: {preflight.first_line(exc)}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
