"""The HTTP side of ``leadbot serve``: intake API, health, metrics (and Slack, when configured)."""

from __future__ import annotations

import logging
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

from apscheduler.schedulers.base import BaseScheduler
from fastapi import FastAPI, Request
from fastapi.encoders import jsonable_encoder
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, PlainTextResponse
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from slack_bolt import App
from slack_sdk import WebClient
from sqlalchemy.exc import DBAPIError, InterfaceError, OperationalError
from starlette.concurrency import run_in_threadpool
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from bot.crm.port import CrmAdapter
from bot.http import api
from bot.http.metrics import Metrics
from bot.http.slack_route import mount_slack
from bot.runtime import Runtime
from bot.slack.app import build_app
from bot.slack.client import build_web_client
from bot.slack.presence import SlackPresence, presence_client
from bot.workers.crm import CrmSender, CrmSync, SlackEmails, crm_worker
from bot.workers.notifier import Notifier, notifier_worker
from bot.workers.webhooks import Dispatcher, webhook_worker
from bot.workers.worker import DeliveryWorker
from core.config import key_path

MAX_BODY = 1024 * 1024


log = logging.getLogger(__name__)

#: What a request is told while the database does not answer.
DATABASE_DOWN = "the database is unavailable; try again shortly"


def database_down(exc: BaseException) -> bool:
    """The error means the database cannot be reached (refused, dropped, timed out), not that
    a statement was wrong."""
    return isinstance(exc, DBAPIError) and (
        isinstance(exc, OperationalError | InterfaceError) or exc.connection_invalidated
    )


class DatabaseUnavailable:
    """While the database does not answer, every request that needs it gets 503 with a message
    and the log one line (no traceback per request)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = False

        async def tracked(message: Message) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, receive, tracked)
        except DBAPIError as exc:
            if started or not database_down(exc):
                raise
            reason = (str(exc.orig or exc).strip().splitlines() or [type(exc).__name__])[0]
            log.warning(
                "%s %s: 503, database unavailable (%s)",
                scope.get("method"),
                scope.get("path"),
                reason,
            )
            response = JSONResponse(
                {"detail": DATABASE_DOWN}, status_code=503, headers={"Retry-After": "5"}
            )
            await response(scope, receive, send)


class BodyLimit:
    """413 for a body over ``limit`` bytes, by Content-Length or by counting a streamed body,
    before any handler sees it."""

    def __init__(self, app: ASGIApp, limit: int = MAX_BODY) -> None:
        self.app = app
        self.limit = limit

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = dict(scope["headers"]).get(b"content-length")
        if declared is not None and (not declared.isdigit() or int(declared) > self.limit):
            await self._too_large(scope, receive, send)
            return
        chunks: list[Message] = []
        size = 0
        while True:
            message = await receive()
            chunks.append(message)
            size += len(message.get("body", b""))
            if size > self.limit:
                await self._too_large(scope, receive, send)
                return
            if message["type"] != "http.request" or not message.get("more_body"):
                break

        async def replay() -> Message:
            return chunks.pop(0) if chunks else await receive()

        await self.app(scope, replay, send)

    async def _too_large(self, scope: Scope, receive: Receive, send: Send) -> None:
        response = JSONResponse(
            {"detail": f"request body is larger than {self.limit // 1024} KiB"}, status_code=413
        )
        await response(scope, receive, send)


def _readable(errors: list[dict[str, Any]]) -> list[str]:
    lines = []
    for error in errors:
        loc = [part for part in error.get("loc", ()) if part not in ("event", "batch")]
        where = loc[0] if loc and loc[0] in ("body", "query", "path", "header") else None
        path = key_path(loc[1:] if where else loc)
        lines.append(f"{where + ': ' if where else ''}{path}: {error.get('msg', 'invalid')}")
    return lines


@dataclass
class SlackSide:
    """Everything that talks to Slack: the Web API client, the Bolt app, the outbox worker."""

    client: WebClient
    bolt: App
    notifier: Notifier
    worker: DeliveryWorker
    presence: SlackPresence


def build_slack(runtime: Runtime, *, verify_token: bool = True) -> SlackSide:
    token = runtime.settings.slack_bot_token
    if not token:
        raise ValueError("SLACK_BOT_TOKEN is not set")
    client = build_web_client(token, runtime.settings.slack_api_url)
    presence = SlackPresence(runtime, presence_client(token, runtime.settings.slack_api_url))
    runtime.away_by_status = presence
    # The notifier paces each channel itself: its client gives a 429 back at once instead of
    # sleeping through it, which would hold up every other channel's messages.
    notifier = Notifier(
        runtime, build_web_client(token, runtime.settings.slack_api_url, rate_limit_retries=0)
    )
    worker = notifier_worker(notifier)
    runtime.outbox_listeners.append(worker.wake)
    return SlackSide(
        client, build_app(runtime, client, verify_token=verify_token), notifier, worker, presence
    )


def build_webhooks(runtime: Runtime) -> DeliveryWorker:
    """The webhook delivery threads, woken by every commit that queues something."""
    dispatcher = Dispatcher(runtime)
    worker = webhook_worker(dispatcher)
    runtime.outbox_listeners.append(worker.wake)
    return worker


def build_crm(
    runtime: Runtime, adapter: CrmAdapter, slack_emails: SlackEmails
) -> tuple[DeliveryWorker, CrmSync]:
    """The CRM write thread (woken by every commit that queues something) and the sync."""
    worker = crm_worker(CrmSender(runtime, adapter, slack_emails))
    runtime.outbox_listeners.append(worker.wake)
    return worker, CrmSync(runtime, adapter, slack_emails)


def create_app(
    runtime: Runtime,
    slack: SlackSide | None = None,
    scheduler: BaseScheduler | None = None,
    webhooks: DeliveryWorker | None = None,
    crm: DeliveryWorker | None = None,
) -> FastAPI:
    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        if slack:
            slack.worker.start()
            slack.worker.wake()  # whatever was queued while we were down
        if webhooks:
            webhooks.start()
        if crm:
            crm.start()
            crm.wake()
        if scheduler:
            scheduler.start()
        yield
        if scheduler:
            scheduler.shutdown()
        if crm:
            crm.stop()
        if webhooks:
            webhooks.stop()
        if slack:
            slack.worker.stop()

    app = FastAPI(
        lifespan=lifespan,
        title="leadbot",
        version="1.0",
        description="Intake API for leadbot: leads and behavioural events from marketing systems. "
        "Every /api route needs `Authorization: Bearer <api key>` (`leadbot api-key create`).",
    )
    app.state.runtime = runtime
    app.state.metrics = metrics = Metrics(runtime.db)
    runtime.delivery_listeners.append(metrics.attempted)

    @app.exception_handler(RequestValidationError)
    async def unprocessable(request: Request, exc: RequestValidationError) -> JSONResponse:
        errors = [
            {k: v for k, v in error.items() if k in ("type", "loc", "msg")}
            for error in exc.errors()
        ]
        return JSONResponse(
            {"detail": jsonable_encoder(errors), "errors": _readable(errors)}, status_code=422
        )

    @app.middleware("http")
    async def authenticate(request: Request, call_next):  # type: ignore[no-untyped-def]
        if request.url.path.startswith("/api/"):
            name, error = await run_in_threadpool(
                api.check_key, runtime, request.headers.get("authorization")
            )
            if name is None:
                return JSONResponse(
                    {"detail": error}, status_code=401, headers={"WWW-Authenticate": "Bearer"}
                )
            request.state.api_key = name
        return await call_next(request)

    @app.middleware("http")
    async def count(request: Request, call_next):  # type: ignore[no-untyped-def]
        started = time.perf_counter()
        response = await call_next(request)
        route = request.scope.get("route")
        path = getattr(route, "path", "unmatched")
        metrics.requests.labels(request.method, path, str(response.status_code)).inc()
        metrics.latency.labels(path).observe(time.perf_counter() - started)
        return response

    @app.get("/healthz", tags=["ops"], responses={503: {"description": "Database unreachable"}})
    def healthz() -> JSONResponse:
        """200 when the database answers, else 503."""
        if runtime.db.ping():
            return JSONResponse({"status": "ok"})
        return JSONResponse({"status": "unavailable", "detail": "database"}, status_code=503)

    @app.get("/metrics", tags=["ops"], response_class=PlainTextResponse)
    def prometheus() -> PlainTextResponse:
        """Prometheus text format."""
        return PlainTextResponse(
            generate_latest(metrics.registry), headers={"Content-Type": CONTENT_TYPE_LATEST}
        )

    app.include_router(api.router)
    if slack:
        mount_slack(app, slack.bolt, signing_secret=runtime.settings.slack_signing_secret)
    app.add_middleware(BodyLimit)
    app.add_middleware(DatabaseUnavailable)
    return app
