"""The port check before `leadbot serve` starts: a listener is refused in one line naming
--port; a free port is not, on IPv4 or IPv6 (the host uvicorn is given, ``::`` included)."""

from __future__ import annotations

import socket

import pytest

from bot.cli import preflight


def listener(family: socket.AddressFamily, host: str) -> socket.socket:
    sock = socket.socket(family)
    sock.bind((host, 0))
    sock.listen()
    return sock


def ipv6() -> bool:
    try:
        listener(socket.AF_INET6, "::1").close()
    except OSError:
        return False
    return True


HOSTS = [
    (socket.AF_INET, "127.0.0.1"),
    pytest.param(
        socket.AF_INET6, "::1", marks=pytest.mark.skipif(not ipv6(), reason="no IPv6 loopback")
    ),
]


@pytest.mark.parametrize(("family", "host"), HOSTS)
def test_a_port_with_a_listener_is_refused(family, host):
    with listener(family, host) as busy:
        number = busy.getsockname()[1]
        with pytest.raises(preflight.StartupError, match="--port") as refused:
            preflight.port(host, number)
    assert f"{host}:{number}" in str(refused.value)


@pytest.mark.parametrize(("family", "host"), HOSTS)
def test_a_free_port_passes(family, host):
    with listener(family, host) as probe:
        number = probe.getsockname()[1]
    preflight.port(host, number)  # closed again: free
