"""Backfill: page backwards through a venue's candle history into the history store, resume
where a previous run stopped, find and fill gaps, record the gaps the venue cannot fill, and
import OHLCV files. The shell around `history.find_gaps`; the store is synchronous, the venue is not.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import cast

import structlog

from proto import Candle, Interval, interval_ns
from services.marketdata.history import find_gaps
from services.marketdata.store import ParquetHistory
from tradebus.venues.base import MarketFeed
from tradebus.venues.ohlcv_files import read_bars

log = structlog.get_logger()

#: progress(series, done, total): candles covered so far out of the span's candles
Progress = Callable[[str, int, int], None]


@dataclass(frozen=True, slots=True)
class BackfillResult:
    symbol: str
    interval: str
    added: int
    pages: int
    gaps_filled: int
    unfillable: tuple[tuple[int, int], ...]


async def backfill_series(
    feed: MarketFeed,
    store: ParquetHistory,
    symbol: str,
    interval: str,
    since: int,
    until: int,
    *,
    page: int = 1000,
    progress: Progress | None = None,
) -> BackfillResult:
    """Fill [since, until) of one series. Pages walk backwards from `until` (or from the cursor a
    previous run left), the cursor is saved after every page, then gaps are refetched once and
    what is still missing is recorded as unfillable."""
    length = interval_ns(interval)
    since -= since % length
    until -= until % length
    venue = feed.venue
    name = f"{symbol} {interval}"
    total = max(1, (until - since) // length)
    cursor = await asyncio.to_thread(store.cursor, venue, symbol, interval)
    end = until if cursor is None or cursor > until else cursor
    added = pages = 0
    while end > since:
        got = await feed.candles(symbol, interval, limit=page, end=end)
        got = [c for c in got if since <= c.ts_open and c.ts_open + length <= end]
        pages += 1
        added += await asyncio.to_thread(store.write, got)
        if not got:
            break  # the venue has nothing older: what is left shows up as a gap below
        end = got[0].ts_open
        await asyncio.to_thread(store.set_cursor, venue, symbol, interval, end)
        if progress:
            progress(name, (until - end) // length, total)
    await asyncio.to_thread(
        store.set_cursor, venue, symbol, interval, min(end, since) if end <= since else end
    )
    filled, unfillable = await _fill_gaps(feed, store, symbol, interval, since, until, page)
    if progress:
        progress(name, total, total)
    return BackfillResult(symbol, interval, added + filled, pages, filled, tuple(unfillable))


async def _fill_gaps(
    feed: MarketFeed, store: ParquetHistory, symbol: str, interval: str, since: int, until: int, page: int
) -> tuple[int, list[tuple[int, int]]]:
    venue = feed.venue
    length = interval_ns(interval)
    known = set(await asyncio.to_thread(store.unfillable, venue, symbol, interval))
    have = await asyncio.to_thread(store.ts_opens, venue, symbol, interval)
    gaps = [g for g in find_gaps(have, interval, since, until) if g not in known]
    filled = 0
    for a, b in gaps:
        end = b
        while end > a:
            want = min(page, (end - a) // length)
            got = [
                c for c in await feed.candles(symbol, interval, limit=want, end=end) if a <= c.ts_open < end
            ]
            filled += await asyncio.to_thread(store.write, got)
            if not got:
                break
            end = min(c.ts_open for c in got)
    have = await asyncio.to_thread(store.ts_opens, venue, symbol, interval)
    still = [g for g in find_gaps(have, interval, since, until) if g not in known]
    if still:
        await asyncio.to_thread(store.record_unfillable, venue, symbol, interval, still)
        log.info("backfill_unfillable_gaps", symbol=symbol, interval=interval, gaps=len(still))
    return filled, still


def import_file(store: ParquetHistory, path: Path | str, venue: str, symbol: str, interval: str) -> int:
    """Store an OHLCV file's bars as closed candles of (venue, symbol, interval); returns how
    many are new. Bars must sit on the interval's grid."""
    length = interval_ns(interval)
    bars = read_bars(path)
    off = [b.ts_open for b in bars if b.ts_open % length]
    if off:
        raise ValueError(f"{path}: bar at ts_open {off[0]} is not on the {interval} grid")
    iv = cast(Interval, interval)
    candles = [
        Candle(
            venue=venue, symbol=symbol, interval=iv, ts_open=b.ts_open, open=b.open, high=b.high,
            low=b.low, close=b.close, volume=b.volume, trades=b.trades,
        )
        for b in bars
    ]  # fmt: skip
    return store.write(candles)
