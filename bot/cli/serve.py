"""``leadbot serve``: one process with the Slack endpoint, the intake API, the workers and
the scheduler."""

from __future__ import annotations

import argparse

from bot.cli import preflight
from bot.cli.common import (
    UsageError,
    database_url,
    port_number,
    require,
    settings,
    workspace,
)
from bot.runtime import Runtime
from core.db import Database


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
    adapter = preflight.crm(env, config)
    upgrade(url)
    runtime = Runtime(settings=env, config=config, db=Database(url))
    slack = build_slack(runtime)
    crm_worker, crm_sync = None, None
    if adapter is not None:
        from bot.http.server import build_crm
        from bot.workers.crm import slack_emails

        crm_worker, crm_sync = build_crm(runtime, adapter, slack_emails(slack.client))
    scheduler = None
    if not args.no_scheduler:
        from bot.workers.scheduler import build_scheduler

        scheduler = build_scheduler(runtime)
        if crm_sync is not None:
            from bot.workers.crm import schedule_sync

            schedule_sync(scheduler, crm_sync, config.crm.sync_every_seconds)
    app = create_app(runtime, slack, scheduler, build_webhooks(runtime), crm_worker)
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


def add_parser(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
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
