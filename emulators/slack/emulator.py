"""``SlackEmulator``: a Slack workspace and its Web API on a loopback port.

Point slack_sdk at ``emulator.api_url`` (``WebClient(base_url=emulator.api_url)``); seed users
and channels; read back what the app did (``calls``, ``messages``, ``ephemerals``, ``views``).
"""

from __future__ import annotations

import copy
import dataclasses
import threading
import time
from collections.abc import Callable
from typing import Any, Self

from emulators.slack.faults import Fault, FaultPlan
from emulators.slack.ratelimit import RateLimitConfig, RateLimiter
from emulators.slack.server import EmulatorHTTPServer, PageHandler
from emulators.slack.webapi import DEFAULT_SCOPES, CallRecord, WebApi
from emulators.slack.workspace import Channel, Clock, Ephemeral, Message, User, Workspace

DEFAULT_BOT_TOKEN = "xoxb-sandbox-token"
DEFAULT_SIGNING_SECRET = "sandbox-signing-secret"
DEFAULT_VERIFICATION_TOKEN = "sandbox-verification-token"


class SlackEmulator:
    def __init__(
        self,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        bot_token: str = DEFAULT_BOT_TOKEN,
        extra_tokens: tuple[str, ...] = (),
        signing_secret: str = DEFAULT_SIGNING_SECRET,
        verification_token: str = DEFAULT_VERIFICATION_TOKEN,
        team_id: str = "T0SANDBOX",
        team_name: str = "Sandbox",
        team_domain: str = "sandbox",
        bot_user_id: str = "U0LEADBOT",
        bot_id: str = "B0LEADBOT",
        bot_name: str = "leadbot",
        app_id: str = "A0LEADBOT",
        scopes: tuple[str, ...] = DEFAULT_SCOPES,
        rate_limits: RateLimitConfig | None = None,
        clock: Clock = time.time,
    ) -> None:
        if host not in ("127.0.0.1", "localhost"):
            raise ValueError("the emulator listens on loopback only")
        self.host = host
        self.port = port
        self.bot_token = bot_token
        self.signing_secret = signing_secret
        self.verification_token = verification_token
        self.workspace = Workspace(
            team_id=team_id,
            team_name=team_name,
            team_domain=team_domain,
            bot_user_id=bot_user_id,
            bot_id=bot_id,
            bot_name=bot_name,
            app_id=app_id,
            clock=clock,
        )
        self.rate_limits = rate_limits or RateLimitConfig()
        self._faults = FaultPlan()
        self.api = WebApi(
            self.workspace,
            tokens={bot_token, *extra_tokens},
            scopes=scopes,
            limiter=RateLimiter(self.rate_limits, lambda: self.workspace.clock()),
            faults=self._faults,
        )
        self._server: EmulatorHTTPServer | None = None
        self._thread: threading.Thread | None = None
        self._pages: PageHandler | None = None

    # lifecycle -------------------------------------------------------------------------------

    def start(self) -> Self:
        if self._server is not None:
            return self
        server = EmulatorHTTPServer((self.host, self.port), self.api, self._pages)
        self.port = server.server_address[1]
        self.api.base_url = self.url
        self._server = server
        self._thread = threading.Thread(
            target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        server, self._server = self._server, None
        if server is None:
            return
        server.stopping.set()
        server.shutdown()
        server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=2)

    def serve_pages(self, handler: PageHandler | None) -> None:
        """Answer paths outside the Web API with ``handler`` (the sandbox's web page)."""
        self._pages = handler
        if self._server is not None:
            self._server.pages = handler

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}/"

    @property
    def api_url(self) -> str:
        """What slack_sdk's ``WebClient(base_url=...)`` takes."""
        return f"{self.url}api/"

    @property
    def clock(self) -> Clock:
        return self.workspace.clock

    @clock.setter
    def clock(self, clock: Clock) -> None:
        """Swap the clock (trigger expiry, timestamps, rate limits), e.g. for a frozen time."""
        with self.api.changed:
            self.workspace.clock = clock

    @property
    def team_id(self) -> str:
        return self.workspace.team_id

    @property
    def bot_user_id(self) -> str:
        return self.workspace.bot_user_id

    # seeding ---------------------------------------------------------------------------------

    def add_user(
        self,
        user_id: str,
        *,
        name: str,
        real_name: str | None = None,
        tz: str = "UTC",
        email: str | None = None,
        is_bot: bool = False,
    ) -> User:
        with self.api.changed:
            return self.workspace.add_user(
                user_id, name=name, real_name=real_name, tz=tz, email=email, is_bot=is_bot
            )

    def set_status(self, user: str, text: str = "", emoji: str = "", expiration: int = 0) -> None:
        """Set a user's Slack status (what users.profile.get answers); empty clears it."""
        with self.api.changed:
            found = self.workspace.users[user]
            found.status_text, found.status_emoji = text, emoji
            found.status_expiration = expiration

    def add_channel(
        self,
        channel_id: str,
        *,
        name: str,
        members: list[str] | None = None,
        bot_is_member: bool = True,
        is_private: bool = False,
    ) -> Channel:
        with self.api.changed:
            return self.workspace.add_channel(
                channel_id,
                name=name,
                members=members,
                bot_is_member=bot_is_member,
                is_private=is_private,
            )

    def post_as_user(
        self, user: str, channel: str, text: str, thread_ts: str | None = None
    ) -> Message:
        """A message written by a person (not the app), e.g. to seed a conversation."""
        with self.api.changed:
            found = self.workspace.find_channel(channel)
            if found is None:
                raise LookupError(f"no channel {channel!r}")
            message = self.workspace.store_message(
                found, user=user, text=text, thread_ts=thread_ts, from_bot=False
            )
            self.api.changed.notify_all()
            return copy.deepcopy(message)

    # faults ----------------------------------------------------------------------------------

    def fail_next(
        self,
        method: str,
        *,
        times: int = 1,
        status: int = 500,
        error: str | None = None,
        retry_after: int | None = None,
        timeout: bool = False,
        hold_seconds: float = 5.0,
        performed: bool = False,
    ) -> None:
        """Make the next ``times`` calls of ``method`` fail.

        ``status=500`` (or 502/503) answers a server error; ``status=429, retry_after=1`` a rate
        limit; ``status=200, error="channel_not_found"`` a Slack error; ``timeout=True`` holds
        the connection for ``hold_seconds`` and closes it without an answer. With
        ``performed=True`` the call is carried out first (a half-failure: the message is
        posted, the answer says it was not; or, with ``timeout``, the caller hangs after Slack
        has done the work).
        """
        fault = Fault(
            status=status,
            error=error,
            retry_after=retry_after,
            timeout=timeout,
            hold_seconds=hold_seconds,
            performed=performed,
        )
        with self.api.changed:
            self._faults.add(method, fault, times)

    # reading back ----------------------------------------------------------------------------

    def calls(self, method: str | None = None) -> list[CallRecord]:
        with self.api.changed:
            return [r for r in self.api.records if method is None or r.method == method]

    def wait_for(self, condition: Callable[[], Any], timeout: float = 3.0) -> bool:
        """Wait until ``condition()`` is true (checked after every call); False on timeout."""
        with self.api.changed:
            return bool(self.api.changed.wait_for(condition, timeout=timeout))

    def wait_for_calls(self, method: str, count: int = 1, timeout: float = 3.0) -> list[CallRecord]:
        """The calls of ``method`` once there are at least ``count`` (raises on timeout)."""
        if not self.wait_for(lambda: len(self.calls(method)) >= count, timeout):
            seen = len(self.calls(method))
            raise TimeoutError(f"expected {count} {method} call(s) within {timeout}s, saw {seen}")
        return self.calls(method)

    def messages(self, channel: str, *, include_replies: bool = False) -> list[Message]:
        """The conversation's messages, oldest first (thread replies only if asked)."""
        with self.api.changed:
            found = self.workspace.find_channel(channel)
            if found is None:
                raise LookupError(f"no channel {channel!r}")
            return [
                dict(m) for m in found.messages if include_replies or not self.workspace.is_reply(m)
            ]

    def message(self, ts: str) -> Message:
        with self.api.changed:
            located = self.workspace.locate_message(ts)
            if located is None:
                raise LookupError(f"no message {ts!r}")
            return copy.deepcopy(located[1])

    def replies(self, channel: str, ts: str) -> list[Message]:
        return [m for m in self.messages(channel, include_replies=True) if m.get("thread_ts") == ts]

    def ephemerals(self, *, user: str | None = None, channel: str | None = None) -> list[Ephemeral]:
        with self.api.changed:
            return [
                dataclasses.replace(e, blocks=copy.deepcopy(e.blocks))
                for e in self.workspace.ephemerals
                if (user is None or e.user == user) and (channel is None or e.channel == channel)
            ]

    def views(self, user: str) -> list[dict[str, Any]]:
        """The user's open modal views, root first, top of the stack last."""
        with self.api.changed:
            return [copy.deepcopy(v) for v in self.workspace.open_modals(user)]

    def home_view(self, user: str) -> dict[str, Any] | None:
        with self.api.changed:
            view_id = self.workspace.home_views.get(user)
            return copy.deepcopy(self.workspace.views[view_id]) if view_id else None

    def view(self, view_id: str) -> dict[str, Any]:
        with self.api.changed:
            return copy.deepcopy(self.workspace.views[view_id])

    def file_content(self, file_id: str) -> bytes | None:
        with self.api.changed:
            stored = self.workspace.files.get(file_id)
            return stored.content if stored else None

    def dm_channel(self, user: str) -> str:
        """The ID of the app's DM with ``user`` (opened if needed)."""
        with self.api.changed:
            return self.workspace.open_im(user).id

    # interaction plumbing (used by the request side) -----------------------------------------

    def mint_trigger(self, user: str) -> str:
        """A fresh trigger_id for ``user``: single use, valid for 3 seconds."""
        with self.api.changed:
            return self.workspace.mint_trigger(user)

    def response_url(
        self,
        *,
        channel: str,
        user: str,
        message_ts: str | None = None,
        ephemeral_id: str | None = None,
    ) -> str:
        with self.api.changed:
            hook = self.workspace.mint_hook(
                channel_id=channel, user_id=user, message_ts=message_ts, ephemeral_id=ephemeral_id
            )
            return f"{self.url}response/{hook.id}"

    def reset_rate_limits(self) -> None:
        with self.api.changed:
            self.api.limiter.reset()
