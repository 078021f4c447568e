"""The fast path of `bb_rsi_scalper` is the general path, bar for bar.

- Its kernels: indicator values bit-identical to the incremental classes (`BollingerBands`,
  `Rsi`, `Atr`), `fsum` equal to `math.fsum`, quotes equal to the sim engine's.
- Its runs: the same intents (ids, qty, brackets, reasons, ts), fills, venue fills, risk events,
  equity and exposure as the general loop (`BacktestConfig(fast=False)`), on Hypothesis random
  walks with gaps and flat stretches under random costs, path orders and latency, and on a
  large seeded series. (`test_parity.py` also runs the fast path, against the live wiring.)
- It is chosen only where this proof covers the run.
"""

from __future__ import annotations

import math
from dataclasses import replace
from decimal import Decimal
from typing import Any

import numpy as np
from hypothesis import event, given, settings
from hypothesis import strategies as st

from services.backtest import fast_kernel as kern
from services.backtest.config import OPEN_LIMITS, BacktestConfig, StrategySpec
from services.backtest.data import Bars, make_bars, synthetic
from services.backtest.fast import eligible
from services.backtest.runner import Backtest, Result
from services.backtest.venue import CostModel, ReplayEngine, venue_spec
from services.signals.indicators import Atr, BollingerBands, Rsi
from services.signals.indicators.moving import RollingStats

NS = 1_000_000_000
MIN = 60 * NS


def walk(data: st.DataObject, n: int, start: float = 100.0) -> Bars:
    """A random walk of `n` 1-minute bars with gaps in time and runs of equal closes."""
    steps = data.draw(st.lists(st.sampled_from([-2, -1, 0, 0, 1, 2]), min_size=n, max_size=n))
    for at, length in data.draw(st.lists(st.tuples(st.integers(0, n - 1), st.integers(1, 60)), max_size=3)):
        steps[at : at + length] = [0] * len(steps[at : at + length])  # a long flat stretch
    scale = data.draw(st.sampled_from([0.0005, 0.002, 0.01]))
    gaps = data.draw(st.lists(st.sampled_from([1, 1, 1, 1, 2, 7]), min_size=n, max_size=n))
    close = start * np.exp(np.cumsum(np.asarray(steps, dtype=float) * scale))
    open_ = np.concatenate(([start], close[:-1]))
    flat = np.asarray(steps) == 0  # a flat bar: o = h = l = c
    open_[flat] = close[flat]
    wick = np.where(flat, 0.0, close * scale * 0.7)
    ts = 1_700_000_000 * NS + np.cumsum(np.asarray(gaps, dtype=np.int64)) * MIN
    return make_bars("BTC-USD", ts, open_, np.maximum(open_, close) + wick, np.minimum(open_, close) - wick,
                     close, None, interval="1m")  # fmt: skip


# ---------------------------------------------------------------------- kernels


def bits(a: np.ndarray) -> list[Any]:
    """Exact comparison: NaN as None, every other value by its bit pattern (0.0 != -0.0)."""
    return [None if math.isnan(x) else np.float64(x).tobytes() for x in a.tolist()]


def incremental(bars: Bars, period: int, dev: float, rsi_n: int, atr_n: int) -> tuple[list[float], ...]:
    bb, rsi, atr = BollingerBands(period, dev), Rsi(rsi_n), Atr(atr_n)
    cols: tuple[list[float], ...] = ([], [], [], [], [])
    for h, lo, c in zip(bars.high.tolist(), bars.low.tolist(), bars.close.tolist(), strict=True):
        bb.update(c)
        cols[0].append(bb.upper)
        cols[1].append(bb.middle)
        cols[2].append(bb.lower)
        cols[3].append(rsi.update(c))
        cols[4].append(atr.update(h, lo, c))
    return cols


@settings(max_examples=40, deadline=None)
@given(data=st.data(), period=st.integers(2, 12), dev=st.sampled_from([0.5, 2.0, 2.7]),
       rsi_n=st.integers(2, 9), atr_n=st.integers(1, 9))  # fmt: skip
def test_indicators_are_bit_identical_to_the_incremental_classes(
    data: st.DataObject, period: int, dev: float, rsi_n: int, atr_n: int
) -> None:
    # long enough for several exact re-sums of the rolling stats (every 4 windows)
    bars = walk(data, data.draw(st.integers(1, 4 * RollingStats.RESUM_WINDOWS * period + 7)))
    want = incremental(bars, period, dev, rsi_n, atr_n)
    up, mid, lo = kern.bollinger(bars.close, period, dev, RollingStats.RESUM_WINDOWS)
    got = (up, mid, lo, kern.rsi(bars.close, rsi_n), kern.atr(bars.high, bars.low, bars.close, atr_n))
    for name, g, w in zip(("upper", "middle", "lower", "rsi", "atr"), got, want, strict=True):
        assert bits(g) == bits(np.asarray(w)), name


def test_indicators_bit_identical_on_a_long_series() -> None:
    bars = synthetic(30_000, seed=8, vol=0.003)
    want = incremental(bars, 20, 2.0, 14, 14)
    up, mid, lo = kern.bollinger(bars.close, 20, 2.0, RollingStats.RESUM_WINDOWS)
    got = (up, mid, lo, kern.rsi(bars.close, 14), kern.atr(bars.high, bars.low, bars.close, 14))
    for g, w in zip(got, want, strict=True):
        assert bits(g) == bits(np.asarray(w))


finite = st.floats(-1e300, 1e300, allow_nan=False, allow_infinity=False)


@settings(max_examples=300, deadline=None)
@given(xs=st.lists(finite | st.sampled_from([1e16, -1e16, 1.0, -1.0, 1e-16, 0.1, -0.0]), max_size=40))
def test_fsum_is_math_fsum(xs: list[float]) -> None:
    got = kern.fsum(np.asarray(xs, dtype=float), np.zeros(kern.PARTIALS))
    assert got == math.fsum(xs)


@settings(max_examples=200, deadline=None)
@given(
    price=st.floats(0.01, 1e6),
    spread_bps=st.sampled_from([0.0, 0.3, 1.0, 5.0, 37.0]),
    inc=st.sampled_from(["0.01", "0.5", "0.0001", "1"]),
)
def test_quotes_are_the_engines(price: float, spread_bps: float, inc: str) -> None:
    costs = CostModel(spread_bps=spread_bps)
    spec = venue_spec("BTC-USD", price, costs, price_increment=Decimal(inc))
    engine = ReplayEngine((spec,), costs, Decimal(1000), 0)
    m = engine._markets["BTC-USD"]
    engine.move("BTC-USD", price, 1)
    assert kern.quote(price, m.half_spread, m.inc_f) == engine.bid_ask("BTC-USD")


# ---------------------------------------------------------------------- runs


def run_both(cfg: BacktestConfig, bars: Bars) -> tuple[Result, Result]:
    """The fast path with its eventful bars through the live objects, and the general path (the
    compiled build of the fast path is `test_fast_build.py`'s)."""
    fast = Backtest(replace(cfg, compiled=False), [bars]).run()
    general = Backtest(replace(cfg, fast=False), [bars]).run()
    assert fast.fast_path and not general.fast_path
    return fast, general


def assert_same(fast: Result, general: Result) -> None:
    assert [e.intent for e in fast.intents] == [e.intent for e in general.intents]
    assert fast.fills == general.fills
    assert fast.venue_fills == general.venue_fills
    assert fast.risk_events == general.risk_events
    assert bits(fast.equity) == bits(general.equity)
    assert np.array_equal(fast.exposed, general.exposed)
    assert np.array_equal(fast.ts, general.ts)
    assert (fast.unexecuted, fast.cash) == (general.unexecuted, general.cash)


@settings(max_examples=40, deadline=None)
@given(
    data=st.data(),
    period=st.integers(3, 25),
    dev=st.sampled_from([1.0, 1.5, 2.0]),
    atr_mult=st.sampled_from([0.3, 1.0, 2.5]),
    intrabar=st.sampled_from(["auto", "ohlc", "olhc"]),
    spread=st.sampled_from([0.0, 1.0, 8.0]),
    depth=st.sampled_from([1_000_000.0, 300.0]),
    latency=st.sampled_from([0.0, 0.0, 25_000.0, 90_000.0]),
)
def test_fast_path_is_the_general_path_on_random_walks(
    data: st.DataObject, period: int, dev: float, atr_mult: float, intrabar: str, spread: float,
    depth: float, latency: float,
) -> None:  # fmt: skip
    bars = walk(data, data.draw(st.integers(150, 700)))
    cfg = BacktestConfig(
        strategies=(StrategySpec("bb_rsi_scalper", {
            "size": "0.5", "bb_period": period, "bb_dev": dev, "rsi_period": 5, "atr_period": 4,
            "atr_multiplier": atr_mult, "rsi_long_below": 60, "rsi_short_above": 40,
        }),),
        intrabar=intrabar,  # type: ignore[arg-type]
        costs=CostModel(
            spread_bps=spread, depth_notional=depth, latency_ms=latency, taker_fee=Decimal("0.001")
        ),
    )  # fmt: skip
    fast, general = run_both(cfg, bars)
    assert_same(fast, general)
    event(f"intents: {min(len(general.intents), 10) // 5 * 5}+")


def test_fast_path_is_the_general_path_on_a_large_series() -> None:
    bars = synthetic(120_000, seed=42)
    cfg = BacktestConfig(strategies=(StrategySpec("bb_rsi_scalper", {"size": "0.01"}),))
    fast, general = run_both(cfg, bars)
    assert_same(fast, general)
    assert len(general.intents) > 1000 and len(general.fills) > 1000  # it traded a lot
    reasons = {getattr(e.intent, "reason", None) for e in general.intents}
    assert len(reasons) == 4  # entries both ways and both exits
    assert any(r.kind == "bracket" for r in general.risk_events)  # brackets fired too


def test_fast_path_takes_only_proven_runs() -> None:
    bars = synthetic(300, seed=1)
    bb = StrategySpec("bb_rsi_scalper", {"size": "0.1"})
    other = StrategySpec("tests.unit.backtest.strategies:Trend", {"size": "0.1"}, name="t")

    def path(cfg: BacktestConfig, data: list[Bars]) -> str | None:
        return eligible(Backtest(cfg, data))

    assert path(BacktestConfig(strategies=(bb,)), [bars]) is None
    assert Backtest(BacktestConfig(strategies=(bb,)), [bars]).run().fast_path
    assert "disabled" in (path(BacktestConfig(strategies=(bb,), fast=False), [bars]) or "")
    assert "alone" in (path(BacktestConfig(strategies=(bb, other)), [bars]) or "")
    assert "alone" in (path(BacktestConfig(strategies=(other,)), [bars]) or "")
    eth = synthetic(300, symbol="ETH-USD", seed=2)
    assert "one symbol" in (path(BacktestConfig(strategies=(bb,)), [bars, eth]) or "")
    capped = OPEN_LIMITS.model_copy(update={"max_position": Decimal(5)})
    assert "limits" in (path(BacktestConfig(strategies=(bb,), limits=capped), [bars]) or "")
    assert not Backtest(BacktestConfig(strategies=(bb, other)), [bars]).run().fast_path
