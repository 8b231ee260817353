"""Intake API keys: random, shown once, stored as SHA-256, compared in constant time."""

from __future__ import annotations

import hashlib
import hmac
import secrets
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from core.models import ApiKey
from core.refusals import LeadbotError

KEY_PREFIX = "lbk_"


class ApiKeyError(LeadbotError):
    pass


def _digest(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


def create_key(session: Session, name: str, *, now: datetime) -> str:
    name = name.strip()
    if not name or len(name) > 100:
        raise ApiKeyError("a key name is 1 to 100 characters")
    existing = session.scalars(select(ApiKey).where(ApiKey.name == name)).first()
    if existing is not None and existing.revoked_at is None:
        raise ApiKeyError(f"a key named {name!r} exists already (revoke it first)")
    if existing is not None:  # revoked: free the name, keep the row (and its history) listed
        existing.name = f"{name[:80]} (revoked #{existing.id})"
        session.flush()
    key = KEY_PREFIX + secrets.token_urlsafe(32)
    session.add(ApiKey(name=name, prefix=key[:12], key_hash=_digest(key), created_at=now))
    session.flush()
    return key


def list_keys(session: Session) -> list[ApiKey]:
    return list(session.scalars(select(ApiKey).order_by(ApiKey.created_at, ApiKey.id)))


def revoke_key(session: Session, name: str, *, now: datetime) -> ApiKey:
    key = session.scalars(select(ApiKey).where(ApiKey.name == name)).first()
    if key is None:
        raise ApiKeyError(f"no key named {name!r}")
    if key.revoked_at is None:
        key.revoked_at = now
    return key


def verify_key(session: Session, presented: str) -> ApiKey | None:
    """The live key matching ``presented``, or None. Candidates are found by their public
    prefix and the digests compared with :func:`hmac.compare_digest`."""
    if not presented.startswith(KEY_PREFIX) or len(presented) > 200:
        return None
    digest = _digest(presented)
    candidates = session.scalars(
        select(ApiKey).where(ApiKey.prefix == presented[:12], ApiKey.revoked_at.is_(None))
    )
    return next((key for key in candidates if hmac.compare_digest(key.key_hash, digest)), None)
