"""The compiled trade sequence (`fast_events.events`) is the general path's, intent for intent
and fill for fill, wherever it says it covers a run (and it says so on almost every run)."""

from __future__ import annotations

from decimal import Decimal

import numpy as np
from hypothesis import event, given, settings
from hypothesis import strategies as st

from services.backtest import fast_events as fe
from services.backtest.config import BacktestConfig, StrategySpec
from services.backtest.data import Bars, make_bars, synthetic
from services.backtest.fast import FastRun
from services.backtest.runner import Backtest, Result
from services.backtest.venue import CostModel
from tests.unit.backtest.test_fast import walk

Rows = list[tuple[object, ...]]

REASONS = {fe.LONG: "bb_rsi long", fe.SHORT: "bb_rsi short"}


def general(cfg: BacktestConfig, bars: Bars) -> Result:
    from dataclasses import replace

    return Backtest(replace(cfg, fast=False), [bars]).run()


def kernel(cfg: BacktestConfig, bars: Bars) -> tuple[fe.Trades, Backtest]:
    bt = Backtest(cfg, [bars])
    got = fe.trades(FastRun(bt))
    assert got is not None
    return got, bt


def as_general(t: fe.Trades, bt: Backtest, bars: Bars) -> tuple[Rows, Rows]:
    """The kernel's integers as the general path's intents and venue fills (the fields compared)."""
    m = bt.engine._markets[bars.symbol]
    inc, size_inc = m.inc, m.instrument.size_increment
    ts, iv = bars.ts.tolist(), bars.interval_ns
    at = (0, iv // 3, 2 * iv // 3, iv - 1)
    intents: Rows = [(int(q) * size_inc, int(why)) for _, q, why, _ in t.intents.tolist()]
    fills: Rows = [
        (ts[j] + at[k], side, q * size_inc, Decimal(px) * inc) for j, k, side, q, px, _ in t.fills.tolist()
    ]
    return intents, fills


def of_general(r: Result) -> tuple[Rows, Rows]:
    intents: Rows = []
    for env in r.intents:
        it = env.intent
        reason = getattr(it, "reason", "")
        why = {v: k for k, v in REASONS.items()}.get(reason, fe.EXIT if reason.startswith("close") else -1)
        intents.append((getattr(it, "qty", None), why))
    fills: Rows = [(f.ts_event, f.side.sign, f.qty, f.price) for f in r.venue_fills]
    return intents, fills


def gapped(data: st.DataObject, bars: Bars) -> Bars:
    """`bars` with some opens away from the previous close (so a bracket can fire at an open)."""
    n = len(bars)
    jumps = np.asarray(data.draw(st.lists(st.sampled_from([0.0, 0.0, 0.0, 0.004, -0.004, 0.02, -0.02]),
                                          min_size=n, max_size=n)))  # fmt: skip
    o = bars.open * (1 + jumps)
    return make_bars(bars.symbol, bars.ts, o, np.maximum(bars.high, o), np.minimum(bars.low, o), bars.close,
                     None, interval="1m")  # fmt: skip


def check(cfg: BacktestConfig, bars: Bars) -> bool:
    t, bt = kernel(cfg, bars)
    g = of_general(general(cfg, bars))
    if not t.covered:
        return False
    k = as_general(t, bt, bars)
    assert k[0] == g[0]
    assert k[1] == g[1]
    return True


@settings(max_examples=60, deadline=None)
@given(
    data=st.data(),
    period=st.integers(2, 12),
    dev=st.sampled_from([0.5, 1.0, 2.0]),
    mult=st.sampled_from([0.3, 1.0, 2.5]),
    intrabar=st.sampled_from(["auto", "ohlc", "olhc"]),
    spread=st.sampled_from([0.0, 1.0, 30.0]),
    size=st.sampled_from(["0.01", "0.5", "3"]),
    depth=st.sampled_from([1_000_000.0, 300.0, 75.0]),
)
def test_the_trade_sequence_is_the_general_paths_on_random_walks(
    data: st.DataObject, period: int, dev: float, mult: float, intrabar: str, spread: float, size: str,
    depth: float,
) -> None:  # fmt: skip
    bars = gapped(data, walk(data, data.draw(st.integers(30, 400))))
    params = {"size": size, "bb_period": period, "bb_dev": dev, "rsi_period": 3, "atr_period": 3,
              "atr_multiplier": mult, "rsi_long_below": 60, "rsi_short_above": 40}  # fmt: skip
    cfg = BacktestConfig(
        strategies=(StrategySpec("bb_rsi_scalper", params),),
        intrabar=intrabar,  # type: ignore[arg-type]
        costs=CostModel(spread_bps=spread, depth_notional=depth),
    )
    event("covered" if check(cfg, bars) else "uncovered")


def test_the_trade_sequence_is_the_general_paths_on_a_large_series() -> None:
    bars = synthetic(200_000, seed=7)
    cfg = BacktestConfig(strategies=(StrategySpec("bb_rsi_scalper", {"size": "0.01"}),))
    assert check(cfg, bars)
