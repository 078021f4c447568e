from __future__ import annotations

import os
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

ROOT = Path(__file__).resolve().parents[3]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def start_sim(**env: str) -> tuple[subprocess.Popen[bytes], str]:
    """Start `python -m tradebus.venues.sim` on a free port; wait for /health with a deadline."""
    port = _free_port()
    full = {
        **os.environ,
        "PYTHONPATH": str(ROOT),
        "TRADEBUS_SIM_PORT": str(port),
        **{f"TRADEBUS_SIM_{k.upper()}": v for k, v in env.items()},
    }
    errors = tempfile.TemporaryFile()
    proc = subprocess.Popen([sys.executable, "-m", "tradebus.venues.sim"], env=full, stderr=errors)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            errors.seek(0)
            raise RuntimeError(f"sim exited with {proc.returncode}: {errors.read().decode()}")
        try:
            if httpx.get(f"{url}/api/v1/health", timeout=0.5).status_code == 200:
                return proc, url
        except httpx.TransportError:
            pass
        time.sleep(0.05)  # poll interval of a deadline-bounded readiness check
    proc.kill()
    raise RuntimeError("sim did not become healthy within 20 s")


def stop_sim(proc: subprocess.Popen[bytes]) -> None:
    proc.terminate()
    try:
        proc.wait(timeout=10)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


@pytest.fixture(scope="session")
def sim_url() -> Iterator[str]:
    proc, url = start_sim(seed="42", clock_speed="20", history_hours="3", api_keys="sim-key,other-key")
    try:
        yield url
    finally:
        stop_sim(proc)
