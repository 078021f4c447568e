"""backtest worker: answers `backtest.job` requests in queue group `backtest` (`tradebus run backtest`).

Each job runs in a child process (one at a time per worker, so a slow run never blocks the
event loop or the heartbeat); start one worker per core on every machine of the cluster.
"""

from __future__ import annotations

import asyncio
from concurrent.futures import ProcessPoolExecutor

import structlog

from proto.backtest import BACKTEST_JOB, BACKTEST_QUEUE, BacktestJob, BacktestReply
from services.backtest.jobs import run_job
from tradebus.service import Runtime

log = structlog.get_logger()


async def run(rt: Runtime) -> None:
    pool = ProcessPoolExecutor(max_workers=1)
    rt.exit_stack.callback(pool.shutdown, wait=False, cancel_futures=True)
    lock = asyncio.Lock()

    async def handle(job: BacktestJob) -> BacktestReply:
        async with lock:
            log.info("job started", job_id=job.job_id)
            reply = await asyncio.get_running_loop().run_in_executor(pool, run_job, job, rt.instance)
            log.info("job done", job_id=job.job_id, error=reply.error)
            return reply

    await rt.bus.serve(
        BACKTEST_JOB,
        BacktestJob,
        handle,
        queue=BACKTEST_QUEUE,
        error_reply=lambda e: BacktestReply(job_id="?", error=e),
    )
    log.info("backtest worker ready", subject=BACKTEST_JOB, queue=BACKTEST_QUEUE)


def main() -> None:
    from tradebus.service import run_service

    asyncio.run(run_service("backtest", run))
