"""`leadbot` as an operator runs it, output as text.

By default the command runs in this process (``bot.cli.main(argv)`` with the given environment,
working directory and captured stdout/stderr), which costs milliseconds instead of the second
or two a new interpreter takes to import everything. ``subprocess=True`` runs it as a real
process of this checkout's code: for commands that serve or run at the same time as others, and
for the few smoke tests that prove the installed entry point and exit statuses end to end."""

from __future__ import annotations

import io
import os
import subprocess as subprocesses
import sys
import threading
from collections.abc import Mapping, Sequence
from contextlib import redirect_stderr, redirect_stdout
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
EXAMPLE_CONFIG = ROOT / "leadbot.example.toml"

#: One in-process command at a time: it owns the process's environment and working directory.
_ONE_AT_A_TIME = threading.Lock()


def environment(**settings: str) -> dict[str, str]:
    """This process's environment with the example workspace config and ``settings``."""
    return {**os.environ, "LEADBOT_CONFIG": str(EXAMPLE_CONFIG), **settings}


def leadbot(
    *args: str,
    env: Mapping[str, str] | None = None,
    cwd: Path = ROOT,
    timeout: float = 240,
    subprocess: bool = False,
) -> subprocesses.CompletedProcess[str]:
    """``leadbot ARGS`` in ``env`` (default: :func:`environment`), run from ``cwd``; always
    this checkout's code, not whatever leadbot is installed."""
    environ = dict(environment() if env is None else env)
    if subprocess:
        return subprocesses.run(
            [sys.executable, "-m", "bot", *args],
            capture_output=True,
            text=True,
            timeout=timeout,
            cwd=cwd,
            env={**environ, "PYTHONPATH": str(ROOT)},
        )
    return in_process(args, environ, cwd)


def in_process(
    args: Sequence[str], env: Mapping[str, str], cwd: Path
) -> subprocesses.CompletedProcess[str]:
    from bot.cli import main

    out, err = io.StringIO(), io.StringIO()
    with _ONE_AT_A_TIME:
        saved_env, saved_cwd = dict(os.environ), os.getcwd()
        os.environ.clear()
        os.environ.update(env)
        os.chdir(cwd)
        try:
            with redirect_stdout(out), redirect_stderr(err):
                try:
                    code = main(list(args))
                except SystemExit as exc:  # argparse's usage errors and --help
                    code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
        finally:
            os.environ.clear()
            os.environ.update(saved_env)
            os.chdir(saved_cwd)
    return subprocesses.CompletedProcess(["leadbot", *args], code, out.getvalue(), err.getvalue())
