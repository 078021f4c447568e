"""The two faces every venue adapter has: a market-data feed and a trading client.

Adapters speak Tradebus' own types (proto) so services never see a venue's wire format. Money is
Decimal; market data may be float.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Protocol

from proto import Candle, OrderStatus, OrderType, Side, Tick


@dataclass(frozen=True, slots=True)
class Instrument:
    symbol: str
    base: str
    quote: str
    price_increment: Decimal
    size_increment: Decimal
    min_size: Decimal


@dataclass(frozen=True, slots=True)
class OrderRequest:
    client_order_id: str
    symbol: str
    side: Side
    qty: Decimal
    type: OrderType = OrderType.MARKET
    price: Decimal | None = None


@dataclass(frozen=True, slots=True)
class VenueOrder:
    client_order_id: str
    venue_order_id: str
    symbol: str
    side: Side
    type: OrderType
    qty: Decimal
    price: Decimal | None
    status: OrderStatus
    filled_qty: Decimal
    avg_price: Decimal | None
    reason: str = ""
    ts_event: int = 0


@dataclass(frozen=True, slots=True)
class VenueFill:
    venue_fill_id: str
    venue_order_id: str
    client_order_id: str
    symbol: str
    side: Side
    qty: Decimal
    price: Decimal
    fee: Decimal
    liquidity: str  # "maker" | "taker"
    ts_event: int


@dataclass(frozen=True, slots=True)
class Balance:
    cash: Decimal
    positions: dict[str, Decimal]


class VenueError(Exception):
    """The venue refused or failed a request. `retryable` says whether trying again may help."""

    def __init__(self, message: str, *, retryable: bool = False) -> None:
        super().__init__(message)
        self.retryable = retryable


class OrderNotFound(VenueError):
    pass


class MarketFeed(Protocol):
    venue: str

    async def instruments(self) -> Sequence[Instrument]: ...

    async def candles(
        self, symbol: str, interval: str, *, limit: int, end: int | None = None
    ) -> Sequence[Candle]:
        """Closed candles, oldest first, at most `limit`, ending at or before `end` (ns)."""
        ...

    def ticks(self, symbols: Sequence[str]) -> AsyncIterator[Tick]:
        """Ticks forever; reconnects with back-off on its own."""
        ...


class TradingClient(Protocol):
    venue: str

    async def submit(self, order: OrderRequest) -> VenueOrder:
        """Idempotent on client_order_id: a repeated id returns the existing order."""
        ...

    async def cancel(self, client_order_id: str) -> VenueOrder: ...

    async def order(self, client_order_id: str) -> VenueOrder:
        """Look an order up by client order id; raises OrderNotFound."""
        ...

    async def open_orders(self) -> Sequence[VenueOrder]: ...

    async def fills(self, since: int = 0) -> Sequence[VenueFill]:
        """Fills with ts_event >= since (ns), oldest first."""
        ...

    async def balance(self) -> Balance: ...

    def events(self) -> AsyncIterator[VenueOrder | VenueFill]:
        """Order updates and fills as they happen; reconnects on its own."""
        ...
