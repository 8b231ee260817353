"""Request signing exactly as Slack does it (v0 HMAC-SHA256 of ``v0:{timestamp}:{body}``)."""

from __future__ import annotations

import hashlib
import hmac


def signature(signing_secret: str, timestamp: int | str, body: bytes | str) -> str:
    raw = body if isinstance(body, bytes) else body.encode("utf-8")
    basestring = b"v0:" + str(timestamp).encode() + b":" + raw
    digest = hmac.new(signing_secret.encode(), basestring, hashlib.sha256).hexdigest()
    return f"v0={digest}"


def signed_headers(
    signing_secret: str, timestamp: int | str, body: bytes | str, content_type: str
) -> dict[str, str]:
    """The headers Slack sends with a request to an app."""
    return {
        "Content-Type": content_type,
        "X-Slack-Request-Timestamp": str(timestamp),
        "X-Slack-Signature": signature(signing_secret, timestamp, body),
        "User-Agent": "Slackbot 1.0 (+https://api.slack.com/robots)",
    }
