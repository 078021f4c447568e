"""History rules: aggregation vs a brute-force reference, gap finding, fallback, staleness."""

from __future__ import annotations

from itertools import pairwise

from hypothesis import given, settings
from hypothesis import strategies as st

from proto import INTERVAL_SECONDS, Candle, interval_ns
from services.marketdata.history import StaleTracker, aggregate, find_gaps, finer_intervals, with_fallback

S = 1_000_000_000
T0 = 1_767_225_600 * S  # a whole day


def c1s(k: int, price: float, interval: str = "1s") -> Candle:
    n = interval_ns(interval)
    return Candle(
        venue="v", symbol="X-USD", interval=interval, ts_open=T0 + k * n, open=price, high=price + 1,
        low=price - 1, close=price + 0.5, volume=1.0, trades=1,
    )  # fmt: skip


def test_finer_intervals_divide_and_run_coarsest_first() -> None:
    assert finer_intervals("1m") == ["30s", "15s", "10s", "5s", "1s"]
    assert finer_intervals("1s") == []
    assert "3m" in finer_intervals("1h")
    assert all(3600 % INTERVAL_SECONDS[i] == 0 for i in finer_intervals("1h"))


@settings(max_examples=80, deadline=None)
@given(
    ks=st.sets(st.integers(0, 400), max_size=120),
    prices=st.lists(st.floats(1, 1000), min_size=401, max_size=401),
    target=st.sampled_from(["5s", "15s", "1m", "5m"]),
    now_k=st.integers(0, 500),
)
def test_aggregate_matches_brute_force(ks: set[int], prices: list[float], target: str, now_k: int) -> None:
    fine = [c1s(k, prices[k]) for k in ks]
    now = T0 + now_k * S
    got = aggregate(reversed(fine), target, now)
    n = interval_ns(target)
    want = []
    for start in sorted({c.ts_open - c.ts_open % n for c in fine}):
        members = sorted((c for c in fine if start <= c.ts_open < start + n), key=lambda c: c.ts_open)
        if start + n > now:
            continue
        want.append(
            (start, members[0].open, max(m.high for m in members), min(m.low for m in members),
             members[-1].close, float(len(members)), len(members))
        )  # fmt: skip
    assert [(c.ts_open, c.open, c.high, c.low, c.close, c.volume, c.trades) for c in got] == want
    assert all(c.interval == target and c.closed for c in got)


@given(ks=st.sets(st.integers(0, 200), max_size=150), lo=st.integers(0, 100), span=st.integers(1, 150))
def test_gaps_and_candles_tile_the_span(ks: set[int], lo: int, span: int) -> None:
    n = interval_ns("1m")
    start, end = T0 + lo * n, T0 + (lo + span) * n
    gaps = find_gaps([T0 + k * n for k in ks], "1m", start, end)
    missing = {t for a, b in gaps for t in range(a, b, n)}
    present = {T0 + k * n for k in ks if start <= T0 + k * n < end}
    assert missing.isdisjoint(present)
    assert missing | present == set(range(start, end, n))
    assert all(a < b for a, b in gaps)
    assert all(b1 < a2 for (_, b1), (a2, _) in pairwise(gaps))  # merged, ordered


def test_fallback_aggregates_finer_candles_where_the_interval_has_none() -> None:
    exact = [c1s(3, 10.0, "1m")]
    fives = [c1s(k, 20.0 + k, "5s") for k in range(12 * 5)]  # minutes 0..4 as 5 s bars
    ones = [c1s(k, 30.0, "1s") for k in range(5 * 60, 6 * 60)]  # minute 5 as 1 s bars
    now = T0 + 10 * 60 * S
    got = with_fallback("1m", 10, exact, {"5s": fives, "1s": ones}, now)
    assert [(c.ts_open - T0) // (60 * S) for c in got] == [0, 1, 2, 3, 4, 5]
    assert got[3] == exact[0]  # a stored candle wins over an aggregated one
    assert got[0].open == 20.0 and got[0].close == 20.0 + 11 + 0.5
    assert got[5].trades == 60


def test_stale_tracker_reports_changes_once() -> None:
    t = StaleTracker(after_ns=5 * S)
    t.watch(["A", "B"], now=0)
    assert t.check(4 * S) == []
    t.seen("A", 4 * S)
    assert t.check(6 * S) == ["B"]
    assert t.check(7 * S) == []  # already reported
    assert t.check(9 * S) == ["A"]
    assert t.seen("B", 10 * S) is True  # B is back
    assert t.seen("B", 11 * S) is False
    assert t.stale == {"A"}
