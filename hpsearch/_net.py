"""The network facts several packages check: which hosts are this machine, and whether one answers.

Used by the cluster preflight (``hpsearch.execution``: a Ray address is reached before
``ray.init``, which would retry for a minute), by the job-server client and by the storage check
before a submission (``hpsearch.service``), and by the CLI's warnings about listening or sending
tokens off this machine.
"""

from __future__ import annotations

import socket

__all__ = ["CONNECT_TIMEOUT_S", "LOOPBACK_HOSTS", "is_loopback", "reach", "reachable"]

#: Seconds one TCP connect may take: a server that is up answers in milliseconds, and a host that
#: drops the packets would otherwise hold a command for the system's minutes-long timeout.
CONNECT_TIMEOUT_S = 3.0
#: Host names that never leave this machine.
LOOPBACK_HOSTS = frozenset({"127.0.0.1", "::1", "localhost"})


def is_loopback(host: str) -> bool:
    """Whether ``host`` (a name or an address, IPv6 without brackets) is this machine only."""
    return host in LOOPBACK_HOSTS


def reach(host: str, port: int, *, timeout_s: float = CONNECT_TIMEOUT_S) -> None:
    """Open and close one TCP connection to ``host:port``.

    Raises:
        OSError: nothing accepted the connection within ``timeout_s`` (refused, unresolvable,
            unroutable, or timed out); callers turn it into their own one-line message.
    """
    with socket.create_connection((host, port), timeout=timeout_s):
        pass


def reachable(host: str, port: int, *, timeout_s: float = CONNECT_TIMEOUT_S) -> bool:
    """Whether ``host:port`` accepts a TCP connection within ``timeout_s``."""
    try:
        reach(host, port, timeout_s=timeout_s)
    except OSError:
        return False
    return True
