"""`leadbot` as an operator runs it: a subprocess of this checkout's code, output as text."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Mapping
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
EXAMPLE_CONFIG = ROOT / "leadbot.example.toml"


def environment(**settings: str) -> dict[str, str]:
    """This process's environment with the example workspace config and ``settings``."""
    return {**os.environ, "LEADBOT_CONFIG": str(EXAMPLE_CONFIG), **settings}


def leadbot(
    *args: str, env: Mapping[str, str] | None = None, cwd: Path = ROOT, timeout: float = 240
) -> subprocess.CompletedProcess[str]:
    """``leadbot ARGS`` in ``env`` (default: :func:`environment`). Run from any ``cwd``, it is
    still this checkout's code, not whatever leadbot is installed."""
    environ = {**(environment() if env is None else env), "PYTHONPATH": str(ROOT)}
    return subprocess.run(
        [sys.executable, "-m", "bot", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        cwd=cwd,
        env=environ,
    )
