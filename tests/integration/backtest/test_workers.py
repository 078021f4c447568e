"""A sweep over NATS: `tradebus run backtest` workers in queue group `backtest` answer jobs with
the figures a local run gives."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator

import pytest

from proto.backtest import BACKTEST_JOB, BacktestJob, BacktestReply, StrategyJob
from services.backtest.cli import _sweep_nats
from services.backtest.data import synthetic
from services.backtest.jobs import payload, run_job
from tradebus.bus import Bus
from tradebus.testing.servers import eventually


@pytest.fixture
def workers(nats_url: str) -> Iterator[None]:
    env = {**os.environ, "NATS_URL": nats_url, "TRADEBUS_LOG_LEVEL": "WARNING"}
    procs = [
        subprocess.Popen([sys.executable, "-m", "tradebus.cli", "run", "backtest"], env=env) for _ in range(2)
    ]
    yield
    for p in procs:
        p.terminate()
    for p in procs:
        p.wait(timeout=15)


async def test_sweep_over_nats_workers(nats_url: str, workers: None) -> None:
    from prometheus_client import CollectorRegistry

    bars = (payload(synthetic(600, seed=2)),)
    probe = BacktestJob(job_id="probe", strategies=(StrategyJob(kind="bb_rsi_scalper"),), bars=bars)
    bus = await Bus.connect(nats_url, service="test", registry=CollectorRegistry())

    async def ready() -> bool:
        try:
            return (await bus.request(BACKTEST_JOB, probe, BacktestReply, timeout=2)).error is None
        except Exception:
            return False

    try:
        await eventually(ready, timeout=30, what="a backtest worker")
    finally:
        await bus.close()
    jobs = [
        BacktestJob(
            job_id=str(i),
            strategies=(StrategyJob(kind="bb_rsi_scalper", params={"bb_period": p}),),
            bars=bars,
        )
        for i, p in enumerate((10, 15, 20, 25))
    ]
    bad = (StrategyJob(kind="bb_rsi_scalper", params={"nope": 1}),)
    jobs.append(BacktestJob(job_id="bad", strategies=bad, bars=bars))
    replies = await _sweep_nats(nats_url, jobs, timeout=60)
    for job, rep in zip(jobs[:4], replies[:4], strict=True):
        assert rep.error is None
        assert not rep.worker.startswith("local-")
        assert rep.figures == run_job(job).model_copy(update={"worker": ""}).figures
    assert replies[4].error is not None and "nope" in replies[4].error
    assert len({r.figures["trades"] for r in replies[:4]}) > 1
