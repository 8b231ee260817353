"""Processes the served figures run against: the Slack emulator, `leadbot serve` and the bare
baselines, each started once per run and stopped at its end (or by the run's closers)."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import httpx

from benchmarks.common import ROOT, Context
from core.config import load_config
from emulators.slack import SlackEmulator
from emulators.slack.ratelimit import RateLimitConfig
from emulators.slack.seed import seed_from_config

CONFIG = ROOT / "leadbot.example.toml"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _closers(context: Context) -> list:
    return context.cache.setdefault("closers", [])


def emulator(
    context: Context, config: Path = CONFIG, rate_limits: RateLimitConfig | None = None
) -> SlackEmulator:
    slack = SlackEmulator(rate_limits=rate_limits).start()
    seed_from_config(slack, load_config(config))
    _closers(context).append(slack.stop)
    return slack


@dataclass
class Process:
    url: str
    process: subprocess.Popen[bytes]
    env: dict[str, str]

    @property
    def pid(self) -> int:
        return self.process.pid

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


def _start(context: Context, args: list[str], env: dict[str, str], port: int) -> Process:
    log = open(context.scratch / f"process-{port}.log", "wb")  # noqa: SIM115
    process = subprocess.Popen(args, env=env, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT)
    served = Process(f"http://127.0.0.1:{port}", process, env)
    _closers(context).append(served.stop)
    deadline = time.monotonic() + 60
    while True:
        if process.poll() is not None:
            raise RuntimeError(
                f"{args[2:4]} exited: {(context.scratch / f'process-{port}.log').read_text()}"
            )
        try:
            if httpx.get(f"{served.url}/healthz", timeout=1).status_code == 200:
                return served
        except httpx.TransportError:
            pass
        if time.monotonic() > deadline:
            served.stop()
            raise RuntimeError(f"{args} did not answer /healthz within 60 s")
        time.sleep(0.05)


def serve(
    context: Context, slack: SlackEmulator, database_url: str, config: Path = CONFIG
) -> tuple[Process, str]:
    """`leadbot serve --no-scheduler` on a free port, and an intake API key for it."""
    port = free_port()
    env = {
        **os.environ,
        "LEADBOT_DATABASE_URL": database_url,
        "LEADBOT_CONFIG": str(config),
        "LEADBOT_PORT": str(port),
        "SLACK_BOT_TOKEN": slack.bot_token,
        "SLACK_SIGNING_SECRET": slack.signing_secret,
        "LEADBOT_SLACK_API_URL": slack.api_url,
    }
    env.pop("SLACK_APP_TOKEN", None)
    served = _start(context, [sys.executable, "-m", "bot", "serve", "--no-scheduler"], env, port)
    created = subprocess.run(
        [sys.executable, "-m", "bot", "api-key", "create", f"bench-{port}"],
        env=env,
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    )
    return served, created.stdout.strip().splitlines()[-1]


def bare(context: Context, kind: str, slack: SlackEmulator, extra: str) -> Process:
    port = free_port()
    args = [
        sys.executable,
        "-m",
        "benchmarks.bare",
        kind,
        str(port),
        slack.api_url,
        slack.bot_token,
    ]
    return _start(context, [*args, extra], dict(os.environ), port)
