"""Paper fills against live quotes (pure): the core of the dry-run trading client.

Rules (taker at touch): a market order fills whole at the touch (buy at the ask, sell at the bid)
with the taker fee; a limit order that crosses fills whole at the touch (never worse than its
limit); otherwise it rests and fills whole, as maker at its own price, on the first quote where
the ask is at or below a buy's price (the bid at or above a sell's). A post-only order that would
cross is rejected. Book depth and queue position are ignored: dry-run is for checking wiring and
signals, not for measuring slippage.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from decimal import ROUND_HALF_UP, Decimal

from proto import OrderStatus, OrderType, Side
from tradebus.venues.base import Balance, Instrument, OrderNotFound, OrderRequest, VenueFill, VenueOrder

ZERO = Decimal(0)
FEE_QUANTUM = Decimal("1e-8")
DONE = (OrderStatus.FILLED, OrderStatus.CANCELED, OrderStatus.REJECTED, OrderStatus.EXPIRED)


@dataclass(frozen=True, slots=True)
class Touch:
    bid: Decimal
    ask: Decimal
    ts: int


@dataclass
class PaperAccount:
    """Orders, fills, cash and positions of a dry run. Every call returns the events it caused."""

    venue: str
    instruments: dict[str, Instrument]
    cash: Decimal = Decimal(100_000)
    maker_fee: Decimal = Decimal("0.0002")
    taker_fee: Decimal = Decimal("0.0005")
    positions: dict[str, Decimal] = field(default_factory=dict)
    orders: dict[str, VenueOrder] = field(default_factory=dict)
    fills: list[VenueFill] = field(default_factory=list)
    touches: dict[str, Touch] = field(default_factory=dict)
    _seq: int = 0

    def submit(self, req: OrderRequest, ts: int) -> tuple[VenueOrder, list[VenueOrder | VenueFill]]:
        """Idempotent on client_order_id. Raises ValueError naming a bad field (nothing stored)."""
        known = self.orders.get(req.client_order_id)
        if known is not None:
            return known, []
        inst = self.instruments.get(req.symbol)
        if inst is None:
            raise ValueError(f"symbol: {req.symbol!r} is not listed by {self.venue}")
        if req.qty < inst.min_size:
            raise ValueError(f"qty: {req.qty} is below the minimum size {inst.min_size} of {req.symbol}")
        if req.qty % inst.size_increment:
            raise ValueError(f"qty: {req.qty} is not a multiple of {inst.size_increment}")
        if req.type is not OrderType.MARKET and (req.price is None or req.price <= 0):
            raise ValueError(f"price: a {req.type.value} order needs a positive price")
        self._seq += 1
        order = VenueOrder(
            client_order_id=req.client_order_id,
            venue_order_id=f"dry-{self._seq}",
            symbol=req.symbol,
            side=req.side,
            type=req.type,
            qty=req.qty,
            price=req.price,
            status=OrderStatus.ACKED,
            filled_qty=ZERO,
            avg_price=None,
            ts_event=ts,
        )
        touch = self.touches.get(req.symbol)
        events: list[VenueOrder | VenueFill] = []
        if touch is None:
            order = replace(order, status=OrderStatus.REJECTED, reason="no quote seen yet")
        else:
            at = touch.ask if req.side is Side.BUY else touch.bid
            crosses = req.price is None or (req.price >= at if req.side is Side.BUY else req.price <= at)
            if req.type is OrderType.POST_ONLY and crosses:
                order = replace(order, status=OrderStatus.REJECTED, reason="post-only order would cross")
            elif crosses:
                order = self._fill(order, at, "taker", ts, events)
        self.orders[req.client_order_id] = order
        events.append(order)
        return order, events

    def cancel(self, client_order_id: str, ts: int) -> tuple[VenueOrder, list[VenueOrder | VenueFill]]:
        order = self.order(client_order_id)
        if order.status in DONE:
            return order, []
        order = replace(order, status=OrderStatus.CANCELED, ts_event=ts)
        self.orders[client_order_id] = order
        return order, [order]

    def order(self, client_order_id: str) -> VenueOrder:
        try:
            return self.orders[client_order_id]
        except KeyError:
            raise OrderNotFound(f"{self.venue} dry-run: no order {client_order_id!r}") from None

    def open_orders(self) -> list[VenueOrder]:
        return [o for o in self.orders.values() if o.status not in DONE]

    def balance(self) -> Balance:
        return Balance(cash=self.cash, positions={s: q for s, q in self.positions.items() if q})

    def on_quote(self, symbol: str, bid: Decimal, ask: Decimal, ts: int) -> list[VenueOrder | VenueFill]:
        """A new touch; resting orders it reaches fill as maker at their own price."""
        self.touches[symbol] = Touch(bid, ask, ts)
        events: list[VenueOrder | VenueFill] = []
        for order in self.open_orders():
            if order.symbol != symbol or order.price is None:
                continue
            reached = ask <= order.price if order.side is Side.BUY else bid >= order.price
            if reached:
                done = self._fill(order, order.price, "maker", ts, events)
                self.orders[order.client_order_id] = done
                events.append(done)
        return events

    def _fill(
        self, order: VenueOrder, price: Decimal, liquidity: str, ts: int, events: list[VenueOrder | VenueFill]
    ) -> VenueOrder:
        qty = order.qty - order.filled_qty
        rate = self.taker_fee if liquidity == "taker" else self.maker_fee
        fee = (qty * price * rate).quantize(FEE_QUANTUM, rounding=ROUND_HALF_UP)
        signed = qty * order.side.sign
        self.cash -= signed * price + fee
        self.positions[order.symbol] = self.positions.get(order.symbol, ZERO) + signed
        fill = VenueFill(
            venue_fill_id=f"{order.venue_order_id}-f",
            venue_order_id=order.venue_order_id,
            client_order_id=order.client_order_id,
            symbol=order.symbol,
            side=order.side,
            qty=qty,
            price=price,
            fee=fee,
            liquidity=liquidity,
            ts_event=ts,
        )
        self.fills.append(fill)
        events.append(fill)
        return replace(order, status=OrderStatus.FILLED, filled_qty=order.qty, avg_price=price, ts_event=ts)
