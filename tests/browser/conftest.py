"""Debian's Chromium driven by Playwright, and `leadbot sandbox` as a subprocess for it to open.

Browser builds are never downloaded: Playwright launches the system's ``chromium`` (or
``$LEADBOT_CHROMIUM``). Without it the browser tests skip and say why, unless ``LEADBOT_REQUIRE_BROWSER=1`` (``.ci/run`` sets
it), where a missing browser is a failure.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from playwright.sync_api import Browser, ConsoleMessage, Page, sync_playwright

from bot.sandbox.serving import free_port

CHROMIUM = os.environ.get("LEADBOT_CHROMIUM") or shutil.which("chromium") or "/usr/bin/chromium"
REQUIRED = os.environ.get("LEADBOT_REQUIRE_BROWSER") == "1"
FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


@pytest.fixture(scope="session")
def browser() -> Iterator[Browser]:
    if not Path(CHROMIUM).is_file():
        reason = f"Chromium not found ({CHROMIUM}): install it with `bash .ci/chromium.sh`"
        if REQUIRED:
            pytest.fail(f"LEADBOT_REQUIRE_BROWSER=1 but {reason}")
        pytest.skip(f"browser test skipped: {reason}")
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=CHROMIUM, args=FLAGS)
        try:
            yield launched
        finally:
            launched.close()


@dataclass
class Troubles:
    """Everything the page complained about: console errors and uncaught exceptions."""

    seen: list[str]

    def console(self, message: ConsoleMessage) -> None:
        if message.type == "error":
            self.seen.append(f"console error: {message.text} ({message.location.get('url')})")

    def page_error(self, error: Exception) -> None:
        self.seen.append(f"page error: {error}")


@pytest.fixture
def page(browser: Browser) -> Iterator[tuple[Page, Troubles]]:
    context = browser.new_context(viewport={"width": 1280, "height": 800})
    tab = context.new_page()
    tab.set_default_timeout(10_000)
    troubles = Troubles([])
    tab.on("console", troubles.console)
    tab.on("pageerror", troubles.page_error)
    try:
        yield tab, troubles
    finally:
        context.close()


@dataclass
class SandboxProcess:
    page_url: str
    directory: Path
    process: subprocess.Popen[str]


@pytest.fixture
def sandbox_process(db_url: str, tmp_path: Path) -> Iterator[SandboxProcess]:
    """``leadbot sandbox`` on a free port in an empty directory. On SQLite it keeps its own
    default (``leadbot-sandbox.db`` there); on PostgreSQL it gets the test database."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("LEADBOT_", "SLACK_"))}
    if not db_url.startswith("sqlite"):
        env["LEADBOT_DATABASE_URL"] = db_url
    process = subprocess.Popen(
        [sys.executable, "-m", "bot", "sandbox", "--port", str(free_port())],
        cwd=tmp_path,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    lines: list[str] = []
    try:
        assert process.stdout is not None
        while not any(line.startswith("API key") for line in lines[:-1]):
            line = process.stdout.readline()
            if not line:
                pytest.fail("leadbot sandbox exited early:\n" + "".join(lines))
            lines.append(line)
        found = re.search(r"web page\): (http://\S+)", "".join(lines))
        assert found, "".join(lines)
        # Keep reading, so a chatty log can never fill the pipe and stall the sandbox.
        drain = threading.Thread(target=lambda: lines.extend(process.stdout or ()), daemon=True)
        drain.start()
        yield SandboxProcess(found.group(1), tmp_path, process)
    finally:
        process.terminate()
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
    assert process.returncode == 0, "".join(lines)
