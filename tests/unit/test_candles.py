"""Candle aggregator against a brute-force reference on random tick streams."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from proto import Candle, Tick, interval_ns
from services.marketdata.core import CandleAggregator

SEC = 1_000_000_000


def tick(ts: int, price: float, qty: float = 1.0) -> Tick:
    return Tick(venue="sim", symbol="BTC-USD", bid=price, ask=price, last=price, last_qty=qty, ts_event=ts)


def reference(ticks: list[Tick], interval: str) -> list[tuple[int, float, float, float, float, float, int]]:
    """Group by bucket; a tick older than the newest bucket seen so far is late and dropped."""
    n = interval_ns(interval)
    buckets: dict[int, list[Tick]] = {}
    newest = -1
    for t in ticks:
        b = t.ts_event - t.ts_event % n
        if b < newest:
            continue
        newest = max(newest, b)
        buckets.setdefault(b, []).append(t)
    out = []
    for b in sorted(buckets)[:-1]:  # the last bucket is still open
        ts = buckets[b]
        # the close is the tick with the greatest ts; among equals, the first to arrive
        close = next(t.last for t in ts if t.ts_event == max(x.ts_event for x in ts))
        out.append((b, ts[0].last, max(t.last for t in ts), min(t.last for t in ts), close,
                    sum(t.last_qty for t in ts), len(ts)))  # fmt: skip
    return out


def as_tuple(c: Candle) -> tuple[int, float, float, float, float, float, int]:
    return (c.ts_open, c.open, c.high, c.low, c.close, c.volume, c.trades)


@settings(max_examples=200, deadline=None)
@given(
    steps=st.lists(
        st.tuples(st.integers(-3 * SEC, 20 * SEC), st.floats(1, 1000), st.floats(0, 5)),
        min_size=1,
        max_size=200,
    ),
    interval=st.sampled_from(["1s", "5s", "1m"]),
)
def test_matches_brute_force(steps: list[tuple[int, float, float]], interval: str) -> None:
    ts = 1_700_000_000 * SEC
    ticks = []
    for dt, price, qty in steps:
        ts = max(0, ts + dt)  # mostly forward, sometimes late
        ticks.append(tick(ts, price, qty))
    agg = CandleAggregator([interval])
    got = [c for t in ticks for c in agg.on_tick(t)]
    want = reference(ticks, interval)
    assert [c.ts_open for c in got] == [w[0] for w in want]
    for c, w in zip(got, want, strict=True):
        assert as_tuple(c)[:5] == w[:5]
        assert abs(c.volume - w[5]) < 1e-6 and c.trades == w[6]
        assert c.closed and c.ts_open % interval_ns(interval) == 0


def test_history_and_flush() -> None:
    agg = CandleAggregator(["1s", "5s"])
    t0 = 1_700_000_000 * SEC
    for i in range(12):
        agg.on_tick(tick(t0 + i * SEC, 100 + i))
    assert [c.close for c in agg.history_of("BTC-USD", "1s", 3)] == [108, 109, 110]
    assert [c.open for c in agg.history_of("BTC-USD", "5s", 10)] == [100, 105]
    flushed = agg.flush(t0 + 60 * SEC)
    assert sorted((c.interval, c.close) for c in flushed) == [("1s", 111.0), ("5s", 111.0)]
    assert agg.partials() == []
