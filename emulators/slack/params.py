"""Reading Web API arguments the way Slack accepts them.

Arguments may come from the query string, a urlencoded or multipart form body, or a JSON body.
In form bodies, structured arguments (``blocks``, ``view``, ``metadata``...) arrive as
JSON-encoded strings; they are decoded here so every method sees the same shapes.
"""

from __future__ import annotations

import contextlib
import json
from email.parser import BytesParser
from email.policy import HTTP
from typing import Any
from urllib.parse import parse_qsl

JSON_ARGUMENTS = frozenset({"blocks", "attachments", "metadata", "view", "files"})


class BadRequest(Exception):
    """The body could not be read; carries Slack's error code."""

    def __init__(self, error: str) -> None:
        super().__init__(error)
        self.error = error


def parse_multipart(body: bytes, content_type: str) -> dict[str, str | bytes]:
    """Fields of a multipart/form-data body: text parts as str, file parts as bytes."""
    head = f"Content-Type: {content_type}\r\nMIME-Version: 1.0\r\n\r\n".encode()
    message = BytesParser(policy=HTTP).parsebytes(head + body)
    if not message.is_multipart():
        raise BadRequest("invalid_form_data")
    fields: dict[str, str | bytes] = {}
    for part in message.iter_parts():
        name = part.get_param("name", header="content-disposition")
        if not isinstance(name, str):
            continue
        payload = part.get_payload(decode=True)
        raw = payload if isinstance(payload, bytes) else b""
        if part.get_filename() is not None:
            fields[name] = raw
        else:
            fields[name] = raw.decode(part.get_content_charset() or "utf-8")
    return fields


def read_arguments(query: str, body: bytes, content_type: str) -> dict[str, Any]:
    """Merged arguments of one API call (body wins over query string)."""
    args: dict[str, Any] = dict(parse_qsl(query, keep_blank_values=True))
    kind = content_type.split(";")[0].strip().lower()
    if body:
        if kind == "application/json":
            try:
                decoded = json.loads(body)
            except ValueError as exc:
                raise BadRequest("invalid_json") from exc
            if not isinstance(decoded, dict):
                raise BadRequest("invalid_json")
            args.update(decoded)
        elif kind == "multipart/form-data":
            args.update(parse_multipart(body, content_type))
        elif kind in ("application/x-www-form-urlencoded", "text/plain", ""):
            try:
                text = body.decode("utf-8")
            except UnicodeDecodeError as exc:
                raise BadRequest("invalid_charset") from exc
            args.update(parse_qsl(text, keep_blank_values=True))
        else:
            raise BadRequest("invalid_post_type")
    for key in JSON_ARGUMENTS & args.keys():
        value = args[key]
        if isinstance(value, str) and value.strip()[:1] in ("[", "{"):
            # A malformed value stays a string; the method reports it in its own words.
            with contextlib.suppress(ValueError):
                args[key] = json.loads(value)
    return args


def bearer_token(authorization: str | None) -> str | None:
    if not authorization:
        return None
    scheme, _, token = authorization.partition(" ")
    return token.strip() if scheme.lower() == "bearer" and token.strip() else None


def flag(value: Any) -> bool:
    """Slack's boolean arguments: true/1 (any case) are true."""
    if isinstance(value, bool):
        return value
    return str(value).strip().lower() in ("1", "true", "yes")
