"""With the database refusing connections while the server runs, every request that needs it
gets 503 with a message, and the log gets one line per request, not a traceback."""

from __future__ import annotations

import logging
import socket

import pytest
from fastapi.testclient import TestClient

from bot.http.server import DATABASE_DOWN, create_app
from bot.runtime import Runtime
from core.config import Settings
from core.db import Database
from core.services.apikeys import KEY_PREFIX


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])  # nothing listens there once closed


@pytest.fixture(params=["postgresql", "sqlite"])
def down_url(request, tmp_path) -> str:
    if request.param == "postgresql":
        return f"postgresql+psycopg://leadbot:leadbot@127.0.0.1:{closed_port()}/leadbot"
    return f"sqlite:///{tmp_path / 'no' / 'such' / 'dir' / 'leadbot.db'}"


def test_requests_get_503_while_the_database_refuses(down_url, config, caplog):
    runtime = Runtime(settings=Settings(LEADBOT_DATABASE_URL=down_url), config=config,
                      db=Database(down_url))  # fmt: skip
    auth = {"Authorization": f"Bearer {KEY_PREFIX}{'x' * 40}"}  # looked up in the database
    caplog.set_level(logging.WARNING)
    with TestClient(create_app(runtime), raise_server_exceptions=False) as client:
        replies = [
            client.post("/api/v1/events", json={"email": "a@b.co", "type": "x"}, headers=auth),
            client.get("/api/v1/leads/1", headers=auth),
            client.post("/api/v1/leads", json={"email": "a@b.co"}, headers=auth),
        ]
        health = client.get("/healthz")
    for reply in replies:
        assert reply.status_code == 503, reply.text
        assert reply.json() == {"detail": DATABASE_DOWN}
        assert reply.headers["Retry-After"] == "5"
    assert health.status_code == 503
    assert not [record for record in caplog.records if record.exc_info]
    down = [record for record in caplog.records if "database unavailable" in record.getMessage()]
    assert len(down) == len(replies)
    runtime.db.dispose()
