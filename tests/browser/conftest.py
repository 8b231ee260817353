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
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest
from playwright.sync_api import Browser, ConsoleMessage, Page, sync_playwright

from emulators.slack.serving import free_port

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


def _start(directory: Path, env: dict[str, str]) -> tuple[subprocess.Popen[str], list[str]]:
    """Start the sandbox and read its banner: the process, and its output so far (the banner,
    or everything it said before it exited)."""
    process = subprocess.Popen(
        [sys.executable, "-m", "bot", "sandbox", "--port", str(free_port())],
        cwd=directory,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    assert process.stdout is not None
    lines: list[str] = []
    while not any(line.startswith("API key") for line in lines[:-1]):
        line = process.stdout.readline()
        if not line:
            process.wait()
            break
        lines.append(line)
    return process, lines


@contextmanager
def running_sandbox(directory: Path, database_url: str | None) -> Iterator[SandboxProcess]:
    """``leadbot sandbox`` on a free port in ``directory``; with no ``database_url`` it keeps
    its own default (``leadbot-sandbox.db`` there)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("LEADBOT_", "SLACK_"))}
    if database_url:
        env["LEADBOT_DATABASE_URL"] = database_url
    for _ in range(3):  # a free port can be taken by another process before the sandbox binds it
        process, lines = _start(directory, env)
        if process.returncode is None or "is in use" not in "".join(lines):
            break
    try:
        if process.returncode is not None:
            pytest.fail("leadbot sandbox exited early:\n" + "".join(lines))
        found = re.search(r"web page\): (http://\S+)", "".join(lines))
        assert found, "".join(lines)
        # Keep reading, so a chatty log can never fill the pipe and stall the sandbox.
        drain = threading.Thread(target=lambda: lines.extend(process.stdout or ()), daemon=True)
        drain.start()
        yield SandboxProcess(found.group(1), directory, process)
    finally:
        process.terminate()
        try:
            process.wait(30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
    assert process.returncode == 0, "leadbot sandbox did not stop cleanly:\n" + "".join(lines)


@pytest.fixture
def sandbox_process(db_url: str, tmp_path: Path) -> Iterator[SandboxProcess]:
    """The sandbox on each engine: SQLite its own default file, PostgreSQL the test database."""
    with running_sandbox(tmp_path, None if db_url.startswith("sqlite") else db_url) as started:
        yield started


@pytest.fixture
def sqlite_sandbox(tmp_path: Path) -> Iterator[SandboxProcess]:
    """The sandbox on its own default SQLite file, for tests of the page alone."""
    with running_sandbox(tmp_path, None) as started:
        yield started
