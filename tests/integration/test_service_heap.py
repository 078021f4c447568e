"""A service that owns its process freezes its start-up heap once it is up (full collections
then skip it); one run inside another process (tests, the supervisor's in-process mode) leaves
that process's collector alone."""

from __future__ import annotations

import asyncio
import gc
import os
import subprocess
import sys
import textwrap
from pathlib import Path

from tradebus.service import Runtime, run_service
from tradebus.settings import CommonSettings

ROOT = Path(__file__).resolve().parents[2]

OWN_PROCESS = """
import asyncio, gc, os, signal
from tradebus.service import run_service
from tradebus.settings import CommonSettings
from tradebus.testing.servers import eventually

async def main(rt):
    async def watch():
        try:
            await eventually(lambda: gc.get_freeze_count() > 0, timeout=10, what="a frozen heap")
            print("frozen", gc.get_freeze_count(), flush=True)
        finally:
            os.kill(os.getpid(), signal.SIGTERM)

    rt.spawn(watch(), "watch")

asyncio.run(run_service("heap-probe", main, CommonSettings(nats_url={url!r}, metrics_port=0)))
"""


def test_a_service_of_its_own_freezes_its_start_up_heap(nats_url: str) -> None:
    code = textwrap.dedent(OWN_PROCESS).format(url=nats_url)
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    done = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr[-2000:]
    frozen = [line for line in done.stdout.splitlines() if line.startswith("frozen ")]
    assert frozen and int(frozen[0].split()[1]) > 10_000  # the interpreter, modules and schemas


async def test_a_service_inside_another_process_leaves_its_collector_alone(nats_url: str) -> None:
    before = gc.get_freeze_count()
    up = asyncio.Event()
    stopping = asyncio.Event()

    async def main(rt: Runtime) -> None:
        up.set()

    service = asyncio.create_task(
        run_service("heap-probe", main, CommonSettings(nats_url=nats_url, metrics_port=0), stopping)
    )
    try:
        await asyncio.wait_for(up.wait(), 10)
    finally:
        stopping.set()
        await asyncio.wait_for(service, 10)  # all of run_service, past where it would freeze
    assert gc.get_freeze_count() == before
