"""Ports for test and bench servers: free, distinct, and outside the range outgoing connections
take their local ports from (where one could be taken before its server binds it)."""

from __future__ import annotations

import itertools
import socket

import pytest

from tradebus.testing import servers
from tradebus.testing.servers import _ephemeral_low, free_port


def test_ports_are_free_distinct_and_below_the_ephemeral_range() -> None:
    low = _ephemeral_low()
    ports = [free_port() for _ in range(50)]
    assert len(set(ports)) == len(ports)
    assert all(1024 <= p < low for p in ports)
    for p in ports[:5]:
        with socket.socket() as s:
            s.bind(("127.0.0.1", p))  # free indeed


def test_a_port_in_use_is_not_handed_out(monkeypatch: pytest.MonkeyPatch) -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))  # in use, and never handed out by free_port
        busy.listen()
        taken = busy.getsockname()[1]
        base = free_port()  # the ports after it: not handed out (nearly always free)
        picks = itertools.chain([taken, taken], range(base + 1, base + 100))  # the busy one first, twice
        monkeypatch.setattr(servers.random, "randrange", lambda a, b: next(picks))
        assert base < servers.free_port() < base + 100
