"""The one global Bolt middleware: every listener finds the running leadbot (settings, config,
database, clock) in Bolt's ``context["runtime"]``, so listeners are plain module-level
functions that tests can dispatch to in-process with any runtime."""

from __future__ import annotations

from collections.abc import Callable

from slack_bolt import BoltContext, BoltRequest, BoltResponse

from bot.runtime import Runtime

Next = Callable[[], BoltResponse]
Middleware = Callable[[BoltRequest, BoltResponse, Next], BoltResponse]


def provide_runtime(runtime: Runtime) -> Middleware:
    def middleware(req: BoltRequest, resp: BoltResponse, next: Next) -> BoltResponse:
        req.context["runtime"] = runtime
        return next()

    return middleware


def runtime_of(context: BoltContext) -> Runtime:
    runtime: Runtime = context["runtime"]
    return runtime
