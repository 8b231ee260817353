"""Saying what a renderer decided, in Slack, exactly once per outbox row.

Every post carries metadata naming its outbox row; a row on its second or later attempt first
looks in the channel's history (or the thread) for that metadata, so a crash between "posted"
and "recorded", or a post Slack carried out but answered with a 500 or 503, never posts twice
(the Web API client does not repeat posts itself: see ``bot/slack_http.py``). A chart is
shared with the files upload flow, unless an earlier attempt already shared it.

A call Slack refuses with 429 raises :class:`RateLimited` and tells the pacer, which holds back
only what that refusal is about (one channel's posts, or one method); a refusal after the row's
message was posted (its chart share) is an ordinary failed attempt, since part of it is done."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError, SlackClientError

from bot.slack.pacing import Pacer, rate_key
from bot.slack.render import Edit, Post, Publish, Say
from bot.views import ids
from bot.workers.queue import Claimed, Undeliverable

#: Slack errors that no retry will fix: the row is given up (kept, with its error) instead of
#: blocking every later message about the lead.
PERMANENT_ERRORS = frozenset(
    {
        "channel_not_found",
        "not_in_channel",
        "is_archived",
        "message_not_found",
        "cant_update_message",
        "invalid_blocks",
        "invalid_arguments",
        "msg_too_long",
        "no_text",
        "user_not_found",
        "users_not_found",
        "account_inactive",
        "user_is_bot",
        "cannot_dm_bot",
        "invalid_metadata_format",
        "invalid_metadata_schema",
    }
)


@dataclass
class Posted:
    """Where the message is; ``alert_of`` the stage entry it announces, if it is an alert;
    ``text`` its fallback text (None for an edit or a published App Home)."""

    channel: str
    ts: str
    alert_of: int | None = None
    text: str | None = None
    #: False for an edit of a message posted earlier (already recorded when it was posted).
    new: bool = True


class RateLimited(Undeliverable):
    """Slack refused the call (429) and did nothing; ``key`` is what it counted it against."""

    def __init__(self, message: str, retry_after: float | None, key: str) -> None:
        super().__init__(message, retry_after)
        self.key = key


class SlackDelivery:
    def __init__(self, client: WebClient, pacer: Pacer | None = None) -> None:
        self.client = client
        self.pacer = pacer or Pacer()

    @staticmethod
    def key_of(say: Say) -> str:
        """The rate-limit key of the call that carries ``say`` out."""
        if isinstance(say, Edit):
            return rate_key("chat.update")
        if isinstance(say, Publish):
            return rate_key("views.publish")
        return rate_key("chat.postMessage", say.channel)

    def say(self, claimed: Claimed, say: Say) -> Posted | None:
        if isinstance(say, Edit):
            self.call("chat_update", channel=say.channel, ts=say.ts, **say.message)
            return Posted(say.channel, say.ts, new=False)
        if isinstance(say, Publish):
            self.call("views_publish", user_id=say.user, view=say.view)
            return None
        posted = self._post(claimed, say)
        if say.chart is not None:
            try:
                self._share(claimed, posted.channel, say)
            except RateLimited as exc:  # the message is posted: this attempt did something
                raise Undeliverable(str(exc), exc.retry_after) from exc
        return posted

    def _post(self, claimed: Claimed, say: Post) -> Posted:
        message = {**say.message, "thread_ts": say.thread_ts} if say.thread_ts else say.message
        if claimed.attempts > 1:
            history = say.channel
            if say.channel[:1] in ("U", "W"):  # a DM's history is read by its D... channel id
                history = str(self.call("conversations_open", users=say.channel)["channel"]["id"])
            found = self._already_posted(claimed, history, say.thread_ts)
            if found:
                return Posted(found.channel, found.ts, say.alert_of, _text(say))
        metadata = {
            "event_type": ids.METADATA_PREFIX + claimed.kind,
            "event_payload": {"outbox_id": claimed.id, "lead_id": claimed.lead_id or 0},
        }
        response = self.call("chat_postMessage", channel=say.channel, metadata=metadata, **message)
        return Posted(str(response["channel"]), str(response["ts"]), say.alert_of, _text(say))

    def _share(self, claimed: Claimed, channel: str, say: Post) -> None:
        assert say.chart is not None
        if claimed.attempts > 1 and self._uploaded(channel, say.chart.filename, claimed):
            return
        self.call(
            "files_upload_v2",
            channel=channel,
            file=say.chart.draw(),
            filename=say.chart.filename,
            title=say.chart.title,
        )

    def _uploaded(self, channel: str, filename: str, claimed: Claimed) -> bool:
        """Whether a previous attempt already shared the file in the channel."""
        response = self.call(
            "conversations_history",
            channel=channel,
            oldest=f"{claimed.created_at.timestamp() - 60:.6f}",
            limit=200,
        )
        return any(
            item.get("name") == filename
            for message in response.get("messages", [])
            for item in message.get("files") or []
        )

    def _already_posted(
        self, claimed: Claimed, channel: str, thread_ts: str | None = None
    ) -> Posted | None:
        """A previous attempt may have posted before we could record it: look for our metadata
        (in the thread, for a reply)."""
        oldest = f"{claimed.created_at.timestamp() - 60:.6f}"
        cursor = None
        where = {"ts": thread_ts} if thread_ts else {}
        for _ in range(20):  # at most 20 pages of 200 messages
            try:
                response = self.call(
                    "conversations_replies" if thread_ts else "conversations_history",
                    channel=channel,
                    **where,
                    oldest=oldest,
                    include_all_metadata=True,
                    limit=200,
                    cursor=cursor,
                )
            except Undeliverable as exc:
                if not exc.permanent:
                    raise
                # No right to read this channel (chat:write.public posts without joining):
                # nothing to find, so post.
                return None
            for message in response.get("messages", []):
                payload = (message.get("metadata") or {}).get("event_payload") or {}
                if payload.get("outbox_id") == claimed.id:
                    return Posted(channel, str(message["ts"]))
            cursor = (response.get("response_metadata") or {}).get("next_cursor")
            if not cursor:
                break
        return None

    def call(self, method: str, **kwargs: Any) -> Any:
        key = rate_key(method.replace("_", "."), kwargs.get("channel"))
        try:
            response = getattr(self.client, method)(**kwargs)
        except SlackApiError as exc:
            retry_after = exc.response.headers.get("Retry-After") if exc.response else None
            error = exc.response.get("error") if exc.response else str(exc)
            wait = float(retry_after) if retry_after else None
            if exc.response is not None and exc.response.status_code == 429:
                self.pacer.refused(key, wait)
                raise RateLimited(f"{method}: {error}", wait, key) from exc
            raise Undeliverable(
                f"{method}: {error}", wait, permanent=error in PERMANENT_ERRORS
            ) from exc
        except (SlackClientError, OSError) as exc:  # connection refused, timeouts, TLS
            raise Undeliverable(f"{method}: {exc.__class__.__name__}: {exc}") from exc
        self.pacer.called(key)
        return response


def _text(say: Post) -> str | None:
    """The message's words as stored: its fallback text and every text in its blocks, one per
    line (what an export shows, and what an erase searches for mentions of a person)."""
    parts: list[str] = []

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            for key, value in node.items():
                if key == "text" and isinstance(value, str):
                    parts.append(value)
                else:
                    walk(value)
        elif isinstance(node, list):
            for item in node:
                walk(item)

    walk(say.message)
    return "\n".join(parts) or None
