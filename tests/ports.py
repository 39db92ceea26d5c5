"""A free loopback port for a server that a test (or a process it starts) binds later.

The port is taken from below the kernel's ephemeral range (ip_local_port_range): a port that
bind(0) handed out and the test released stays in that range, where any outgoing connection's
source port or another bind(0) can take it before the server binds (CI saw errno 98 from that).
Below the range only an explicit bind can; each process walks its own sequence (seeded by its pid,
so the two xdist workers start apart) and checks each candidate by binding it."""
from __future__ import annotations

import itertools
import os
import socket


def _ephemeral_low(default: int = 32768) -> int:
    try:
        with open("/proc/sys/net/ipv4/ip_local_port_range") as f:
            return int(f.read().split()[0])
    except (OSError, ValueError, IndexError):
        return default


_LOW = 10_000
_HIGH = max(_LOW + 1_000, min(_ephemeral_low(), 32768))
_candidates = (_LOW + (os.getpid() * 7_919 + i) % (_HIGH - _LOW) for i in itertools.count())


def free_port() -> int:
    """A port on 127.0.0.1 that nothing is bound to now and that bind(0) does not hand out."""
    for _, port in zip(range(_HIGH - _LOW), _candidates):
        with socket.socket() as s:
            try:
                s.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port
    raise RuntimeError(f"no free loopback port in {_LOW}..{_HIGH - 1}")
