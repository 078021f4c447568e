"""`DryRunTradingClient`: real market data, simulated fills (the default for every live venue).

It never talks to the venue's trading API: it holds no credentials and only reads the feed.
Fills follow `tradebus.venues.paper` (taker at touch, resting limits fill when touched).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable, Sequence
from decimal import Decimal

import structlog

from tradebus.venues.base import Balance, MarketFeed, OrderRequest, VenueError, VenueFill, VenueOrder
from tradebus.venues.paper import PaperAccount

log = structlog.get_logger()


class DryRunTradingClient:
    """A TradingClient for `feed.venue` that fills on paper against the feed's live quotes.

    A symbol's quote stream starts on its first order; `submit` waits up to `quote_wait_s` for
    the first quote and then rejects (retryable) if none came."""

    def __init__(
        self,
        feed: MarketFeed,
        *,
        cash: Decimal = Decimal(100_000),
        maker_fee: Decimal = Decimal("0.0002"),
        taker_fee: Decimal = Decimal("0.0005"),
        quote_wait_s: float = 10.0,
        clock: Callable[[], int] = time.time_ns,
    ) -> None:
        self.feed = feed
        self.venue = feed.venue
        self.dry_run = True
        self._cash, self._maker, self._taker = cash, maker_fee, taker_fee
        self._account: PaperAccount | None = None
        self._pumps: dict[str, asyncio.Task[None]] = {}
        self._quoted: dict[str, asyncio.Event] = {}
        self._subscribers: list[asyncio.Queue[VenueOrder | VenueFill]] = []
        self._wait_s = quote_wait_s
        self._clock = clock

    async def aclose(self) -> None:
        for task in self._pumps.values():
            task.cancel()
        await asyncio.gather(*self._pumps.values(), return_exceptions=True)

    async def account(self) -> PaperAccount:
        if self._account is None:
            instruments = {i.symbol: i for i in await self.feed.instruments()}
            self._account = PaperAccount(self.venue, instruments, self._cash, self._maker, self._taker)
        return self._account

    def _emit(self, events: Sequence[VenueOrder | VenueFill]) -> None:
        for q in self._subscribers:
            for e in events:
                q.put_nowait(e)

    async def _pump(self, symbol: str, account: PaperAccount) -> None:
        async for tick in self.feed.ticks([symbol]):
            events = account.on_quote(symbol, Decimal(repr(tick.bid)), Decimal(repr(tick.ask)), tick.ts_event)
            self._quoted[symbol].set()
            self._emit(events)

    async def watch(self, symbol: str) -> None:
        """Start following `symbol`'s quotes and wait (bounded) for the first one."""
        account = await self.account()
        if symbol not in account.instruments:
            raise VenueError(f"symbol {symbol!r} is not listed by {self.venue}")
        if symbol not in self._pumps:
            self._quoted[symbol] = asyncio.Event()
            self._pumps[symbol] = asyncio.create_task(self._pump(symbol, account), name=f"dry-{symbol}")
        pump = self._pumps[symbol]
        waiter = asyncio.create_task(self._quoted[symbol].wait())
        done, _ = await asyncio.wait(
            {waiter, pump}, timeout=self._wait_s, return_when=asyncio.FIRST_COMPLETED
        )
        waiter.cancel()
        if pump in done:
            del self._pumps[symbol]
            exc = pump.exception()
            raise VenueError(f"{self.venue} quote stream of {symbol} ended: {exc!r}", retryable=True)
        if not self._quoted[symbol].is_set():
            raise VenueError(f"{self.venue}: no quote for {symbol} within {self._wait_s} s", retryable=True)

    async def submit(self, order: OrderRequest) -> VenueOrder:
        account = await self.account()
        if order.client_order_id in account.orders:
            return account.orders[order.client_order_id]
        await self.watch(order.symbol)
        try:
            placed, events = account.submit(order, self._clock())
        except ValueError as exc:
            raise VenueError(f"{self.venue} dry-run refused {order.client_order_id}: {exc}") from exc
        self._emit(events)
        log.info(
            "dry_run_order", venue=self.venue, client_order_id=order.client_order_id, status=placed.status
        )
        return placed

    async def cancel(self, client_order_id: str) -> VenueOrder:
        canceled, events = (await self.account()).cancel(client_order_id, self._clock())
        self._emit(events)
        return canceled

    async def order(self, client_order_id: str) -> VenueOrder:
        return (await self.account()).order(client_order_id)

    async def open_orders(self) -> Sequence[VenueOrder]:
        return (await self.account()).open_orders()

    async def fills(self, since: int = 0) -> Sequence[VenueFill]:
        return [f for f in (await self.account()).fills if f.ts_event >= since]

    async def balance(self) -> Balance:
        return (await self.account()).balance()

    async def events(self) -> AsyncIterator[VenueOrder | VenueFill]:
        queue: asyncio.Queue[VenueOrder | VenueFill] = asyncio.Queue()
        self._subscribers.append(queue)
        try:
            while True:
                yield await queue.get()
        finally:
            self._subscribers.remove(queue)
