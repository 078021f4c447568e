"""`tradebus backtest`: one run with its report files, or a parameter sweep (processes or NATS).

    tradebus backtest --strategy bb_rsi_scalper --params size=0.1 --data bars.parquet
    tradebus backtest --strategy bb_rsi_scalper --venue sim --symbol BTC-USD --timeframe 1m \\
        --from 2024-01-01 --to 2024-01-02            # history over NATS (md.history)
    tradebus backtest ... --grid bb_period=10,20,30 --grid bb_dev=1.5,2 --workers 2
    tradebus backtest ... --grid bb_period=10,20,30 --workers nats   # `tradebus run backtest` workers
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
import uuid
from concurrent.futures import ProcessPoolExecutor
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

from proto import HistoryReply, HistoryRequest, interval_ns
from proto.backtest import BACKTEST_JOB, BacktestJob, BacktestReply, StrategyJob
from proto.subjects import MD_HISTORY
from services.backtest.chart import render_html, render_png
from services.backtest.config import ConfigError
from services.backtest.data import Bars, DataError, from_candles, load_file
from services.backtest.jobs import build_config, expand_grid, parse_pairs, parse_value, payload, run_job
from services.backtest.report import format_summary, round_trips, summary, trades_frame
from services.backtest.runner import Backtest

NS = 1_000_000_000


def _time(text: str | None) -> int | None:
    if text is None:
        return None
    if text.isdigit():
        return int(text) * (NS if len(text) <= 10 else 1)
    dt = datetime.fromisoformat(text)
    return int((dt if dt.tzinfo else dt.replace(tzinfo=UTC)).timestamp() * NS)


def _strategies(args: argparse.Namespace, extra: dict[str, Any] | None = None) -> tuple[StrategyJob, ...]:
    specs = []
    for text in args.strategy:
        kind, _, name = text.partition("@")
        specs.append((kind, name or None))
    params: dict[str | None, dict[str, Any]] = {}
    for key, value in {**parse_pairs(args.params, "--params"), **(extra or {})}.items():
        scope, dot, k = key.partition(".")
        if dot and any((n or kd) == scope for kd, n in specs):
            params.setdefault(scope, {})[k] = value
        elif len(specs) == 1:
            params.setdefault(None, {})[key] = value
        else:
            raise ConfigError(f"--params {key}: with several strategies write NAME.{key}")
    return tuple(
        StrategyJob(kind=kind, name=name, params={**params.get(None, {}), **params.get(name or kind, {})})
        for kind, name in specs
    )


def _settings(args: argparse.Namespace) -> dict[str, Any]:
    return {
        "cash": args.cash, "intrabar": args.intrabar, "price_increment": args.price_increment,
        "size_increment": args.size_increment, "fast": not args.general,
        "costs": {"maker_fee": args.maker_fee, "taker_fee": args.taker_fee, "spread_bps": args.spread_bps,
                  "depth_notional": args.depth, "latency_ms": args.latency_ms},
    }  # fmt: skip


async def _history(
    url: str, venue: str, symbol: str, interval: str, start: int | None, end: int | None
) -> Bars:
    """Candles from marketdata's `md.history`, paged backwards 10,000 at a time."""
    from prometheus_client import CollectorRegistry

    from tradebus.bus import Bus

    bus = await Bus.connect(url, service="backtest-cli", registry=CollectorRegistry())
    try:
        got: dict[int, Any] = {}
        cursor = end
        while True:
            req = HistoryRequest(venue=venue, symbol=symbol, interval=interval, limit=10_000, end=cursor)
            reply = await bus.request(MD_HISTORY, req, HistoryReply, timeout=30)
            if reply.error:
                raise DataError(f"md.history: {reply.error}")
            fresh = [c for c in reply.candles if c.ts_open not in got]
            for c in fresh:
                got[c.ts_open] = c
            oldest = min((c.ts_open for c in reply.candles), default=None)
            if not fresh or oldest is None or (start is not None and oldest <= start):
                break
            cursor = oldest - 1
        candles = [got[t] for t in sorted(got) if start is None or t >= start]
        return from_candles(candles)
    finally:
        await bus.close()


def _load(args: argparse.Namespace) -> list[Bars]:
    start, end = _time(args.start), _time(args.end)
    if args.data:
        syms = args.symbol or [None] * len(args.data)
        return [
            load_file(f, s, args.timeframe).slice(start, end) for f, s in zip(args.data, syms, strict=False)
        ]
    if not args.symbol or not args.timeframe:
        raise ConfigError("give --data FILE, or --symbol and --timeframe (history over NATS)")
    interval_ns(args.timeframe)
    return [
        asyncio.run(_history(_nats_url(args), args.venue, s, args.timeframe, start, end)) for s in args.symbol
    ]


def _nats_url(args: argparse.Namespace) -> str:
    if args.nats_url:
        return str(args.nats_url)
    from tradebus.settings import CommonSettings, load

    cfg: CommonSettings = load(CommonSettings)  # type: ignore[assignment]
    return cfg.nats_url


def _progress(done: int, total: int) -> None:
    width = 40
    filled = width * done // max(total, 1)
    sys.stderr.write(f"\r[{'#' * filled}{'.' * (width - filled)}] {done:,}/{total:,} bars")
    if done >= total:
        sys.stderr.write("\n")
    sys.stderr.flush()


def _single(args: argparse.Namespace, bars: list[Bars]) -> int:
    cfg = build_config(_strategies(args), _settings(args))
    started = time.perf_counter()
    res = Backtest(cfg, bars).run(None if args.no_progress else _progress)
    elapsed = time.perf_counter() - started
    trades = round_trips(res.fills)
    figures = summary(res, trades)
    text = format_summary(figures)
    out = Path(args.out or f"var/backtest/{datetime.now(UTC):%Y%m%dT%H%M%S}")
    out.mkdir(parents=True, exist_ok=True)
    frame = trades_frame(trades)
    trades_path = out / f"trades.{args.trades_format}"
    frame.write_parquet(trades_path) if args.trades_format == "parquet" else frame.write_csv(trades_path)
    (out / "summary.txt").write_text(text + "\n")
    (out / "equity.png").write_bytes(render_png(res.equity))
    title = f"{', '.join(args.strategy)} on {', '.join(b.symbol for b in bars)}"
    (out / "report.html").write_text(render_html(res.equity, title, text))
    sys.stdout.write(
        f"{text}\n\n{len(res.ts):,} bars in {elapsed:.2f}s ({len(res.ts) / elapsed:,.0f} bars/s"
        + (
            ", fast path: compiled"
            if res.compiled
            else f", fast path: {res.exact_steps:,} bars run exactly"
            if res.fast_path
            else ""
        )
        + ")\n"
    )
    sys.stdout.write(f"reports: {out}/ (summary.txt, {trades_path.name}, equity.png, report.html)\n")
    return 0


def _sweep(args: argparse.Namespace, bars: list[Bars]) -> int:
    grid: dict[str, list[Any]] = {}
    for g in args.grid:
        key, sep, values = g.partition("=")
        if not sep or not values:
            raise ConfigError(f"--grid: expected key=a,b,c, got {g!r}")
        grid[key] = [parse_value(v) for v in values.split(",")]
    combos = expand_grid(grid)
    shipped = tuple(payload(b) for b in bars)
    jobs = [
        BacktestJob(
            job_id=f"{i}", strategies=_strategies(args, combo), bars=shipped, settings=_settings(args)
        )
        for i, combo in enumerate(combos)
    ]
    started = time.perf_counter()
    if args.workers == "nats":
        replies = asyncio.run(_sweep_nats(_nats_url(args), jobs))
    else:
        with ProcessPoolExecutor(max_workers=max(1, int(args.workers))) as pool:
            replies = list(pool.map(run_job, jobs))
    elapsed = time.perf_counter() - started
    cols = ["return_pct", "sharpe", "max_drawdown_pct", "trades", "win_rate_pct"]
    sys.stdout.write(" | ".join([*grid, *cols, "worker"]) + "\n")
    for combo, rep in zip(combos, replies, strict=True):
        vals = [str(combo[k]) for k in grid]
        if rep.error:
            sys.stdout.write(" | ".join([*vals, f"error: {rep.error}"]) + "\n")
            continue
        figs = [f"{rep.figures.get(c)}" if not isinstance(rep.figures.get(c), float)
                else f"{rep.figures[c]:.4f}" for c in cols]  # fmt: skip
        sys.stdout.write(" | ".join([*vals, *figs, rep.worker]) + "\n")
    sys.stdout.write(f"{len(jobs)} runs in {elapsed:.2f}s\n")
    return 0 if all(r.error is None for r in replies) else 1


async def _sweep_nats(url: str, jobs: list[BacktestJob], timeout: float = 3600.0) -> list[BacktestReply]:
    from prometheus_client import CollectorRegistry

    from tradebus.bus import Bus

    bus = await Bus.connect(url, service="backtest-cli", registry=CollectorRegistry())
    try:
        tag = uuid.uuid4().hex[:8]
        sent = [j.model_copy(update={"job_id": f"{tag}-{j.job_id}"}) for j in jobs]
        return list(
            await asyncio.gather(*(bus.request(BACKTEST_JOB, j, BacktestReply, timeout) for j in sent))
        )
    finally:
        await bus.close()


def main(args: argparse.Namespace) -> int:
    try:
        Decimal(args.cash)
        bars = _load(args)
        return _sweep(args, bars) if args.grid else _single(args, bars)
    except (ConfigError, DataError, ValueError) as exc:
        sys.stderr.write(f"tradebus backtest: {exc}\n")
        return 2
