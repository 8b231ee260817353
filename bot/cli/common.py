"""What every command shares: its one-line errors, the process settings, the database and the
workspace config, each checked before the command does anything."""

from __future__ import annotations

from pydantic import ValidationError

from bot.cli import preflight
from core.config import ConfigError, Settings, WorkspaceConfig, describe, load_config


class UsageError(Exception):
    """Stops the command with one line on stderr and exit status 2."""


def settings() -> Settings:
    try:
        return Settings()
    except ValidationError as exc:
        raise UsageError("; ".join(describe(exc))) from exc


def database_url() -> str:
    """``LEADBOT_DATABASE_URL``, once it parses and the database answers."""
    url = settings().database_url
    preflight.database(url)
    return url


def workspace(path: str | None = None) -> WorkspaceConfig:
    path = path or settings().config_path
    try:
        return load_config(path)
    except ConfigError as exc:
        raise UsageError(
            f"workspace config {exc.path} is not usable: {'; '.join(exc.errors)} "
            "(run `leadbot config check` for details)"
        ) from exc


def require(value: str | None, name: str) -> str:
    if not value:
        raise UsageError(f"{name} is not set (see the README's configuration table)")
    return value
