from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from core.config import load_config
from emulators.slack import SlackEmulator
from emulators.slack.seed import seed_from_config
from tests import commands

ROOT = Path(__file__).resolve().parents[2]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class Served:
    url: str
    env: dict[str, str]
    process: subprocess.Popen[str]
    emulator: SlackEmulator

    def leadbot(self, *args: str) -> subprocess.CompletedProcess[str]:
        return commands.leadbot(*args, env=self.env, timeout=120)


@pytest.fixture
def served(tmp_path: Path, slack_emulator: SlackEmulator) -> Iterator[Served]:
    """`leadbot serve` as a subprocess on a free port, SQLite in tmp_path, Slack emulated."""
    seed_from_config(slack_emulator, load_config(ROOT / "leadbot.example.toml"))
    port = free_port()
    env = {
        **os.environ,
        "LEADBOT_DATABASE_URL": f"sqlite:///{tmp_path / 'e2e.db'}",
        "LEADBOT_CONFIG": str(ROOT / "leadbot.example.toml"),
        "LEADBOT_PORT": str(port),
        "SLACK_BOT_TOKEN": slack_emulator.bot_token,
        "SLACK_SIGNING_SECRET": slack_emulator.signing_secret,
        "LEADBOT_SLACK_API_URL": slack_emulator.api_url,
    }
    env.pop("SLACK_APP_TOKEN", None)
    process = subprocess.Popen(
        [sys.executable, "-m", "bot", "serve"],
        env=env,
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    while True:
        if process.poll() is not None:
            pytest.fail(
                f"leadbot serve exited early: {process.stdout.read() if process.stdout else ''}"
            )
        try:
            if httpx.get(f"{url}/healthz", timeout=1).status_code == 200:
                break
        except httpx.TransportError:
            pass
        if time.monotonic() > deadline:
            process.kill()
            pytest.fail("leadbot serve did not answer /healthz within 30 s")
        time.sleep(0.1)
    yield Served(url, env, process, slack_emulator)
    process.terminate()
    try:
        process.wait(10)
    except subprocess.TimeoutExpired:
        process.kill()
