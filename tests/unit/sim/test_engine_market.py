from __future__ import annotations

import itertools
import math
import statistics

import pytest

from proto import INTERVAL_SECONDS
from tradebus.venues.sim.config import EngineConfig
from tradebus.venues.sim.engine import SimEngine

START = 1_800_000_000 * 1_000_000_000
SEC = 1_000_000_000


def test_same_seed_same_path_other_seed_other_path() -> None:
    a = SimEngine(EngineConfig(seed=3, history_s=900), START)
    b = SimEngine(EngineConfig(seed=3, history_s=900), START)
    c = SimEngine(EngineConfig(seed=4, history_s=900), START)
    for e in (a, b, c):
        e.advance(START + 120 * SEC)
    assert a.candles("ETH-USD", SEC, 1000) == b.candles("ETH-USD", SEC, 1000)
    assert a.quotes() == b.quotes()
    assert a.candles("ETH-USD", SEC, 1000) != c.candles("ETH-USD", SEC, 1000)


def test_path_does_not_depend_on_how_often_the_engine_is_advanced() -> None:
    coarse = SimEngine(EngineConfig(history_s=60), START)
    fine = SimEngine(EngineConfig(history_s=60), START)
    coarse.advance(START + 300 * SEC)
    t, end = START, START + 300 * SEC
    while t < end:
        t = min(t + 37 * 1_000_000, end)  # 37 ms, off the step grid
        fine.advance(t)
    assert fine.now_ns == coarse.now_ns
    assert coarse.candles("SOL-USD", SEC, 400) == fine.candles("SOL-USD", SEC, 400)
    assert coarse.quotes() == fine.quotes()


def test_history_is_served_at_start_and_live_bars_continue_it_without_gaps() -> None:
    eng = SimEngine(EngineConfig(history_s=3 * 3600), START)
    hist = eng.candles("BTC-USD", SEC, 100_000)
    assert len(hist) == 3 * 3600
    assert hist[-1].ts_open + SEC == START
    eng.advance(START + 90 * SEC)
    both = eng.candles("BTC-USD", SEC, 100_000)
    assert both[: len(hist)] == hist
    assert len(both) == len(hist) + 90
    opens = [c.ts_open for c in both]
    assert all(b - a == SEC for a, b in itertools.pairwise(opens))
    # no jump at the seam: consecutive 1 s bars are close to each other
    for prev, nxt in itertools.pairwise(both):
        assert abs(nxt.open / prev.close - 1) < 0.02


@pytest.mark.parametrize("interval", ["5s", "1m", "15m", "1h"])
def test_candles_at_an_interval_aggregate_the_one_second_bars(interval: str) -> None:
    eng = SimEngine(EngineConfig(history_s=3 * 3600), START + 7 * SEC)
    eng.advance(START + 100 * SEC + 300_000_000)
    iv = INTERVAL_SECONDS[interval] * SEC
    ones = eng.candles("ETH-USD", SEC, 100_000)
    got = eng.candles("ETH-USD", iv, 20)
    assert 0 < len(got) <= 20
    for c in got:
        assert c.ts_open % iv == 0
        assert c.ts_open + iv <= eng.now_ns
        part = [o for o in ones if c.ts_open <= o.ts_open < c.ts_open + iv]
        assert c.open == part[0].open
        assert c.close == part[-1].close
        assert c.high == max(o.high for o in part)
        assert c.low == min(o.low for o in part)
        assert c.volume == pytest.approx(sum(o.volume for o in part))
        assert c.trades == sum(o.trades for o in part)
    # the newest closed candle is the one that ended last before now
    assert got[-1].ts_open + iv > eng.now_ns - iv


def test_candles_respect_end_and_limit() -> None:
    eng = SimEngine(EngineConfig(history_s=3600), START)
    end = START - 600 * SEC + 30 * SEC
    got = eng.candles("BTC-USD", 60 * SEC, 5, end_ns=end)
    assert len(got) == 5
    assert got[-1].ts_open + 60 * SEC <= end
    assert got[-1].ts_open + 120 * SEC > end
    assert [c.ts_open for c in got] == sorted(c.ts_open for c in got)


def test_future_bars_are_never_served() -> None:
    eng = SimEngine(EngineConfig(history_s=60), START)
    last = eng.candles("BTC-USD", SEC, 10)[-1]
    eng.advance(START + 400_000_000)  # still inside the same second
    assert eng.candles("BTC-USD", SEC, 10)[-1] == last
    assert eng.candles("BTC-USD", SEC, 10, end_ns=START + 100 * SEC)[-1] == last


@pytest.mark.parametrize("symbol", ["BTC-USD", "ETH-USD", "SOL-USD"])
def test_volatility_is_crypto_like(symbol: str) -> None:
    eng = SimEngine(EngineConfig(history_s=6 * 3600, seed=11), START)
    bars = eng.candles(symbol, 60 * SEC, 10_000)
    rets = [math.log(b.close / a.close) for a, b in itertools.pairwise(bars)]
    annual = statistics.pstdev(rets) * math.sqrt(365 * 24 * 60)
    assert 0.3 < annual < 1.5
    mean_abs_move = statistics.fmean(abs(r) for r in rets)
    assert 0.0002 < mean_abs_move < 0.002  # 0.02%..0.2% per minute


@pytest.mark.parametrize(("symbol", "price"), [("BTC-USD", 65_000), ("ETH-USD", 3_200), ("SOL-USD", 150)])
def test_quotes_are_realistic_and_a_few_bps_wide(symbol: str, price: float) -> None:
    eng = SimEngine(EngineConfig(history_s=600), START)
    for _ in range(50):
        eng.advance(eng.now_ns + SEC)
        q = eng.quote(symbol)
        assert q.ask > q.bid
        spread_bps = (q.ask - q.bid) / q.bid * 1e4
        assert spread_bps < 6
        assert 0.8 * price < q.bid < 1.2 * price
        assert q.ts == eng.now_ns


def test_the_book_is_sorted_and_around_the_quote() -> None:
    eng = SimEngine(EngineConfig(history_s=60), START)
    book = eng.book("SOL-USD", 10)
    q = eng.quote("SOL-USD")
    assert len(book.bids) == len(book.asks) == 10
    bids = [p for p, _ in book.bids]
    asks = [p for p, _ in book.asks]
    assert bids == sorted(bids, reverse=True)
    assert asks == sorted(asks)
    assert float(bids[0]) == pytest.approx(q.bid)
    assert float(asks[0]) == pytest.approx(q.ask)
    assert all(qty > 0 for _, qty in book.bids + book.asks)
