"""`tradebus backfill`: fill the history store from a venue, or import an OHLCV file.

    tradebus backfill --venue sim --url http://127.0.0.1:8100 --symbols BTC-USD,ETH-USD \
        --intervals 1m,1h --days 30 [--store var/history]
    tradebus backfill --import bars.csv --venue binance --symbols BTC-USDT --intervals 1m
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
from typing import TextIO

DAY_NS = 86_400 * 10**9


class ProgressBar:
    """One line per series on a terminal (redrawn in place), plain lines otherwise."""

    def __init__(self, out: TextIO = sys.stderr, width: int = 30) -> None:
        self.out, self.width = out, width
        self._last: dict[str, int] = {}

    def __call__(self, name: str, done: int, total: int) -> None:
        pct = min(100, 100 * done // max(total, 1))
        if self._last.get(name) == pct:
            return
        self._last[name] = pct
        filled = self.width * pct // 100
        bar = "#" * filled + "-" * (self.width - filled)
        end = "\r" if self.out.isatty() and pct < 100 else "\n"
        self.out.write(f"{name:<24} [{bar}] {pct:3d}% {min(done, total)}/{total}{end}")
        self.out.flush()


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser("backfill", help="fill the candle history store from a venue or a file")
    p.add_argument("--venue", default="sim", help="sim, lighter, alpaca or ccxt:<exchange>")
    p.add_argument("--url", default="http://127.0.0.1:8100", help="the sim's URL")
    p.add_argument("--symbols", required=True, help="comma separated")
    p.add_argument("--intervals", default="1m", help="comma separated, e.g. 1m,1h")
    p.add_argument("--days", type=float, default=7.0, help="how far back from now (or --until)")
    p.add_argument("--until", type=int, default=None, help="end of the span, ns since the epoch")
    p.add_argument("--page", type=int, default=1000, help="candles per venue request")
    p.add_argument("--store", default="var/history", help="Parquet history directory")
    p.add_argument("--import", dest="import_file", default=None, help="import this CSV/Parquet file instead")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from services.marketdata.backfill import backfill_series, import_file
    from services.marketdata.store import ParquetHistory

    store = ParquetHistory(args.store)
    symbols = [s.strip() for s in args.symbols.split(",") if s.strip()]
    intervals = [i.strip() for i in args.intervals.split(",") if i.strip()]
    if args.import_file:
        if len(symbols) != 1 or len(intervals) != 1:
            print("--import needs exactly one symbol and one interval", file=sys.stderr)  # noqa: T201
            return 2
        added = import_file(store, args.import_file, args.venue, symbols[0], intervals[0])
        print(f"imported {added} new candles into {args.store}", file=sys.stderr)  # noqa: T201
        return 0

    async def main() -> int:
        from tradebus.venues.registry import open_feed

        feed = open_feed(args.venue, args.url)
        until = args.until or time.time_ns()
        if args.venue == "sim":
            until = min(until, max((await feed.candles(symbols[0], "1s", limit=1))[-1].ts_open, 0))
        since = until - int(args.days * DAY_NS)
        bar = ProgressBar()
        try:
            for symbol in symbols:
                for interval in intervals:
                    r = await backfill_series(
                        feed, store, symbol, interval, since, until, page=args.page, progress=bar
                    )
                    print(  # noqa: T201
                        f"{symbol} {interval}: {r.added} new candles, {r.pages} pages, "
                        f"{r.gaps_filled} filled from gaps, {len(r.unfillable)} gaps the venue cannot fill",
                        file=sys.stderr,
                    )
        finally:
            close = getattr(feed, "aclose", None)
            if close is not None:
                await close()
        return 0

    return asyncio.run(main())
