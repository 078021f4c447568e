"""Backtest speed: `bb_rsi_scalper` over synthetic 1-minute bars, beside backtesting.py.

    python bench/backtest.py [--bars 1000000] [--general-bars 100000] [--repeats 3]

Three runs on the same seeded random walk (`synthetic(bars, seed=42)`), each repeated, median
and spread (min..max) of bars/s printed as a table:

- tradebus fast path, compiled (the default for `bb_rsi_scalper` alone; docs/backtest.md): the
  whole trade sequence in a numba kernel, on all bars, timed up to the summary table
  (`report.summary`, from the kernel's integers: the messages are NOT built in this row);
  numba's first-call cost (import, loading or compiling the kernels) is measured apart;
- the same compiled run's messages (intents, fills, venue fills, risk events) materialized on
  first access: that time alone, apart, in the compiled row's note;
- tradebus compiled, all messages materialized, end to end: the compiled run and then all its
  messages built (`len(res.intents)` etc.), timed together: what a caller that needs every
  message (the CLI's trades table, the identity checks) waits for;
- tradebus fast path with exact steps (`BacktestConfig(compiled=False)`: the bars where
  something can happen through the live objects), on all bars;
- tradebus general path (`BacktestConfig(fast=False)`: every bar through the strategy host, the
  netting book and the engine), on the first `--general-bars` bars: its bars/s, extrapolated to
  the full series only as a time estimate, labeled so;
- backtesting.py 0.6.6 with the same entry/exit rules (Bollinger 20/2, RSI 14, ATR 14 brackets)
  with its own indicators (TA-Lib) and its own fill model, on all bars.

Also printed: what the fast path spends its time on (compiled kernels over every bar, then the
bars run exactly through the live objects), which is what limits it.

The whole process (every thread: numpy's, polars', numba's) is pinned to one CPU first, so the
figures are one core's, as the target is stated (`--all-cores` leaves the affinity alone).
"""

from __future__ import annotations

import argparse
import os
import statistics
import time
import warnings
from collections.abc import Callable
from dataclasses import replace

import numpy as np

from services.backtest.config import BacktestConfig, StrategySpec
from services.backtest.data import Bars, synthetic
from services.backtest.report import summary
from services.backtest.runner import Backtest, Result

CFG = BacktestConfig(strategies=(StrategySpec("bb_rsi_scalper", {"size": "0.01"}),))


def timed(fn: Callable[[], object], repeats: int) -> tuple[list[float], object]:
    times, out = [], None
    for _ in range(repeats):
        out = None  # the previous result is freed before the clock starts
        t = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - t)
    return times, out


def ours(bars: Bars, fast: bool, compiled: bool = True) -> Result:
    res = Backtest(replace(CFG, fast=fast, compiled=compiled), [bars]).run()
    assert res.fast_path == fast
    assert not fast or (res.exact_steps == 0) == compiled
    return res


def compiled_summary(bars: Bars) -> Result:
    """A compiled run up to its summary figures, its messages not built."""
    res = ours(bars, True)
    summary(res)
    assert res.compiled and not res.materialized
    return res


def materialize(bars: Bars) -> tuple[float, Result]:
    """(seconds to build all messages of a compiled run, the run), the run itself not timed."""
    res = ours(bars, True)
    t = time.perf_counter()
    n = len(res.intents) + len(res.fills) + len(res.venue_fills) + len(res.risk_events)
    dt = time.perf_counter() - t
    assert res.materialized and n
    return dt, res


def compiled_all(bars: Bars) -> Result:
    """A compiled run and all its messages, end to end."""
    res = ours(bars, True)
    n = len(res.intents) + len(res.fills) + len(res.venue_fills) + len(res.risk_events)
    assert res.compiled and res.materialized and n
    return res


def first_call() -> float:
    """numba import + kernel load (or compile, on the first run after a change) on 300 bars."""
    t = time.perf_counter()
    ours(synthetic(300, seed=1), True)
    return time.perf_counter() - t


def kernels(bars: Bars) -> float:
    """The compiled part alone: indicators and quotes over every bar, one scan over every bar."""
    from services.backtest.fast import FastRun

    t = time.perf_counter()
    run = FastRun(Backtest(CFG, [bars]))
    nan = np.full(len(bars), np.nan)
    run.k.scan(0, 0, False, 0, nan, nan, np.inf, -np.inf, run.ready, run.bid, run.ask, run.upper,
               run.middle, run.lower, run.rsi, 200.0, 200.0)  # fmt: skip
    return time.perf_counter() - t


def theirs(bars: Bars) -> int:
    import pandas as pd
    import talib
    from backtesting import Backtest as BtBacktest
    from backtesting import Strategy

    df = pd.DataFrame(
        {"Open": bars.open, "High": bars.high, "Low": bars.low, "Close": bars.close, "Volume": bars.volume},
        index=pd.to_datetime(bars.ts, unit="ns"),
    )

    class BbRsi(Strategy):  # type: ignore[misc]
        def init(self) -> None:
            c = self.data.Close
            self.up, self.mid, self.lo = self.I(talib.BBANDS, c, 20, 2.0, 2.0)
            self.rsi = self.I(talib.RSI, c, 14)
            self.atr = self.I(talib.ATR, self.data.High, self.data.Low, c, 14)

        def next(self) -> None:
            c, pos = self.data.Close[-1], self.position
            if not pos and c < self.lo[-1] and self.rsi[-1] < 45:
                self.buy(size=1, sl=c - self.atr[-1], tp=c + 2 * self.atr[-1])
            elif not pos and c > self.up[-1] and self.rsi[-1] > 55:
                self.sell(size=1, sl=c + self.atr[-1], tp=c - 2 * self.atr[-1])
            elif (pos.is_long and c > self.mid[-1]) or (pos.is_short and c < self.mid[-1]):
                pos.close()

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        stats = BtBacktest(df, BbRsi, cash=10_000_000, commission=0.0005).run()
    return int(stats["# Trades"])


WIDTH = 56  # the run column


def one_core() -> int | None:
    """Pin every thread of this process to its first allowed CPU (threads started later inherit
    it); the CPU, or None where affinity cannot be set."""
    if not hasattr(os, "sched_setaffinity"):
        return None
    cpu = min(os.sched_getaffinity(0))
    for tid in os.listdir("/proc/self/task"):
        try:
            os.sched_setaffinity(int(tid), {cpu})
        except OSError:  # a thread that ended meanwhile
            pass
    return cpu


def row(name: str, n: int, times: list[float], note: str) -> str:
    rates = sorted(n / t for t in times)
    med = statistics.median(rates)
    return f"| {name:<{WIDTH}} | {n:>9,} | {med:>11,.0f} | {rates[0]:>9,.0f} .. {rates[-1]:<9,.0f} | {note}"


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--bars", type=int, default=1_000_000)
    ap.add_argument("--general-bars", type=int, default=100_000)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--no-backtesting-py", action="store_true")
    ap.add_argument("--all-cores", action="store_true", help="do not pin the process to one CPU")
    a = ap.parse_args()
    cpu = None if a.all_cores else one_core()
    bars = synthetic(a.bars, seed=42)
    sub = bars.slice(None, int(bars.ts[min(a.general_bars, a.bars) - 1]) + 1)

    warm = first_call()
    t_comp, _ = timed(lambda: compiled_summary(bars), a.repeats)
    t_mat = statistics.median(materialize(bars)[0] for _ in range(a.repeats))
    t_all, cres = timed(lambda: compiled_all(bars), a.repeats)
    assert isinstance(cres, Result)
    t_fast, res = timed(lambda: ours(bars, True, compiled=False), a.repeats)
    assert isinstance(res, Result)
    same = (cres.intents, cres.fills, cres.cash) == (res.intents, res.fills, res.cash)
    t_kern = min(kernels(bars) for _ in range(a.repeats))
    t_gen, gres = timed(lambda: ours(sub, False), a.repeats)
    assert isinstance(gres, Result)
    rows = [
        row("tradebus fast path, compiled", len(bars), t_comp,
            "to the summary, messages not built; "
            f"then building its {len(cres.intents):,} intents, {len(cres.fills):,} fills, "
            f"{len(cres.venue_fills):,} venue fills, {len(cres.risk_events):,} risk events: "
            f"+{t_mat:.2f}s (median), timed apart"),
        row("tradebus compiled, all messages materialized, end to end", len(bars), t_all,
            f"the run and then its {len(cres.intents):,} intents, {len(cres.fills):,} fills, "
            f"{len(cres.venue_fills):,} venue fills, {len(cres.risk_events):,} risk events, timed together; "
            f"same as the exact steps: {same}"),
        row("tradebus fast path, exact steps", len(bars), t_fast,
            f"{len(res.intents):,} intents, {len(res.fills):,} fills, {res.exact_steps:,} bars run exactly"),
        row("tradebus general path", len(sub), t_gen,
            f"on the first {len(sub):,} bars; {len(gres.intents):,} intents, {len(gres.fills):,} fills; "
            f"{len(bars):,} bars would take ~{len(bars) * statistics.median(t_gen) / len(sub):,.0f}s "
            "(extrapolated)"),
    ]  # fmt: skip
    if not a.no_backtesting_py:
        t_bt, trades = timed(lambda: theirs(bars), a.repeats)
        rows.append(row("backtesting.py 0.6.6", len(bars), t_bt, f"{trades:,} trades (its own fill model)"))
    where = "every allowed CPU" if cpu is None else f"pinned to CPU {cpu} (one core)"
    print(f"bb_rsi_scalper, synthetic 1-minute bars (seed 42), median of {a.repeats} runs, {where}")
    print()
    print(f"| {'run':<{WIDTH}} | {'bars':>9} | {'bars/s':>11} | {'spread (min .. max)':<22} | notes")
    print(f"|{'-' * (WIDTH + 2)}|{'-' * 11}|{'-' * 13}|{'-' * 24}|------")
    print("\n".join(rows))
    med = statistics.median(t_fast)
    steps = max(res.exact_steps, 1)
    print(
        f"\nfast path time: {med:.2f}s = compiled kernels over all bars {t_kern:.2f}s "
        f"({len(bars) / t_kern:,.0f} bars/s) + {res.exact_steps:,} exact bars "
        f"(~{(med - t_kern) / steps * 1e6:,.0f} us each through the strategy host, the Decimal netting "
        f"book and the engine); first call in a process: +{warm:.2f}s (numba import and kernel load)"
    )


if __name__ == "__main__":
    main()
