"""A backtest job (proto) -> a run -> its figures; parameter grids. Used by the CLI's process
pool and by the NATS workers alike, so a sweep gives the same figures wherever it runs."""

from __future__ import annotations

import itertools
import os
from collections.abc import Mapping, Sequence
from decimal import Decimal
from typing import Any

import numpy as np

from proto.backtest import BacktestJob, BacktestReply, BarsPayload, StrategyJob
from services.backtest.config import BacktestConfig, ConfigError, StrategySpec
from services.backtest.data import Bars, DataError, load_file, make_bars
from services.backtest.report import round_trips, summary
from services.backtest.runner import Backtest
from services.backtest.venue import CostModel

_DECIMAL = ("cash", "price_increment", "size_increment", "min_size")


def parse_value(text: str) -> Any:
    """CLI values: int, float, true/false, else the string (pydantic coerces decimals)."""
    low = text.lower()
    if low in ("true", "false"):
        return low == "true"
    for kind in (int, float):
        try:
            return kind(text)
        except ValueError:
            pass
    return text


def parse_pairs(pairs: Sequence[str], what: str) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise ConfigError(f"{what}: expected key=value, got {pair!r}")
        out[key.strip()] = parse_value(value.strip())
    return out


def expand_grid(grid: Mapping[str, Sequence[Any]]) -> list[dict[str, Any]]:
    """Every combination of the grid's values, in a stable order (keys as given)."""
    keys = list(grid)
    return [dict(zip(keys, combo, strict=True)) for combo in itertools.product(*(grid[k] for k in keys))]


def build_config(strategies: Sequence[StrategyJob], settings: Mapping[str, Any]) -> BacktestConfig:
    s = dict(settings)
    costs_raw = dict(s.pop("costs", {}) or {})
    try:
        for k in ("maker_fee", "taker_fee"):
            if k in costs_raw:
                costs_raw[k] = Decimal(str(costs_raw[k]))
        costs = CostModel(**costs_raw)
        for k in _DECIMAL:
            if s.get(k) is not None:
                s[k] = Decimal(str(s[k]))
        specs = tuple(StrategySpec(j.kind, dict(j.params), j.name, tuple(j.symbols)) for j in strategies)
        return BacktestConfig(strategies=specs, costs=costs, **s)
    except TypeError as exc:
        raise ConfigError(f"settings: {exc}") from None


def bars_of(job: BacktestJob) -> list[Bars]:
    out = [
        make_bars(
            b.symbol,
            np.array(b.ts, np.int64),
            np.array(b.open),
            np.array(b.high),
            np.array(b.low),
            np.array(b.close),
            np.array(b.volume) if b.volume else None,
            b.interval,
        )
        for b in job.bars
    ]
    if job.data_path:
        out.append(load_file(job.data_path, job.symbol).slice(job.start_ns, job.end_ns))
    if not out:
        raise DataError("job has neither data_path nor bars")
    return out


def payload(bars: Bars) -> BarsPayload:
    return BarsPayload(
        symbol=bars.symbol, interval=bars.interval, ts=tuple(bars.ts.tolist()),
        open=tuple(bars.open.tolist()), high=tuple(bars.high.tolist()), low=tuple(bars.low.tolist()),
        close=tuple(bars.close.tolist()), volume=tuple(bars.volume.tolist()),
    )  # fmt: skip


def run_job(job: BacktestJob, worker: str = "") -> BacktestReply:
    """Run one job; a bad job is an `error` reply naming the problem, never an exception."""
    try:
        cfg = build_config(job.strategies, job.settings)
        res = Backtest(cfg, bars_of(job)).run()
        figures = summary(res, round_trips(res.fills))
        figures = {k: (int(v) if isinstance(v, np.integer) else v) for k, v in figures.items()}
        return BacktestReply(job_id=job.job_id, figures=figures, worker=worker or f"local-{os.getpid()}")
    except (ValueError, OSError) as exc:
        return BacktestReply(job_id=job.job_id, worker=worker, error=str(exc))
