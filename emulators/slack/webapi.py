"""The Web API methods: arguments in, Slack's JSON answer out.

``WebApi.call`` authenticates, applies injected faults and rate limits, runs the method under
the workspace lock and records the call. Errors are answered as Slack answers them: HTTP 200
with ``{"ok": false, "error": ...}`` (429 for rate limits).
"""

from __future__ import annotations

import copy
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from emulators.slack import blockkit
from emulators.slack.faults import FaultPlan
from emulators.slack.params import flag
from emulators.slack.ratelimit import RateLimiter
from emulators.slack.workspace import Channel, Message, Workspace

DEFAULT_SCOPES = (
    "chat:write",
    "commands",
    "im:write",
    "im:history",
    "channels:history",
    "groups:history",
    "users:read",
    "users:read.email",
    "users.profile:read",
    "files:write",
)
MAX_PUSHED_VIEWS = 3


class SlackError(Exception):
    def __init__(self, error: str, *, messages: list[str] | None = None, **extra: Any) -> None:
        super().__init__(error)
        self.error = error
        self.body: dict[str, Any] = {"ok": False, "error": error, **extra}
        if messages:
            self.body["response_metadata"] = {"messages": messages}


def invalid_arguments(*problems: str) -> SlackError:
    return SlackError("invalid_arguments", messages=[f"[ERROR] {p}" for p in problems])


@dataclass
class ApiResult:
    status: int
    body: dict[str, Any] | None
    headers: dict[str, str] = field(default_factory=dict)
    hold_seconds: float | None = None  # set when a fault says: hang, then drop the connection


@dataclass
class CallRecord:
    """One call as the emulator saw it. ``args`` has JSON arguments decoded, no token."""

    method: str
    args: dict[str, Any]
    time: float
    status: int | None
    response: dict[str, Any] | None
    headers: dict[str, str] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return bool(self.response and self.response.get("ok"))


class WebApi:
    def __init__(
        self,
        workspace: Workspace,
        *,
        tokens: set[str],
        scopes: tuple[str, ...],
        limiter: RateLimiter,
        faults: FaultPlan,
    ) -> None:
        self.ws = workspace
        self.tokens = tokens
        self.scopes = scopes
        self.limiter = limiter
        self.faults = faults
        self.base_url = ""  # set once the server knows its port
        self.records: list[CallRecord] = []
        self.changed = threading.Condition(workspace.lock)
        self._methods: dict[str, Callable[[dict[str, Any]], dict[str, Any]]] = {
            "auth.test": self.auth_test,
            "chat.postMessage": self.chat_post_message,
            "chat.update": self.chat_update,
            "chat.postEphemeral": self.chat_post_ephemeral,
            "chat.getPermalink": self.chat_get_permalink,
            "conversations.open": self.conversations_open,
            "conversations.history": self.conversations_history,
            "conversations.replies": self.conversations_replies,
            "users.info": self.users_info,
            "users.lookupByEmail": self.users_lookup_by_email,
            "users.profile.get": self.users_profile_get,
            "views.open": self.views_open,
            "views.push": self.views_push,
            "views.update": self.views_update,
            "views.publish": self.views_publish,
            "files.getUploadURLExternal": self.files_get_upload_url_external,
            "files.completeUploadExternal": self.files_complete_upload_external,
        }

    # dispatch --------------------------------------------------------------------------------

    def call(self, method: str, args: dict[str, Any], token: str | None) -> ApiResult:
        with self.changed:
            result = self._call(method, args, token)
            self.record(method, args, result)
            return result

    def record(self, method: str, args: dict[str, Any], result: ApiResult) -> None:
        with self.changed:
            status = None if result.hold_seconds is not None else result.status
            self.records.append(
                CallRecord(method, args, self.ws.clock(), status, result.body, dict(result.headers))
            )
            self.changed.notify_all()

    def _call(self, method: str, args: dict[str, Any], token: str | None) -> ApiResult:
        fault = self.faults.take(method)
        if fault is None:
            return self._perform(method, args, token)
        if fault.performed:
            self._perform(method, args, token)
        if fault.timeout:
            return ApiResult(status=0, body=None, hold_seconds=fault.hold_seconds)
        headers = {}
        if fault.status == 429 or fault.retry_after is not None:
            headers["Retry-After"] = str(fault.retry_after or 1)
        return ApiResult(fault.status, {"ok": False, "error": fault.error_code}, headers)

    def _perform(self, method: str, args: dict[str, Any], token: str | None) -> ApiResult:
        if not token:
            return ApiResult(200, {"ok": False, "error": "not_authed"})
        if token not in self.tokens:
            return ApiResult(200, {"ok": False, "error": "invalid_auth"})
        handler = self._methods.get(method)
        if handler is None:
            return ApiResult(200, {"ok": False, "error": "unknown_method"})
        channel = args.get("channel") if method == "chat.postMessage" else None
        retry_after = self.limiter.check(method, str(channel) if channel else None)
        if retry_after is not None:
            body = {"ok": False, "error": "ratelimited"}
            return ApiResult(429, body, {"Retry-After": str(retry_after)})
        try:
            # A snapshot: the answer must not change when the workspace does later.
            body = {"ok": True, **copy.deepcopy(handler(args))}
        except SlackError as exc:
            return ApiResult(200, exc.body)
        headers = {"x-oauth-scopes": ",".join(self.scopes)} if method == "auth.test" else {}
        return ApiResult(200, body, headers)

    # helpers ---------------------------------------------------------------------------------

    def _channel(self, args: dict[str, Any], key: str = "channel") -> Channel:
        ref = args.get(key)
        channel = self.ws.find_channel(str(ref)) if ref else None
        if channel is None:
            raise SlackError("channel_not_found")
        return channel

    def _bot_may_post(self, channel: Channel) -> bool:
        if self.ws.bot_user_id in channel.members:
            return True
        return not channel.is_private and "chat:write.public" in self.scopes

    def _content(
        self, args: dict[str, Any]
    ) -> tuple[str | None, list[dict[str, Any]] | None, list[dict[str, Any]] | None]:
        text = args.get("text")
        blocks = args.get("blocks")
        attachments = args.get("attachments")
        if blocks is not None and not isinstance(blocks, list):
            raise SlackError("invalid_blocks_format")
        if attachments is not None and not isinstance(attachments, list):
            raise SlackError("invalid_attachments")
        if not text and not blocks and not attachments:
            raise SlackError("no_text")
        if blockkit.message_text_too_long(text):
            raise SlackError("msg_too_long")
        if blocks:
            errors = blockkit.validate_blocks(blocks)
            if errors:
                raise SlackError(
                    "invalid_blocks", errors=errors, messages=blockkit.as_slack_messages(errors)
                )
        return (str(text) if text is not None else None), blocks or None, attachments or None

    @staticmethod
    def _metadata(args: dict[str, Any]) -> dict[str, Any] | None:
        metadata = args.get("metadata")
        if metadata is None:
            return None
        if (
            not isinstance(metadata, dict)
            or not isinstance(metadata.get("event_type"), str)
            or not isinstance(metadata.get("event_payload"), dict)
        ):
            raise SlackError("invalid_metadata_format")
        return {"event_type": metadata["event_type"], "event_payload": metadata["event_payload"]}

    @staticmethod
    def _visible(message: Message, include_metadata: bool) -> Message:
        shown = dict(message)
        if not include_metadata:
            shown.pop("metadata", None)
        return shown

    def _view_payload(self, args: dict[str, Any]) -> dict[str, Any]:
        view = args.get("view")
        if view is None:
            raise invalid_arguments("missing required field: view")
        if not isinstance(view, dict):
            raise invalid_arguments("failed to parse view [json-pointer:/view]")
        errors = blockkit.validate_view(view)
        if errors:
            raise SlackError("invalid_arguments", messages=blockkit.as_slack_messages(errors))
        external_id = view.get("external_id")
        if external_id and self.ws.external_id_taken(external_id, args.get("view_id")):
            raise SlackError("duplicate_external_id")
        return view

    def _exchange(self, args: dict[str, Any]) -> str:
        trigger_id = args.get("trigger_id") or args.get("interactivity_pointer")
        if not trigger_id:
            raise invalid_arguments("missing required field: trigger_id")
        trigger, error = self.ws.exchange_trigger(str(trigger_id))
        if trigger is None:
            raise SlackError(error or "invalid_trigger_id")
        return trigger.user_id

    # auth ------------------------------------------------------------------------------------

    def auth_test(self, args: dict[str, Any]) -> dict[str, Any]:
        ws = self.ws
        return {
            "url": f"https://{ws.team_domain}.slack.com/",
            "team": ws.team_name,
            "user": ws.users[ws.bot_user_id].name,
            "team_id": ws.team_id,
            "user_id": ws.bot_user_id,
            "bot_id": ws.bot_id,
            "app_id": ws.app_id,
            "is_enterprise_install": False,
        }

    # chat ------------------------------------------------------------------------------------

    def chat_post_message(self, args: dict[str, Any]) -> dict[str, Any]:
        channel = self._channel(args)
        if not self._bot_may_post(channel):
            raise SlackError("not_in_channel")
        text, blocks, attachments = self._content(args)
        message = self.ws.store_message(
            channel,
            user=self.ws.bot_user_id,
            text=text,
            blocks=blocks,
            attachments=attachments,
            thread_ts=args.get("thread_ts") or None,
            metadata=self._metadata(args),
        )
        return {"channel": channel.id, "ts": message["ts"], "message": dict(message)}

    def chat_update(self, args: dict[str, Any]) -> dict[str, Any]:
        channel = self._channel(args)
        ts = args.get("ts")
        message = self.ws.find_message(channel, str(ts)) if ts else None
        if message is None:
            raise SlackError("message_not_found")
        if message.get("bot_id") != self.ws.bot_id:
            raise SlackError("cant_update_message")
        text, blocks, attachments = self._content(args)
        metadata = self._metadata(args)
        if text is not None:
            message["text"] = text
        if blocks is not None:
            message["blocks"] = self.ws.with_ids(blocks)
        if attachments is not None:
            message["attachments"] = attachments
        if metadata is not None:
            message["metadata"] = metadata
        message["edited"] = {"user": self.ws.bot_user_id, "ts": self.ws.next_ts()}
        return {
            "channel": channel.id,
            "ts": message["ts"],
            "text": message["text"],
            "message": dict(message),
        }

    def chat_post_ephemeral(self, args: dict[str, Any]) -> dict[str, Any]:
        channel = self._channel(args)
        user_id = args.get("user")
        if not user_id or user_id not in self.ws.users:
            raise SlackError("user_not_found")
        if user_id not in channel.members:
            raise SlackError("user_not_in_channel")
        if not self._bot_may_post(channel):
            raise SlackError("not_in_channel")
        text, blocks, _ = self._content(args)
        ephemeral = self.ws.add_ephemeral(
            channel=channel.id,
            user=str(user_id),
            text=text,
            blocks=blocks,
            source="chat.postEphemeral",
            thread_ts=args.get("thread_ts") or None,
        )
        return {"message_ts": ephemeral.ts}

    def chat_get_permalink(self, args: dict[str, Any]) -> dict[str, Any]:
        channel = self._channel(args)
        ts = args.get("message_ts")
        if not ts or self.ws.find_message(channel, str(ts)) is None:
            raise SlackError("message_not_found")
        return {"channel": channel.id, "permalink": self.ws.permalink(channel.id, str(ts))}

    # conversations ---------------------------------------------------------------------------

    def conversations_open(self, args: dict[str, Any]) -> dict[str, Any]:
        users_arg = args.get("users")
        if users_arg:
            user_ids = [u.strip() for u in str(users_arg).split(",") if u.strip()]
            for user_id in user_ids:
                if user_id not in self.ws.users:
                    raise SlackError("user_not_found")
            if len(user_ids) > 8:
                raise SlackError("too_many_users")
            if len(user_ids) == 1:
                existed = any(
                    c.is_im and c.im_user == user_ids[0] for c in self.ws.channels.values()
                )
                channel = self.ws.open_im(user_ids[0])
            else:
                channel, existed = self._open_mpim(user_ids)
        elif args.get("channel"):
            channel = self._channel(args)
            if not channel.is_im and not channel.is_private:
                raise SlackError("method_not_supported_for_channel_type")
            existed = True
        else:
            raise SlackError("users_list_not_supplied")
        body: dict[str, Any] = {
            "channel": channel.to_api() if flag(args.get("return_im")) else {"id": channel.id}
        }
        if existed:
            body.update(no_op=True, already_open=True)
        return body

    def _open_mpim(self, user_ids: list[str]) -> tuple[Channel, bool]:
        members = sorted({*user_ids, self.ws.bot_user_id})
        for channel in self.ws.channels.values():
            if channel.is_private and sorted(channel.members) == members:
                return channel, True
        names = "--".join(self.ws.users[u].name for u in user_ids)
        channel = self.ws.add_channel(
            self.ws.new_id("G"), name=f"mpdm-{names}-1", members=members, is_private=True
        )
        return channel, False

    def _readable_channel(self, args: dict[str, Any]) -> Channel:
        channel = self._channel(args)
        if self.ws.bot_user_id not in channel.members:
            raise SlackError("not_in_channel")
        return channel

    @staticmethod
    def _page(
        messages: list[Message], args: dict[str, Any], *, default_latest: float
    ) -> tuple[list[Message], str | None]:
        try:
            oldest = float(args.get("oldest") or 0)
            latest = float(args.get("latest") or default_latest)
            limit = max(1, min(int(args.get("limit") or 100), 999))
            offset = int(args.get("cursor") or 0)
        except ValueError as exc:
            raise SlackError("invalid_arguments") from exc
        inclusive = flag(args.get("inclusive"))

        def within(ts: float) -> bool:
            if inclusive:
                return oldest <= ts <= latest
            return oldest < ts < latest

        selected = [m for m in messages if within(float(m["ts"]))]
        page = selected[offset : offset + limit]
        more = offset + limit < len(selected)
        return page, str(offset + limit) if more else None

    def conversations_history(self, args: dict[str, Any]) -> dict[str, Any]:
        channel = self._readable_channel(args)
        top_level = [m for m in reversed(channel.messages) if not self.ws.is_reply(m)]
        page, cursor = self._page(top_level, args, default_latest=float("inf"))
        include = flag(args.get("include_all_metadata"))
        return {
            "messages": [self._visible(m, include) for m in page],
            "has_more": cursor is not None,
            "pin_count": 0,
            "response_metadata": {"next_cursor": cursor or ""},
        }

    def conversations_replies(self, args: dict[str, Any]) -> dict[str, Any]:
        channel = self._readable_channel(args)
        ts = args.get("ts")
        parent = self.ws.find_message(channel, str(ts)) if ts else None
        if parent is None:
            raise SlackError("thread_not_found")
        root_ts = parent.get("thread_ts", parent["ts"])
        thread = [
            m for m in channel.messages if m["ts"] == root_ts or m.get("thread_ts") == root_ts
        ]
        page, cursor = self._page(thread, args, default_latest=float("inf"))
        include = flag(args.get("include_all_metadata"))
        return {
            "messages": [self._visible(m, include) for m in page],
            "has_more": cursor is not None,
            "response_metadata": {"next_cursor": cursor or ""},
        }

    # users -----------------------------------------------------------------------------------

    def users_info(self, args: dict[str, Any]) -> dict[str, Any]:
        user = self.ws.users.get(str(args.get("user") or ""))
        if user is None:
            raise SlackError("user_not_found")
        return {"user": user.to_api()}

    def users_profile_get(self, args: dict[str, Any]) -> dict[str, Any]:
        # A bot token has no user of its own: the bot always names whose profile it reads.
        user = self.ws.users.get(str(args.get("user") or ""))
        if user is None:
            raise SlackError("user_not_found")
        return {"profile": user.profile()}

    def users_lookup_by_email(self, args: dict[str, Any]) -> dict[str, Any]:
        user = self.ws.user_by_email(str(args.get("email") or ""))
        if user is None:
            raise SlackError("users_not_found")
        return {"user": user.to_api()}

    # views -----------------------------------------------------------------------------------

    def views_open(self, args: dict[str, Any]) -> dict[str, Any]:
        payload = self._view_payload(args)
        if payload.get("type") != "modal":
            raise invalid_arguments("must be modal [json-pointer:/view/type]")
        user_id = self._exchange(args)
        view = self.ws.store_view(payload, user_id=user_id)
        self.ws.modal_stacks[user_id] = [view["id"]]
        return {"view": view}

    def views_push(self, args: dict[str, Any]) -> dict[str, Any]:
        payload = self._view_payload(args)
        if payload.get("type") != "modal":
            raise invalid_arguments("must be modal [json-pointer:/view/type]")
        user_id = self._exchange(args)
        stack = self.ws.modal_stacks.get(user_id, [])
        if not stack:
            raise SlackError("not_found")
        if len(stack) >= MAX_PUSHED_VIEWS:
            raise SlackError("push_limit_reached")
        view = self.ws.store_view(payload, user_id=user_id, root_view_id=stack[0])
        view["previous_view_id"] = stack[-1]
        stack.append(view["id"])
        return {"view": view}

    def views_update(self, args: dict[str, Any]) -> dict[str, Any]:
        view_id, external_id = args.get("view_id"), args.get("external_id")
        if not view_id and not external_id:
            raise invalid_arguments("either view_id or external_id is required")
        existing = self.ws.find_view(view_id=view_id, external_id=external_id)
        if existing is None:
            raise SlackError("not_found")
        payload = self._view_payload({**args, "view_id": existing["id"]})
        if payload.get("type") != existing["type"]:
            raise invalid_arguments(f"must be {existing['type']} [json-pointer:/view/type]")
        if args.get("hash") and args["hash"] != existing["hash"]:
            raise SlackError("hash_conflict")
        return {"view": self.ws.replace_view(existing["id"], payload)}

    def views_publish(self, args: dict[str, Any]) -> dict[str, Any]:
        user_id = args.get("user_id")
        if not user_id:
            raise invalid_arguments("missing required field: user_id")
        if user_id not in self.ws.users:
            raise SlackError("user_not_found")
        payload = self._view_payload(args)
        if payload.get("type") != "home":
            raise invalid_arguments("must be home [json-pointer:/view/type]")
        current_id = self.ws.home_views.get(user_id)
        if current_id is None:
            view = self.ws.store_view(payload, user_id=user_id)
            self.ws.home_views[user_id] = view["id"]
            return {"view": view}
        if args.get("hash") and args["hash"] != self.ws.views[current_id]["hash"]:
            raise SlackError("hash_conflict")
        return {"view": self.ws.replace_view(current_id, payload)}

    # files -----------------------------------------------------------------------------------

    def files_get_upload_url_external(self, args: dict[str, Any]) -> dict[str, Any]:
        filename = args.get("filename")
        length = args.get("length")
        if not filename:
            raise invalid_arguments("missing required field: filename")
        if length is None or str(length) == "":
            raise invalid_arguments("missing required field: length")
        try:
            size = int(length)
        except ValueError as exc:
            raise invalid_arguments("must be an integer [json-pointer:/length]") from exc
        if size <= 0:
            raise SlackError("missing_argument")
        stored = self.ws.new_file(str(filename), size)
        return {"upload_url": f"{self.base_url}upload/v1/{stored.id}", "file_id": stored.id}

    def files_complete_upload_external(self, args: dict[str, Any]) -> dict[str, Any]:
        items = args.get("files")
        if not isinstance(items, list) or not items:
            raise invalid_arguments("missing required field: files")
        stored = []
        for item in items:
            file_id = item.get("id") if isinstance(item, dict) else None
            found = self.ws.files.get(str(file_id)) if file_id else None
            if found is None or found.content is None:
                raise SlackError("file_not_found")
            stored.append((found, item.get("title")))
        channel = None
        if args.get("channel_id"):
            channel = self.ws.find_channel(str(args["channel_id"]))
            if channel is None:
                raise SlackError("invalid_channel")
            if not self._bot_may_post(channel):
                raise SlackError("posting_to_channel_denied")
        for found, title in stored:
            found.title = title or found.title or found.name
            found.completed = True
        if channel is not None:
            for found, _ in stored:
                found.channels.append(channel.id)
            self.ws.store_message(
                channel,
                user=self.ws.bot_user_id,
                text=args.get("initial_comment") or "",
                thread_ts=args.get("thread_ts") or None,
                files=[f.to_api() for f, _ in stored],
            )
        return {"files": [{"id": f.id, "title": f.title} for f, _ in stored]}
