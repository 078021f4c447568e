"""Backfill against an in-memory venue with holes: paging, resume after a crash, gap filling,
unfillable gaps, and file imports into the Parquet store."""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from pathlib import Path

import polars as pl
import pytest

from proto import Candle, Tick, interval_ns
from services.marketdata.backfill import backfill_series, import_file
from services.marketdata.store import ParquetHistory
from tradebus.venues.base import Instrument, VenueError

S = 1_000_000_000
M = 60 * S
T0 = 1_767_225_600 * S


class FakeVenue:
    """Minute candles at every minute of [first, last) except `holes`; `fail_after` calls raise;
    `flaky` ts_opens are missing from the first answer that should hold them (filled on retry)."""

    venue = "fake"

    def __init__(self, first: int, last: int, holes: set[int], *, fail_after: int | None = None) -> None:
        self.have = {t: self._candle(t) for t in range(first, last, M) if t not in holes}
        self.fail_after = fail_after
        self.calls: list[tuple[int, int]] = []
        self.flaky: set[int] = set()

    @staticmethod
    def _candle(t: int) -> Candle:
        p = 100.0 + (t - T0) / M
        return Candle(
            venue="fake", symbol="X-USD", interval="1m", ts_open=t, open=p, high=p + 1, low=p - 1, close=p
        )

    async def instruments(self) -> Sequence[Instrument]:
        return []

    async def candles(
        self, symbol: str, interval: str, *, limit: int, end: int | None = None
    ) -> Sequence[Candle]:
        assert end is not None
        if self.fail_after is not None and len(self.calls) >= self.fail_after:
            raise VenueError("venue went away", retryable=True)
        self.calls.append((end, limit))
        page = [c for t, c in sorted(self.have.items()) if t + M <= end][-limit:]
        hidden = {c.ts_open for c in page} & self.flaky
        self.flaky -= hidden
        return [c for c in page if c.ts_open not in hidden]

    async def ticks(self, symbols: Sequence[str]) -> AsyncIterator[Tick]:
        raise NotImplementedError
        yield


async def test_pages_backwards_and_records_what_the_venue_cannot_fill(tmp_path: Path) -> None:
    venue = FakeVenue(T0 + 10 * M, T0 + 100 * M, holes={T0 + 50 * M, T0 + 51 * M})
    store = ParquetHistory(tmp_path)
    r = await backfill_series(venue, store, "X-USD", "1m", T0, T0 + 100 * M, page=20)
    stored = store.ts_opens("fake", "X-USD", "1m")
    assert stored == sorted(venue.have)
    # the venue starts at minute 10 and lacks minutes 50-51: both are recorded, nothing else
    assert list(r.unfillable) == [(T0, T0 + 10 * M), (T0 + 50 * M, T0 + 52 * M)]
    assert store.unfillable("fake", "X-USD", "1m") == list(r.unfillable)
    ends = [e for e, _ in venue.calls]
    assert ends[:2] == [T0 + 100 * M, T0 + 80 * M]  # newest page first, then older
    assert r.added == len(venue.have)


async def test_resume_continues_from_the_cursor_and_adds_nothing_twice(tmp_path: Path) -> None:
    store = ParquetHistory(tmp_path)
    crashing = FakeVenue(T0, T0 + 100 * M, holes=set(), fail_after=2)
    with pytest.raises(VenueError):
        await backfill_series(crashing, store, "X-USD", "1m", T0, T0 + 100 * M, page=20)
    assert len(store.ts_opens("fake", "X-USD", "1m")) == 40
    assert store.cursor("fake", "X-USD", "1m") == T0 + 60 * M
    again = FakeVenue(T0, T0 + 100 * M, holes=set())
    r = await backfill_series(again, store, "X-USD", "1m", T0, T0 + 100 * M, page=20)
    assert again.calls[0][0] == T0 + 60 * M  # picked up where the crash left it
    assert r.added == 60 and r.unfillable == ()
    assert store.ts_opens("fake", "X-USD", "1m") == [T0 + k * M for k in range(100)]


async def test_gaps_left_by_a_flaky_page_are_found_and_filled(tmp_path: Path) -> None:
    venue = FakeVenue(T0, T0 + 60 * M, holes=set())
    venue.flaky = {T0 + 30 * M, T0 + 31 * M, T0 + 45 * M}
    store = ParquetHistory(tmp_path)
    r = await backfill_series(venue, store, "X-USD", "1m", T0, T0 + 60 * M, page=25)
    assert r.gaps_filled == 3 and r.unfillable == ()
    assert store.ts_opens("fake", "X-USD", "1m") == [T0 + k * M for k in range(60)]


async def test_new_data_after_a_finished_run_is_filled_as_a_gap(tmp_path: Path) -> None:
    store = ParquetHistory(tmp_path)
    await backfill_series(FakeVenue(T0, T0 + 50 * M, set()), store, "X-USD", "1m", T0, T0 + 50 * M, page=100)
    later = FakeVenue(T0, T0 + 70 * M, set())
    r = await backfill_series(later, store, "X-USD", "1m", T0, T0 + 70 * M, page=100)
    assert r.added == 20 and r.unfillable == ()
    assert len(store.ts_opens("fake", "X-USD", "1m")) == 70


def test_import_csv_with_iso_times_and_parquet_with_ms(tmp_path: Path) -> None:
    csv = tmp_path / "bars.csv"
    csv.write_text(
        "Timestamp,Open,High,Low,Close,Volume\n"
        "2026-01-01T00:01:00Z,101,102,100,101.5,3\n"
        "2026-01-01T00:00:00Z,100,101,99,100.5,2\n"
    )
    store = ParquetHistory(tmp_path / "h")
    assert import_file(store, csv, "binance", "BTC-USDT", "1m") == 2
    got = store.read("binance", "BTC-USDT", "1m")
    assert [(c.ts_open, c.open, c.volume) for c in got] == [(T0, 100.0, 2.0), (T0 + M, 101.0, 3.0)]
    pq = tmp_path / "bars.parquet"
    pl.DataFrame(
        {"time": [(T0 + M) // 10**6, (T0 + 2 * M) // 10**6], "open": [1.0, 2.0], "high": [2.0, 3.0],
         "low": [0.5, 1.5], "close": [1.5, 2.5]}
    ).write_parquet(pq)  # fmt: skip
    assert import_file(store, pq, "binance", "BTC-USDT", "1m") == 1  # one bar replaced, one new
    assert [c.close for c in store.read("binance", "BTC-USDT", "1m")] == [100.5, 1.5, 2.5]


@pytest.mark.parametrize(
    ("text", "error"),
    [
        ("when,open,high,low,close\n1,1,1,1,1\n", "no time column"),
        ("time,open,high,close\n1,1,1,1\n", "missing column"),
        ("time,open,high,low,close\n1767225600,1,0.5,0.4,1\n", "high/low"),
        ("time,open,high,low,close\n1767225630,1,2,0.5,1\n", "not on the 1m grid"),
        ("time,open,high,low,close\nyesterday,1,2,0.5,1\n", "yesterday"),
    ],
)
def test_bad_files_are_named(tmp_path: Path, text: str, error: str) -> None:
    path = tmp_path / "bad.csv"
    path.write_text(text)
    with pytest.raises(ValueError, match=error):
        import_file(ParquetHistory(tmp_path / "h"), path, "v", "X-USD", "1m")


def test_store_reads_a_window(tmp_path: Path) -> None:
    store = ParquetHistory(tmp_path)
    store.write([FakeVenue._candle(T0 + k * M) for k in range(10)])
    got = store.read("fake", "X-USD", "1m", limit=3, end=T0 + 6 * M)
    assert [(c.ts_open - T0) // M for c in got] == [4, 5, 6]
    assert interval_ns("1m") == M
