"""What every command shares: its one-line errors, the process settings, the database and the
workspace config, each checked before the command does anything."""

from __future__ import annotations

import argparse
from collections.abc import Callable
from importlib.resources import files
from pathlib import Path

from pydantic import ValidationError

from bot.cli import preflight
from core.config import ConfigError, Settings, WorkspaceConfig, describe, load_config
from core.refusals import LeadbotError


class UsageError(LeadbotError):
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


def readable(path: Path) -> None:
    """An input file that cannot be opened stops the command before it does anything else."""
    from core.csvread import file_problem

    problem = file_problem(path)
    if problem:
        raise UsageError(f"{path}: {problem}")


def port_number(lowest: int) -> Callable[[str], int]:
    """An argparse type: a TCP port from ``lowest`` to 65535 (else socket.bind would raise)."""

    def parse(text: str) -> int:
        if not text.isdigit() or not lowest <= int(text) <= 65535:
            raise argparse.ArgumentTypeError(f"{text!r} is not a port from {lowest} to 65535")
        return int(text)

    return parse


def packaged_config() -> Path:
    """The example workspace config shipped inside the package."""
    return Path(str(files("bot.cli").joinpath("sandbox.toml")))
