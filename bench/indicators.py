"""Cost per candle: incremental BB(20,2) + RSI(14) + ATR(14) against recomputing TA-Lib over
the last 100 candles on every candle (the pattern of the BB/RSI scalper this replaces).

Two recompute figures: the seed's pattern (a window of the last 100 candles; each candle takes
the high/low/close columns out of it and calls TA-Lib), and a best case for TA-Lib that keeps
three ready column deques. Runs are interleaved so machine load hits all three alike.

Run: PYTHONPATH=. python bench/indicators.py [--candles N] [--repeats R]
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections import deque

import numpy as np
import talib

from services.signals.indicators import Atr, BollingerBands, Rsi

WINDOW = 100


def make_candles(n: int, seed: int = 7) -> tuple[list[float], list[float], list[float]]:
    rng = np.random.default_rng(seed)
    close = 100.0 + np.cumsum(np.round(rng.normal(0.0, 0.2, n), 2))
    close = np.maximum(close, 1.0)
    high = close + np.abs(np.round(rng.normal(0.0, 0.1, n), 2))
    low = close - np.abs(np.round(rng.normal(0.0, 0.1, n), 2))
    return high.tolist(), low.tolist(), close.tolist()


def run_incremental(high: list[float], low: list[float], close: list[float]) -> float:
    bb, rsi, atr = BollingerBands(20, 2.0), Rsi(14), Atr(14)
    bb_update, rsi_update, atr_update = bb.update, rsi.update, atr.update
    t0 = time.perf_counter_ns()
    for h, lo, c in zip(high, low, close, strict=True):
        bb_update(c)
        rsi_update(c)
        atr_update(h, lo, c)
        # read what a strategy reads, as the recompute does
        _ = (bb.upper, bb.middle, bb.lower, rsi.value, atr.value)
    return (time.perf_counter_ns() - t0) / len(close) / 1000.0


def run_recompute_window(high: list[float], low: list[float], close: list[float]) -> float:
    window: deque[tuple[float, float, float]] = deque(maxlen=WINDOW)
    t0 = time.perf_counter_ns()
    for candle in zip(high, low, close, strict=True):
        window.append(candle)
        ha = np.array([c[0] for c in window])
        la = np.array([c[1] for c in window])
        ca = np.array([c[2] for c in window])
        talib.BBANDS(ca, timeperiod=20, nbdevup=2.0, nbdevdn=2.0)
        talib.RSI(ca, timeperiod=14)
        talib.ATR(ha, la, ca, timeperiod=14)
    return (time.perf_counter_ns() - t0) / len(close) / 1000.0


def run_recompute_columns(high: list[float], low: list[float], close: list[float]) -> float:
    hs: deque[float] = deque(maxlen=WINDOW)
    ls: deque[float] = deque(maxlen=WINDOW)
    cs: deque[float] = deque(maxlen=WINDOW)
    t0 = time.perf_counter_ns()
    for h, lo, c in zip(high, low, close, strict=True):
        hs.append(h)
        ls.append(lo)
        cs.append(c)
        ha = np.array(hs)
        la = np.array(ls)
        ca = np.array(cs)
        talib.BBANDS(ca, timeperiod=20, nbdevup=2.0, nbdevdn=2.0)
        talib.RSI(ca, timeperiod=14)
        talib.ATR(ha, la, ca, timeperiod=14)
    return (time.perf_counter_ns() - t0) / len(close) / 1000.0


def summary(xs: list[float]) -> str:
    med = statistics.median(xs)
    return f"median {med:7.3f} µs/candle  (min {min(xs):.3f}, max {max(xs):.3f}, n={len(xs)})"


def measure(candles: int, repeats: int) -> dict[str, list[float]]:
    """µs per candle of each way, one figure per repeat, the three interleaved; with the
    speed-ups of each repeat (its three runs ran side by side)."""
    high, low, close = make_candles(candles)
    runs = (run_incremental, run_recompute_window, run_recompute_columns)
    for run in runs:  # warm caches
        run(high[:1000], low[:1000], close[:1000])
    inc: list[float] = []
    rec: list[float] = []
    cols: list[float] = []
    for _ in range(repeats):
        inc.append(run_incremental(high, low, close))
        rec.append(run_recompute_window(high, low, close))
        cols.append(run_recompute_columns(high, low, close))
    return {
        "incremental_us": inc,
        "recompute_window_us": rec,
        "recompute_columns_us": cols,
        "speedup_window": [r / i for r, i in zip(rec, inc, strict=True)],
        "speedup_columns": [c / i for c, i in zip(cols, inc, strict=True)],
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--candles", type=int, default=20_000)
    ap.add_argument("--repeats", type=int, default=7)
    args = ap.parse_args()
    res = measure(args.candles, args.repeats)
    inc, rec, cols = res["incremental_us"], res["recompute_window_us"], res["recompute_columns_us"]
    med_inc = statistics.median(inc)
    print(f"candles per run: {args.candles}, repeats: {args.repeats}")
    print(f"incremental BB(20,2)+RSI(14)+ATR(14):        {summary(inc)}")
    print(f"TA-Lib over last {WINDOW} candles (seed's):    {summary(rec)}")
    print(f"TA-Lib over last {WINDOW}, ready columns:      {summary(cols)}")
    print(f"speed-up vs the seed's recompute: {statistics.median(rec) / med_inc:.1f}x")
    print(f"speed-up vs the best-case recompute: {statistics.median(cols) / med_inc:.1f}x")


if __name__ == "__main__":
    main()
