"""`leadbot webhook add` refuses internal targets in one line; `--allow-private` is stored on the
endpoint; `retry` of an endpoint its receiver said is gone says how to `enable` it."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from core.db import Database
from core.models import WebhookEndpoint
from core.webhooks import GONE
from tests.commands import environment, leadbot


@pytest.fixture
def env(tmp_path):
    env = environment(LEADBOT_DATABASE_URL=f"sqlite:///{tmp_path / 'hooks.db'}")
    assert leadbot("db", "upgrade", env=env).returncode == 0
    return env


@pytest.mark.parametrize(
    "url",
    [
        "http://169.254.169.254/latest/meta-data/",
        "http://2852039166/",
        "http://0xA9FEA9FE/",
        "http://0251.0376.0251.0376/",
        "http://[::ffff:169.254.169.254]/",
        "http://[fd00:ec2::254]/",
        "http://100.100.100.200/",
    ],
)
def test_metadata_is_refused_even_with_allow_private(env, url):
    for extra in ((), ("--allow-private",)):
        result = leadbot("webhook", "add", url, *extra, env=env, timeout=60)
        assert result.returncode == 2, result.stdout
        assert "a cloud metadata address" in result.stderr
        assert len(result.stderr.strip().splitlines()) == 1
    assert "no webhooks" in leadbot("webhook", "list", env=env).stdout


def test_loopback_needs_allow_private_which_is_stored(env, tmp_path):
    refused = leadbot("webhook", "add", "http://127.0.0.1:9/hook", env=env)
    assert refused.returncode == 2 and "--allow-private" in refused.stderr
    added = leadbot("webhook", "add", "http://127.0.0.1:9/hook", "--allow-private", env=env)
    assert added.returncode == 0, added.stderr
    db = Database(env["LEADBOT_DATABASE_URL"])
    try:
        with db.transaction() as session:
            (endpoint,) = session.query(WebhookEndpoint).all()
            assert endpoint.allow_private is True
            endpoint_id = endpoint.id
            endpoint.disabled_at = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)
            endpoint.disabled_reason = GONE
    finally:
        db.dispose()
    retried = leadbot("webhook", "retry", str(endpoint_id), env=env)
    assert retried.returncode == 2
    assert f"webhook {endpoint_id} is disabled: the receiver answered 410 Gone" in retried.stderr
    assert f"`leadbot webhook enable {endpoint_id}`" in retried.stderr
    enabled = leadbot("webhook", "enable", str(endpoint_id), env=env)
    assert enabled.returncode == 0 and f"webhook {endpoint_id} enabled" in enabled.stdout
    listed = leadbot("webhook", "list", env=env).stdout
    assert "\tenabled\t" in listed
