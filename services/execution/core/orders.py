"""Order records and their state machine. Pure: no I/O, no clock (time is passed in as ns).

Legal transitions::

    NEW -> SUBMITTED | REJECTED | CANCELED
    SUBMITTED -> ACKED | PARTIALLY_FILLED | FILLED | CANCELED | REJECTED | EXPIRED
    ACKED -> PARTIALLY_FILLED | FILLED | CANCELED | EXPIRED
    PARTIALLY_FILLED -> PARTIALLY_FILLED | FILLED | CANCELED | EXPIRED
    FILLED, CANCELED, REJECTED, EXPIRED: terminal, nothing follows

Anything else raises `IllegalTransition`, whose message names the order and both states.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from proto import OrderStatus, OrderType, OrderUpdate, Side
from services.execution.core.messages import built
from tradebus.venues.base import OrderRequest

S = OrderStatus
ZERO = Decimal(0)

#: The legal next states of every state.
LEGAL: dict[OrderStatus, frozenset[OrderStatus]] = {
    S.NEW: frozenset({S.SUBMITTED, S.REJECTED, S.CANCELED}),
    S.SUBMITTED: frozenset({S.ACKED, S.PARTIALLY_FILLED, S.FILLED, S.CANCELED, S.REJECTED, S.EXPIRED}),
    S.ACKED: frozenset({S.PARTIALLY_FILLED, S.FILLED, S.CANCELED, S.EXPIRED}),
    S.PARTIALLY_FILLED: frozenset({S.PARTIALLY_FILLED, S.FILLED, S.CANCELED, S.EXPIRED}),
    S.FILLED: frozenset(),
    S.CANCELED: frozenset(),
    S.REJECTED: frozenset(),
    S.EXPIRED: frozenset(),
}


class IllegalTransition(ValueError):
    """An order was asked to move to a state its current state cannot reach."""

    def __init__(self, client_order_id: str, old: OrderStatus, new: OrderStatus) -> None:
        super().__init__(
            f"order {client_order_id}: illegal transition {old.value} -> {new.value} "
            f"(legal from {old.value}: {sorted(s.value for s in LEGAL[old]) or 'none, terminal'})"
        )
        self.client_order_id = client_order_id
        self.old = old
        self.new = new


def check_transition(client_order_id: str, old: OrderStatus, new: OrderStatus) -> None:
    if new not in LEGAL[old]:
        raise IllegalTransition(client_order_id, old, new)


@dataclass(slots=True)
class PlanEntry:
    """One strategy's share of a netting order that is still to be filled (unsigned)."""

    strategy: str
    remaining: Decimal


@dataclass(slots=True)
class OrderRecord:
    """An order the book created. `owner` is `net` for netting orders, else the quoting strategy.

    `filled_qty` counts fills *received*; `reported_filled` is what the venue said in its last
    order update. A terminal order stays in the book until every reported fill has arrived.
    """

    client_order_id: str
    owner: str
    venue: str
    symbol: str
    side: Side
    type: OrderType
    qty: Decimal
    price: Decimal | None
    created_ns: int
    expire_at_ns: int | None = None
    status: OrderStatus = OrderStatus.NEW
    plan: list[PlanEntry] = field(default_factory=list)
    filled_qty: Decimal = ZERO
    filled_notional: Decimal = ZERO
    reported_filled: Decimal = ZERO
    venue_order_id: str | None = None
    cancel_requested: bool = False
    expiring: bool = False
    reason: str = ""

    def transition(self, new: OrderStatus, reason: str = "") -> None:
        check_transition(self.client_order_id, self.status, new)
        self.status = new
        if reason:
            self.reason = reason

    @property
    def terminal(self) -> bool:
        return self.status.terminal

    @property
    def expected_pending(self) -> Decimal:
        """Quantity still expected to fill: the open rest, or reported-but-unreceived fills."""
        final = self.qty if not self.terminal else max(self.reported_filled, self.filled_qty)
        return max(final - self.filled_qty, ZERO)

    @property
    def retirable(self) -> bool:
        return self.terminal and self.filled_qty >= self.reported_filled

    def expired(self, now: int) -> bool:
        return self.expire_at_ns is not None and now >= self.expire_at_ns and not self.terminal

    def pending_by_strategy(self) -> dict[str, Decimal]:
        """Expected fills per strategy (unsigned): the plan consumed in order, as fills will be."""
        left = self.expected_pending
        out: dict[str, Decimal] = {}
        for entry in self.plan:
            take = min(entry.remaining, left)
            if take > 0:
                out[entry.strategy] = out.get(entry.strategy, ZERO) + take
                left -= take
        return out

    def request(self) -> OrderRequest:
        return OrderRequest(
            client_order_id=self.client_order_id,
            symbol=self.symbol,
            side=self.side,
            qty=self.qty,
            type=self.type,
            price=self.price,
        )

    def update(self, now: int) -> OrderUpdate:
        avg = self.filled_notional / self.filled_qty if self.filled_qty > 0 else None
        # the record's own values, in their final types: built without re-validation
        return built(
            OrderUpdate,
            {
                "client_order_id": self.client_order_id,
                "owner": self.owner,
                "venue": self.venue,
                "symbol": self.symbol,
                "side": self.side,
                "type": self.type,
                "qty": self.qty,
                "price": self.price,
                "status": self.status,
                "filled_qty": self.filled_qty,
                "avg_price": avg,
                "venue_order_id": self.venue_order_id,
                "reason": self.reason,
                "ts_event": now,
            },
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            "client_order_id": self.client_order_id,
            "owner": self.owner,
            "venue": self.venue,
            "symbol": self.symbol,
            "side": self.side.value,
            "type": self.type.value,
            "qty": str(self.qty),
            "price": None if self.price is None else str(self.price),
            "created_ns": self.created_ns,
            "expire_at_ns": self.expire_at_ns,
            "status": self.status.value,
            "plan": [[e.strategy, str(e.remaining)] for e in self.plan],
            "filled_qty": str(self.filled_qty),
            "filled_notional": str(self.filled_notional),
            "reported_filled": str(self.reported_filled),
            "venue_order_id": self.venue_order_id,
            "cancel_requested": self.cancel_requested,
            "expiring": self.expiring,
            "reason": self.reason,
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> OrderRecord:
        try:
            return cls(
                client_order_id=str(d["client_order_id"]),
                owner=str(d["owner"]),
                venue=str(d["venue"]),
                symbol=str(d["symbol"]),
                side=Side(d["side"]),
                type=OrderType(d["type"]),
                qty=Decimal(d["qty"]),
                price=None if d["price"] is None else Decimal(d["price"]),
                created_ns=int(d["created_ns"]),
                expire_at_ns=None if d["expire_at_ns"] is None else int(d["expire_at_ns"]),
                status=OrderStatus(d["status"]),
                plan=[PlanEntry(str(s), Decimal(q)) for s, q in d["plan"]],
                filled_qty=Decimal(d["filled_qty"]),
                filled_notional=Decimal(d["filled_notional"]),
                reported_filled=Decimal(d["reported_filled"]),
                venue_order_id=d["venue_order_id"],
                cancel_requested=bool(d["cancel_requested"]),
                expiring=bool(d["expiring"]),
                reason=str(d["reason"]),
            )
        except KeyError as e:
            raise ValueError(f"order snapshot is missing key {e.args[0]!r}") from None


class OrderTable(dict[str, OrderRecord]):
    """The book's orders by client order id, with a per-symbol view kept beside them.

    `of_symbol(s)` yields the orders of `s` in the table's own (insertion) order, so a sum over
    them equals the same sum over the whole table filtered by symbol. Only `[k] = rec` and
    `del [k]` change the table; the other mutating methods of `dict` are refused.
    """

    def __init__(self, records: Iterable[OrderRecord] = ()) -> None:
        super().__init__()
        self._by_symbol: dict[str, dict[str, OrderRecord]] = {}
        for rec in records:
            self[rec.client_order_id] = rec

    def __setitem__(self, key: str, rec: OrderRecord) -> None:
        old = self.get(key)
        if old is not None and old.symbol != rec.symbol:
            del self[key]
        super().__setitem__(key, rec)
        self._by_symbol.setdefault(rec.symbol, {})[key] = rec

    def __delitem__(self, key: str) -> None:
        rec = self[key]
        super().__delitem__(key)
        mine = self._by_symbol[rec.symbol]
        del mine[key]
        if not mine:
            del self._by_symbol[rec.symbol]

    def of_symbol(self, symbol: str) -> Iterable[OrderRecord]:
        mine = self._by_symbol.get(symbol)
        return () if mine is None else mine.values()

    def _refused(self, *_: Any, **__: Any) -> Any:
        raise TypeError("OrderTable changes only through [key] = record and del [key]")

    pop = popitem = clear = update = setdefault = __ior__ = _refused
