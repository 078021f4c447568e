"""`CcxtFeed`: a MarketFeed over any ccxt exchange (REST history, ccxt.pro streams)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Sequence
from typing import Any

import structlog

from proto import Candle, Tick, interval_ns
from tradebus.venues.base import Instrument, VenueError
from tradebus.venues.ccxt import parse
from tradebus.venues.ccxt.exchange import call
from tradebus.venues.sim.client import Backoff

log = structlog.get_logger()


class CcxtFeed:
    """Market data of one ccxt exchange. `venue` is our name for it (e.g. "binance", "lighter").

    Ticks come from the order book stream (top of book) joined with the trade stream (last
    price and size), one task per symbol; exchanges without streams are polled by REST."""

    def __init__(
        self, exchange: Any, venue: str, *, poll_s: float = 1.0, max_backoff_s: float = 30.0
    ) -> None:
        self.exchange = exchange
        self.venue = venue
        self.symbols: parse.SymbolMap | None = None
        self._poll_s = poll_s
        self._max_backoff_s = max_backoff_s

    async def aclose(self) -> None:
        await self.exchange.close()

    async def symbol_map(self) -> parse.SymbolMap:
        if self.symbols is None:
            markets = await call(f"{self.venue} load_markets", self.exchange.load_markets())
            self.symbols = parse.SymbolMap.from_markets(markets.values(), self.exchange.precisionMode)
        return self.symbols

    async def instruments(self) -> Sequence[Instrument]:
        return list((await self.symbol_map()).instruments.values())

    async def candles(
        self, symbol: str, interval: str, *, limit: int, end: int | None = None
    ) -> Sequence[Candle]:
        """Closed candles ending at or before `end` (ns; default now), oldest first, paging
        forwards from `end - limit * interval` with the venue's own page size."""
        if limit < 1:
            raise VenueError(f"limit must be >= 1, got {limit}")
        symbols = await self.symbol_map()
        market = symbols.ccxt(symbol)
        tf = parse.timeframe(interval, getattr(self.exchange, "timeframes", None))
        length = interval_ns(interval)
        stop = end if end is not None else self.exchange.milliseconds() * parse.MS_NS
        since_ns = (stop // length) * length - limit * length
        got: dict[int, Candle] = {}
        while len(got) < limit:
            rows = await call(
                f"{self.venue} fetch_ohlcv {symbol}",
                self.exchange.fetch_ohlcv(market, tf, since_ns // parse.MS_NS, limit - len(got)),
            )
            page = [
                c for c in parse.candles(self.venue, symbol, interval, rows) if c.ts_open + length <= stop
            ]
            fresh = [c for c in page if c.ts_open not in got and c.ts_open >= since_ns]
            if not fresh:
                break
            got.update((c.ts_open, c) for c in fresh)
            since_ns = max(got) + length
        return [got[k] for k in sorted(got)][-limit:]

    async def ticks(self, symbols: Sequence[str]) -> AsyncIterator[Tick]:
        smap = await self.symbol_map()
        pairs = [(s, smap.ccxt(s)) for s in symbols]
        queue: asyncio.Queue[Tick | BaseException] = asyncio.Queue(maxsize=10_000)
        has = self.exchange.has
        loops = []
        for ours, theirs in pairs:
            if has.get("watchOrderBook"):
                state = {"last": 0.0, "qty": 0.0}
                loops.append(self._book_loop(ours, theirs, state, queue))
                if has.get("watchTrades"):
                    loops.append(self._trade_loop(ours, theirs, state))
            else:
                loops.append(self._poll_loop(ours, theirs, queue))
        tasks = [asyncio.create_task(loop) for loop in loops]
        try:
            while True:
                item = await queue.get()
                if isinstance(item, BaseException):
                    raise item
                yield item
        finally:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)

    async def _resilient(
        self, what: str, step: Any, queue: asyncio.Queue[Tick | BaseException] | None
    ) -> None:
        """Run `step()` forever; network errors back off and retry, anything else ends the stream."""
        import ccxt

        backoff = Backoff(first_s=0.2, cap_s=self._max_backoff_s)
        while True:
            try:
                await step()
                backoff.reset()
            except ccxt.NetworkError as exc:
                log.warning("ccxt_stream_reconnect", venue=self.venue, what=what, error=repr(exc))
                await backoff.wait()
            except Exception as exc:
                err = VenueError(f"{self.venue} {what}: {type(exc).__name__}: {exc}")
                if queue is not None:
                    await queue.put(err)
                    return
                raise err from exc

    async def _book_loop(
        self, ours: str, theirs: str, state: dict[str, float], queue: asyncio.Queue[Tick | BaseException]
    ) -> None:
        async def step() -> None:
            book = await self.exchange.watch_order_book(theirs)
            tick = parse.tick_from_book(self.venue, ours, book, state["last"], time.time_ns())
            if tick is not None:
                await queue.put(tick.model_copy(update={"last_qty": state["qty"]}))

        await self._resilient(f"order book {ours}", step, queue)

    async def _trade_loop(self, ours: str, theirs: str, state: dict[str, float]) -> None:
        async def step() -> None:
            trades = await self.exchange.watch_trades(theirs)
            if trades:
                state["last"] = float(trades[-1]["price"])
                state["qty"] = float(trades[-1]["amount"] or 0.0)

        await self._resilient(f"trades {ours}", step, None)

    async def _poll_loop(self, ours: str, theirs: str, queue: asyncio.Queue[Tick | BaseException]) -> None:
        async def step() -> None:
            ticker = await self.exchange.fetch_ticker(theirs)
            tick = parse.tick_from_ticker(self.venue, ours, ticker, time.time_ns())
            if tick is not None:
                await queue.put(tick)
            await asyncio.sleep(self._poll_s)

        await self._resilient(f"ticker {ours}", step, queue)
