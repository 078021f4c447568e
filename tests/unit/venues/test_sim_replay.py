"""Replay of recorded bars in the sim: the intrabar path and the candles the engine serves."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import SecretStr

from tradebus.venues.ohlcv_files import Bar, read_bars
from tradebus.venues.sim.engine import SimEngine
from tradebus.venues.sim.replay import ReplayPath
from tradebus.venues.sim.settings import SimSettings

S = 10**9
M = 60 * S
T0 = 1_767_225_600 * S


def random_bars(n: int, seed: int, start: int = T0, step: int = M) -> list[Bar]:
    rng = np.random.default_rng(seed)
    out, p = [], 100.0
    for k in range(n):
        o = p
        c = max(1.0, o * (1 + rng.normal(0, 0.004)))
        h = max(o, c) * (1 + abs(rng.normal(0, 0.002)))
        lo = min(o, c) * (1 - abs(rng.normal(0, 0.002)))
        out.append(Bar(start + k * step, o, h, lo, c, float(rng.integers(0, 50)), 0))
        p = c
    return out


def write_csv(path: Path, bars: list[Bar]) -> Path:
    rows = ["ts_open,open,high,low,close,volume"]
    rows += [f"{b.ts_open},{b.open!r},{b.high!r},{b.low!r},{b.close!r},{b.volume!r}" for b in bars]
    path.write_text("\n".join(rows) + "\n")
    return path


@settings(max_examples=40, deadline=None)
@given(seed=st.integers(0, 10_000), steps_per_s=st.sampled_from([1, 2, 10]))
def test_the_path_visits_every_bars_ohlc_and_stays_inside_it(seed: int, steps_per_s: int) -> None:
    bars = random_bars(5, seed)
    path = ReplayPath(bars, 1 / steps_per_s, T0)
    step = S // steps_per_s
    for b in bars:
        t = b.ts_open + np.arange(60 * steps_per_s, dtype=np.int64) * step
        mids, vols = path.prices_at(t)
        assert mids[0] == pytest.approx(b.open)
        assert mids[-1] == pytest.approx(b.close)
        assert mids.max() == pytest.approx(b.high)
        assert mids.min() == pytest.approx(b.low)
        assert vols.sum() == pytest.approx(b.volume)
        first_extreme = mids[: len(mids) // 2]
        assert (first_extreme.min() == pytest.approx(b.low)) == (b.close >= b.open) or b.low == b.high


def test_gaps_and_the_end_hold_the_last_close() -> None:
    bars = [
        Bar(T0, 10, 11, 9, 10.5, 5, 0),
        Bar(T0 + M, 12, 13, 11, 12.5, 5, 0),
        Bar(T0 + 4 * M, 20, 21, 19, 20.5, 5, 0),
    ]
    path = ReplayPath(bars, 0.1, T0 - M)
    mids, vols = path.prices_at(np.array([T0 - S, T0 + M + 90 * S, T0 + 10 * M], dtype=np.int64))
    assert list(mids) == [10, 12.5, 20.5]  # before: first open; gap: last close; after: last close
    assert list(vols) == [0, 0, 0]


def test_too_few_steps_per_bar_is_refused() -> None:
    with pytest.raises(ValueError, match="step_ms"):
        ReplayPath([Bar(T0, 1, 1, 1, 1, 0, 0), Bar(T0 + S, 1, 1, 1, 1, 0, 0)], 0.5, T0)


def test_the_sim_serves_the_file_back_as_candles(tmp_path: Path) -> None:
    bars = random_bars(240, seed=3)
    csv = write_csv(tmp_path / "sol.csv", bars)
    cfg = SimSettings(
        symbols=["SOL-USD", "BTC-USD"], replay_files={"SOL-USD": str(csv)}, history_hours=2,
        api_keys=[SecretStr("k")],
    )  # fmt: skip
    replay = cfg.load_replay()
    start = cfg.start_time(replay, wall_ns=0)
    assert start == T0 + 2 * 3600 * S
    engine = SimEngine(cfg.engine_config(replay), start)
    got = engine.candles("SOL-USD", M, 120, None)
    want = [b for b in bars if b.ts_open + M <= start][-120:]
    assert [r.ts_open for r in got] == [b.ts_open for b in want]
    for r, b in zip(got, want, strict=True):
        assert (r.open, r.high, r.low, r.close) == pytest.approx((b.open, b.high, b.low, b.close))
        assert r.volume == pytest.approx(b.volume)
    # live: the engine keeps walking through the file
    engine.advance(start + 30 * M)
    live = engine.candles("SOL-USD", M, 1, None)[-1]
    nxt = next(b for b in bars if b.ts_open == live.ts_open)
    assert live.close == pytest.approx(nxt.close)
    q = engine.quote("SOL-USD")
    assert abs(q.bid - nxt.close) / nxt.close < 0.01
    # a market order fills near the replayed price
    from proto import Side
    from tradebus.venues.base import OrderRequest

    order, _ = engine.submit("acct-1", OrderRequest("r-1", "SOL-USD", Side.BUY, Decimal("1")))
    assert order.avg_price is not None and abs(float(order.avg_price) - nxt.close) / nxt.close < 0.01


def test_replay_files_must_name_configured_symbols(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="replay_files"):
        SimSettings(symbols=["BTC-USD"], replay_files={"ETH-USD": "x.csv"})


def test_read_bars_round_trips_a_csv(tmp_path: Path) -> None:
    bars = random_bars(10, seed=1)
    assert read_bars(write_csv(tmp_path / "b.csv", bars)) == bars
