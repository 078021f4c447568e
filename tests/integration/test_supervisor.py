"""The process supervisor with real child processes: restart with back-off, stop by tier."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
import time
from pathlib import Path

import pytest

from tradebus.supervisor import Child, Supervisor
from tradebus.testing.servers import eventually


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    stat = Path(f"/proc/{pid}/stat")
    return stat.exists() and stat.read_text().split()[2] != "Z"


SLEEPER = [sys.executable, "-c", "import time\nwhile True: time.sleep(0.1)"]
# ignores SIGTERM: only SIGKILL at the deadline stops it
STUBBORN = [
    sys.executable,
    "-c",
    "import signal, time\nsignal.signal(signal.SIGTERM, signal.SIG_IGN)\nwhile True: time.sleep(0.1)",
]


async def test_a_crashed_child_is_restarted_and_stop_leaves_nothing() -> None:
    sup = Supervisor()
    infra = Child("infra", SLEEPER, tier=0)
    svc = Child("svc", SLEEPER, tier=3)
    stubborn = Child("stubborn", STUBBORN, tier=3)
    for c in (infra, svc, stubborn):
        await sup.start(c)
    watcher = asyncio.create_task(sup.watch())
    first = svc.pid
    assert first is not None
    os.kill(first, signal.SIGKILL)
    await eventually(lambda: svc.pid not in (None, first) and alive(svc.pid or 0), what="a restarted child")
    assert svc.restarts == 1
    pids = [c.pid for c in sup.children]
    started = time.monotonic()
    await sup.stop(timeout=3)
    watcher.cancel()
    assert time.monotonic() - started < 5
    assert [p for p in pids if p and alive(p)] == []


async def test_a_child_that_dies_while_starting_fails_the_start_unless_optional() -> None:
    sup = Supervisor()
    bad = Child("bad", [sys.executable, "-c", "raise SystemExit(3)"], ready=lambda: False)
    with pytest.raises(RuntimeError, match="exited with 3"):
        await sup.start(bad, ready_timeout=5)
    optional = Child("optional", [sys.executable, "-c", "raise SystemExit(4)"], ready=lambda: False)
    await sup.start(optional, ready_timeout=5, required=False)  # logged, left to watch()
    await sup.stop(timeout=2)
