"""hpsearch._net: the loopback host list and the one TCP probe the preflight checks share."""

from __future__ import annotations

import socket

import pytest

from hpsearch._net import is_loopback, reach, reachable


def test_loopback_hosts_are_this_machine_only():
    assert all(is_loopback(h) for h in ("127.0.0.1", "::1", "localhost"))
    assert not any(is_loopback(h) for h in ("10.0.0.5", "head.example", "0.0.0.0", ""))


def test_a_listening_port_is_reached_and_a_closed_one_is_not():
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen(1)
        port = server.getsockname()[1]
        reach("127.0.0.1", port)
        assert reachable("127.0.0.1", port)
    # Closed now: nothing listens there (the port was ours a moment ago).
    assert not reachable("127.0.0.1", port, timeout_s=1.0)
    with pytest.raises(OSError):
        reach("127.0.0.1", port, timeout_s=1.0)
