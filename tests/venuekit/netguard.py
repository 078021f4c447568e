"""Refuse every connection that leaves this machine: venue tests must never reach the network."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest

LOCAL = ("127.0.0.1", "::1", "localhost")


class NetworkBlocked(RuntimeError):
    pass


def _host(address: Any) -> str:
    return str(address[0]) if isinstance(address, tuple) else str(address)


@contextmanager
def local_only(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[str]]:
    """Patch socket connect and name lookup; yields the list of refused hosts."""
    refused: list[str] = []
    real_connect = socket.socket.connect
    real_connect_ex = socket.socket.connect_ex
    real_getaddrinfo = socket.getaddrinfo

    def check(address: Any) -> None:
        host = _host(address)
        if isinstance(address, tuple) and host not in LOCAL:
            refused.append(host)
            raise NetworkBlocked(f"test tried to reach {host}")

    def connect(self: socket.socket, address: Any) -> None:
        check(address)
        real_connect(self, address)

    def connect_ex(self: socket.socket, address: Any) -> int:
        check(address)
        return real_connect_ex(self, address)

    def getaddrinfo(host: Any, *args: Any, **kw: Any) -> Any:
        if host is not None and str(host) not in LOCAL:
            refused.append(str(host))
            raise NetworkBlocked(f"test tried to resolve {host}")
        return real_getaddrinfo(host, *args, **kw)

    monkeypatch.setattr(socket.socket, "connect", connect)
    monkeypatch.setattr(socket.socket, "connect_ex", connect_ex)
    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)
    yield refused
