"""Backtest jobs for the worker queue group: `backtest.job` request -> reply (one run each)."""

from __future__ import annotations

from typing import Any

from pydantic import Field

from proto.base import Message

#: request/reply subject of backtest jobs; workers subscribe in queue group `backtest`
BACKTEST_JOB = "backtest.job"
BACKTEST_QUEUE = "backtest"


class StrategyJob(Message):
    kind: str
    params: dict[str, Any] = Field(default_factory=dict)
    name: str | None = None
    symbols: tuple[str, ...] = ()


class BarsPayload(Message):
    """Bars inline (keep it under the NATS max payload, ~1 MB by default); floats and ns."""

    symbol: str
    interval: str
    ts: tuple[int, ...]
    open: tuple[float, ...]
    high: tuple[float, ...]
    low: tuple[float, ...]
    close: tuple[float, ...]
    volume: tuple[float, ...] = ()


class BacktestJob(Message):
    """One run. Data: `data_path` (a CSV/Parquet file the worker can read) or inline `bars`."""

    job_id: str
    strategies: tuple[StrategyJob, ...]
    data_path: str | None = None
    symbol: str | None = None
    start_ns: int | None = None
    end_ns: int | None = None
    bars: tuple[BarsPayload, ...] = ()
    #: BacktestConfig / CostModel fields as JSON values (e.g. {"cash": "10000", "costs": {...}})
    settings: dict[str, Any] = Field(default_factory=dict)


class BacktestReply(Message):
    job_id: str
    figures: dict[str, Any] = Field(default_factory=dict)
    worker: str = ""
    error: str | None = None
