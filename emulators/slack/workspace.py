"""The emulated workspace: team, users, conversations, messages, views, files and triggers.

All state sits behind one re-entrant lock (``Workspace.lock``); callers hold it for a whole
operation. IDs come from counters and timestamps from the injectable clock, so a run with a
fixed clock is fully deterministic.
"""

from __future__ import annotations

import copy
import hashlib
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo

Clock = Callable[[], float]
Message = dict[str, Any]

TRIGGER_TTL_SECONDS = 3.0
RESPONSE_URL_MAX_USES = 5
RESPONSE_URL_TTL_SECONDS = 30 * 60


@dataclass
class User:
    id: str
    name: str
    real_name: str
    tz: str
    tz_offset: int
    email: str | None
    is_bot: bool
    team_id: str
    status_text: str = ""
    status_emoji: str = ""
    status_expiration: int = 0

    def profile(self) -> dict[str, Any]:
        """What users.profile.get answers (the fields the bot reads)."""
        profile: dict[str, Any] = {
            "real_name": self.real_name,
            "display_name": self.name,
            "status_text": self.status_text,
            "status_emoji": self.status_emoji,
            "status_expiration": self.status_expiration,
        }
        if self.email is not None:
            profile["email"] = self.email
        return profile

    def to_api(self) -> dict[str, Any]:
        profile: dict[str, Any] = {"real_name": self.real_name, "display_name": self.name}
        if self.email is not None:
            profile["email"] = self.email
        return {
            "id": self.id,
            "team_id": self.team_id,
            "name": self.name,
            "real_name": self.real_name,
            "deleted": False,
            "tz": self.tz,
            "tz_label": self.tz,
            "tz_offset": self.tz_offset,
            "is_bot": self.is_bot,
            "is_app_user": False,
            "profile": profile,
        }


@dataclass
class Channel:
    id: str
    name: str
    members: list[str]
    is_im: bool = False
    is_private: bool = False
    im_user: str | None = None
    messages: list[Message] = field(default_factory=list)

    def to_api(self) -> dict[str, Any]:
        if self.is_im:
            return {"id": self.id, "is_im": True, "user": self.im_user, "is_open": True}
        return {
            "id": self.id,
            "name": self.name,
            "is_channel": not self.is_private,
            "is_private": self.is_private,
            "is_im": False,
            "is_member": True,
            "num_members": len(self.members),
        }


@dataclass
class StoredFile:
    id: str
    name: str
    length: int
    title: str | None = None
    content: bytes | None = None
    completed: bool = False
    channels: list[str] = field(default_factory=list)

    def to_api(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "name": self.name,
            "title": self.title or self.name,
            "size": len(self.content) if self.content is not None else self.length,
            "channels": list(self.channels),
        }


@dataclass
class Trigger:
    id: str
    user_id: str
    issued_at: float
    used: bool = False


@dataclass
class ResponseHook:
    """What a ``response_url`` refers to: where its replies go and what "original" means."""

    id: str
    channel_id: str
    user_id: str
    issued_at: float
    message_ts: str | None = None
    ephemeral_id: str | None = None
    uses: int = 0


@dataclass
class Ephemeral:
    id: str
    channel: str
    user: str
    text: str | None
    blocks: list[dict[str, Any]] | None
    ts: str
    source: str  # "chat.postEphemeral", "command_reply", "response_url"
    thread_ts: str | None = None


class Workspace:
    def __init__(
        self,
        *,
        team_id: str,
        team_name: str,
        team_domain: str,
        bot_user_id: str,
        bot_id: str,
        bot_name: str,
        app_id: str,
        clock: Clock,
    ) -> None:
        self.lock = threading.RLock()
        self.clock = clock
        self.team_id = team_id
        self.team_name = team_name
        self.team_domain = team_domain
        self.bot_user_id = bot_user_id
        self.bot_id = bot_id
        self.app_id = app_id
        self.users: dict[str, User] = {}
        self.channels: dict[str, Channel] = {}
        self.views: dict[str, dict[str, Any]] = {}
        self.view_owner: dict[str, str] = {}
        self.modal_stacks: dict[str, list[str]] = {}
        self.home_views: dict[str, str] = {}
        self.files: dict[str, StoredFile] = {}
        self.triggers: dict[str, Trigger] = {}
        self.hooks: dict[str, ResponseHook] = {}
        self.ephemerals: list[Ephemeral] = []
        self._counters: dict[str, int] = {}
        self._last_ts_micros = 0
        self.add_user(bot_user_id, name=bot_name, is_bot=True)

    # identifiers -----------------------------------------------------------------------------

    def count(self, name: str) -> int:
        n = self._counters.get(name, 0) + 1
        self._counters[name] = n
        return n

    def new_id(self, prefix: str) -> str:
        return f"{prefix}{self.count(prefix):08d}"

    def next_ts(self) -> str:
        """A message timestamp: unique and strictly increasing, "1700000000.000100" format."""
        micros = max(int(self.clock() * 1_000_000), self._last_ts_micros + 1)
        self._last_ts_micros = micros
        return f"{micros // 1_000_000}.{micros % 1_000_000:06d}"

    def _digest(self, *parts: object) -> str:
        text = ":".join(str(p) for p in (self.team_id, *parts))
        return hashlib.sha256(text.encode()).hexdigest()

    def with_ids(self, blocks: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """A copy of ``blocks`` where every block and element has an id, as Slack fills them in."""
        filled = copy.deepcopy(blocks)
        for block in filled:
            if not isinstance(block, dict):
                continue
            block.setdefault("block_id", self._digest("block", self.count("block"))[:5])
            elements = list(block.get("elements", [])) if block.get("type") == "actions" else []
            elements += [
                block[k] for k in ("accessory", "element") if isinstance(block.get(k), dict)
            ]
            for element in elements:
                if isinstance(element, dict) and element.get("type") != "image":
                    element.setdefault(
                        "action_id", self._digest("action", self.count("action"))[:5]
                    )
        return filled

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
        offset = ZoneInfo(tz).utcoffset(datetime.fromtimestamp(self.clock(), UTC))
        user = User(
            id=user_id,
            name=name,
            real_name=real_name or name,
            tz=tz,
            tz_offset=int(offset.total_seconds()) if offset is not None else 0,
            email=email,
            is_bot=is_bot,
            team_id=self.team_id,
        )
        self.users[user_id] = user
        return user

    def add_channel(
        self,
        channel_id: str,
        *,
        name: str,
        members: list[str] | None = None,
        bot_is_member: bool = True,
        is_private: bool = False,
    ) -> Channel:
        member_ids = list(members or [])
        if bot_is_member and self.bot_user_id not in member_ids:
            member_ids.append(self.bot_user_id)
        channel = Channel(id=channel_id, name=name, members=member_ids, is_private=is_private)
        self.channels[channel_id] = channel
        return channel

    # lookups ---------------------------------------------------------------------------------

    def find_channel(self, ref: str) -> Channel | None:
        """A conversation by ID, by name (with or without "#"), or a user's DM by user ID."""
        if ref in self.channels:
            return self.channels[ref]
        if ref in self.users:
            return self.open_im(ref)
        name = ref.removeprefix("#")
        return next((c for c in self.channels.values() if not c.is_im and c.name == name), None)

    def open_im(self, user_id: str) -> Channel:
        for channel in self.channels.values():
            if channel.is_im and channel.im_user == user_id:
                return channel
        channel = Channel(
            id=self.new_id("D"),
            name=user_id,
            members=[user_id, self.bot_user_id],
            is_im=True,
            im_user=user_id,
        )
        self.channels[channel.id] = channel
        return channel

    def find_message(self, channel: Channel, ts: str) -> Message | None:
        return next((m for m in channel.messages if m["ts"] == ts), None)

    def locate_message(self, ts: str) -> tuple[Channel, Message] | None:
        """The conversation and message with this ``ts`` (unique across the workspace here)."""
        for channel in self.channels.values():
            message = self.find_message(channel, ts)
            if message is not None:
                return channel, message
        return None

    def user_by_email(self, email: str) -> User | None:
        wanted = email.strip().lower()
        return next((u for u in self.users.values() if u.email and u.email.lower() == wanted), None)

    # messages --------------------------------------------------------------------------------

    def store_message(
        self,
        channel: Channel,
        *,
        user: str,
        text: str | None,
        blocks: list[dict[str, Any]] | None = None,
        attachments: list[dict[str, Any]] | None = None,
        thread_ts: str | None = None,
        metadata: dict[str, Any] | None = None,
        files: list[dict[str, Any]] | None = None,
        from_bot: bool = True,
    ) -> Message:
        message: Message = {
            "type": "message",
            "text": text or "",
            "user": user,
            "ts": self.next_ts(),
        }
        message["team"] = self.team_id
        if from_bot:
            message["bot_id"] = self.bot_id
            message["app_id"] = self.app_id
        if blocks:
            message["blocks"] = self.with_ids(blocks)
        if attachments:
            message["attachments"] = attachments
        if metadata is not None:
            message["metadata"] = metadata
        if files:
            message["files"] = files
            message["upload"] = True
        parent = self.find_message(channel, thread_ts) if thread_ts else None
        if parent is not None:
            root_ts = str(parent.get("thread_ts", parent["ts"]))
            root = self.find_message(channel, root_ts) or parent
            message["thread_ts"] = root["ts"]
            root["thread_ts"] = root["ts"]
            root["reply_count"] = root.get("reply_count", 0) + 1
            users = root.setdefault("reply_users", [])
            if user not in users:
                users.append(user)
            root["reply_users_count"] = len(users)
            root["latest_reply"] = message["ts"]
        channel.messages.append(message)
        return message

    def is_reply(self, message: Message) -> bool:
        return "thread_ts" in message and message["thread_ts"] != message["ts"]

    def permalink(self, channel_id: str, ts: str) -> str:
        return f"https://{self.team_domain}.slack.com/archives/{channel_id}/p{ts.replace('.', '')}"

    def add_ephemeral(
        self,
        *,
        channel: str,
        user: str,
        text: str | None,
        blocks: list[dict[str, Any]] | None,
        source: str,
        thread_ts: str | None = None,
    ) -> Ephemeral:
        ephemeral = Ephemeral(
            id=self.new_id("E"),
            channel=channel,
            user=user,
            text=text,
            blocks=self.with_ids(blocks) if blocks else None,
            ts=self.next_ts(),
            source=source,
            thread_ts=thread_ts,
        )
        self.ephemerals.append(ephemeral)
        return ephemeral

    # files -----------------------------------------------------------------------------------

    def new_file(self, name: str, length: int) -> StoredFile:
        stored = StoredFile(id=self.new_id("F"), name=name, length=length)
        self.files[stored.id] = stored
        return stored

    # triggers and response URLs --------------------------------------------------------------

    def mint_trigger(self, user_id: str) -> str:
        n = self.count("trigger")
        now = self.clock()
        trigger_id = f"{n}.{int(now)}.{self._digest('trigger', n)[:32]}"
        self.triggers[trigger_id] = Trigger(id=trigger_id, user_id=user_id, issued_at=now)
        return trigger_id

    def exchange_trigger(self, trigger_id: str) -> tuple[Trigger | None, str | None]:
        """The trigger and ``None``, or ``None`` and Slack's error code."""
        trigger = self.triggers.get(trigger_id)
        if trigger is None:
            return None, "invalid_trigger_id"
        if trigger.used:
            return None, "exchanged_trigger_id"
        if self.clock() - trigger.issued_at > TRIGGER_TTL_SECONDS:
            return None, "expired_trigger_id"
        trigger.used = True
        return trigger, None

    def mint_hook(
        self,
        *,
        channel_id: str,
        user_id: str,
        message_ts: str | None = None,
        ephemeral_id: str | None = None,
    ) -> ResponseHook:
        n = self.count("hook")
        hook_id = f"T{n:08d}/{self._digest('hook', n)[:24]}"
        hook = ResponseHook(
            id=hook_id,
            channel_id=channel_id,
            user_id=user_id,
            issued_at=self.clock(),
            message_ts=message_ts,
            ephemeral_id=ephemeral_id,
        )
        self.hooks[hook_id] = hook
        return hook

    # views -----------------------------------------------------------------------------------

    def store_view(
        self, payload: dict[str, Any], *, user_id: str, root_view_id: str | None = None
    ) -> dict[str, Any]:
        view_id = self.new_id("V")
        view = self._render_view(payload, view_id=view_id, root_view_id=root_view_id or view_id)
        self.views[view_id] = view
        self.view_owner[view_id] = user_id
        return view

    def replace_view(self, view_id: str, payload: dict[str, Any]) -> dict[str, Any]:
        old = self.views[view_id]
        view = self._render_view(payload, view_id=view_id, root_view_id=old["root_view_id"])
        view["previous_view_id"] = old.get("previous_view_id")
        self.views[view_id] = view
        return view

    def _render_view(
        self, payload: dict[str, Any], *, view_id: str, root_view_id: str
    ) -> dict[str, Any]:
        n = self.count("hash")
        return {
            "id": view_id,
            "team_id": self.team_id,
            "type": payload.get("type"),
            "title": payload.get("title"),
            "submit": payload.get("submit"),
            "close": payload.get("close"),
            "blocks": self.with_ids(payload.get("blocks", [])),
            "private_metadata": payload.get("private_metadata", ""),
            "callback_id": payload.get("callback_id", ""),
            "external_id": payload.get("external_id", ""),
            "state": {"values": {}},
            "hash": f"{int(self.clock())}.{self._digest('hash', n)[:8]}",
            "clear_on_close": bool(payload.get("clear_on_close", False)),
            "notify_on_close": bool(payload.get("notify_on_close", False)),
            "root_view_id": root_view_id,
            "previous_view_id": None,
            "app_id": self.app_id,
            "bot_id": self.bot_id,
        }

    def find_view(self, *, view_id: str | None, external_id: str | None) -> dict[str, Any] | None:
        if view_id:
            return self.views.get(view_id)
        if external_id:
            return next((v for v in self.views.values() if v["external_id"] == external_id), None)
        return None

    def external_id_taken(self, external_id: str, except_view: str | None = None) -> bool:
        return any(
            v["external_id"] == external_id and v["id"] != except_view for v in self.views.values()
        )

    def open_modals(self, user_id: str) -> list[dict[str, Any]]:
        return [self.views[v] for v in self.modal_stacks.get(user_id, [])]

    def close_top_modal(self, user_id: str) -> None:
        stack = self.modal_stacks.get(user_id, [])
        if stack:
            stack.pop()

    def close_all_modals(self, user_id: str) -> None:
        self.modal_stacks[user_id] = []
