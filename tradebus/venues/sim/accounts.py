"""Accounts of the sim exchange: cash, average-cost positions, orders, fills (pure, Decimal)."""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import ROUND_HALF_UP, Decimal

from proto import OrderStatus, OrderType, Side
from tradebus.venues.base import VenueFill, VenueOrder

ZERO = Decimal(0)
#: Fees are rounded half-up to this quantum; cash changes by exactly the rounded fee.
FEE_QUANTUM = Decimal("0.00000001")


def fee_of(qty: Decimal, price: Decimal, rate: Decimal) -> Decimal:
    return (qty * price * rate).quantize(FEE_QUANTUM, rounding=ROUND_HALF_UP)


@dataclass(slots=True)
class Position:
    qty: Decimal = ZERO
    avg_price: Decimal = ZERO

    def apply(self, signed_qty: Decimal, price: Decimal) -> None:
        """Average-cost update: adding keeps a weighted average; reducing keeps the average;
        flipping through zero starts again at the fill price."""
        old = self.qty
        new = old + signed_qty
        if old == ZERO or (old > ZERO) == (signed_qty > ZERO):
            self.avg_price = (self.avg_price * abs(old) + price * abs(signed_qty)) / abs(new)
        elif new == ZERO:
            self.avg_price = ZERO
        elif (new > ZERO) != (old > ZERO):
            self.avg_price = price
        self.qty = new


@dataclass(slots=True)
class Order:
    """The engine's mutable order; `snapshot()` gives the immutable `VenueOrder` that leaves it."""

    account: str
    client_order_id: str
    venue_order_id: str
    symbol: str
    side: Side
    type: OrderType
    qty: Decimal
    price: Decimal | None
    price_ticks: int  # limit price in increments (0 for market orders)
    status: OrderStatus = OrderStatus.ACKED
    filled_qty: Decimal = ZERO
    notional: Decimal = ZERO  # sum of qty * price over fills
    reason: str = ""
    ts_event: int = 0

    @property
    def remaining(self) -> Decimal:
        return self.qty - self.filled_qty

    def snapshot(self) -> VenueOrder:
        return VenueOrder(
            client_order_id=self.client_order_id,
            venue_order_id=self.venue_order_id,
            symbol=self.symbol,
            side=self.side,
            type=self.type,
            qty=self.qty,
            price=self.price,
            status=self.status,
            filled_qty=self.filled_qty,
            avg_price=self.notional / self.filled_qty if self.filled_qty else None,
            reason=self.reason,
            ts_event=self.ts_event,
        )


@dataclass(slots=True)
class Account:
    id: str
    cash: Decimal
    positions: dict[str, Position] = field(default_factory=dict)
    orders: dict[str, Order] = field(default_factory=dict)
    fills: list[VenueFill] = field(default_factory=list)

    def book_fill(self, fill: VenueFill) -> None:
        """Cash moves by exactly -(signed notional) - fee; the position by the signed qty."""
        signed = fill.qty if fill.side is Side.BUY else -fill.qty
        self.cash -= signed * fill.price + fill.fee
        pos = self.positions.get(fill.symbol)
        if pos is None:
            pos = self.positions[fill.symbol] = Position()
        pos.apply(signed, fill.price)
        self.fills.append(fill)

    def fills_since(self, since: int) -> list[VenueFill]:
        """Fills with ts_event >= since, oldest first (fills are appended in time order)."""
        lo, hi = 0, len(self.fills)
        while lo < hi:
            mid = (lo + hi) // 2
            if self.fills[mid].ts_event < since:
                lo = mid + 1
            else:
                hi = mid
        return self.fills[lo:]
