"""The money path: intents, orders, fills, positions. Prices and quantities are Decimal."""

from __future__ import annotations

from decimal import Decimal
from enum import StrEnum
from typing import Annotated, Literal

from pydantic import Field

from proto.base import Message, Money, Nanos


class Side(StrEnum):
    BUY = "buy"
    SELL = "sell"

    @property
    def sign(self) -> int:
        return 1 if self is Side.BUY else -1


class OrderType(StrEnum):
    MARKET = "market"
    LIMIT = "limit"
    POST_ONLY = "post_only"


class Bracket(Message):
    """Exits attached to a strategy's position: absolute prices and a time stop in seconds."""

    take_profit: Money | None = None
    stop_loss: Money | None = None
    time_stop_s: float | None = Field(default=None, gt=0)


class OrderStyle(Message):
    """How execution should trade towards a target. Market by default."""

    type: OrderType = OrderType.MARKET
    limit_price: Money | None = None
    expire_after_s: float | None = Field(default=None, gt=0)


class TargetPosition(Message):
    """'For me, `symbol` should be `qty`' (signed). Execution trades the netted difference."""

    kind: Literal["target"] = "target"
    intent_id: str
    strategy: str
    venue: str
    symbol: str
    qty: Money
    bracket: Bracket | None = None
    style: OrderStyle = OrderStyle()
    reason: str = ""
    dry_run: bool = False
    ts_event: Nanos


class Quote(Message):
    price: Money
    qty: Money = Field(gt=0)


class Quotes(Message):
    """A market maker's resting two-sided quotes; empty sides withdraw that side."""

    kind: Literal["quotes"] = "quotes"
    intent_id: str
    strategy: str
    venue: str
    symbol: str
    bid: Quote | None = None
    ask: Quote | None = None
    dry_run: bool = False
    ts_event: Nanos


Intent = Annotated[TargetPosition | Quotes, Field(discriminator="kind")]


class IntentEnvelope(Message):
    """What travels on `sig.intent.<strategy>`: one intent, discriminated by `kind`."""

    intent: Intent


class OrderStatus(StrEnum):
    NEW = "new"
    SUBMITTED = "submitted"
    ACKED = "acked"
    PARTIALLY_FILLED = "partially_filled"
    FILLED = "filled"
    CANCELED = "canceled"
    REJECTED = "rejected"
    EXPIRED = "expired"

    @property
    def terminal(self) -> bool:
        return self in _TERMINAL


_TERMINAL = {OrderStatus.FILLED, OrderStatus.CANCELED, OrderStatus.REJECTED, OrderStatus.EXPIRED}


class OrderUpdate(Message):
    """A change of an order's state. `owner` is a strategy, or `net` for netting orders."""

    client_order_id: str
    owner: str
    venue: str
    symbol: str
    side: Side
    type: OrderType
    qty: Money
    price: Money | None = None
    status: OrderStatus
    filled_qty: Money = Decimal(0)
    avg_price: Money | None = None
    venue_order_id: str | None = None
    reason: str = ""
    ts_event: Nanos


class Liquidity(StrEnum):
    MAKER = "maker"
    TAKER = "taker"
    INTERNAL = "internal"


class Fill(Message):
    """A fill attributed to one strategy. `fill_id` is unique across the account."""

    fill_id: str
    strategy: str
    venue: str
    symbol: str
    side: Side
    qty: Money = Field(gt=0)
    price: Money
    fee: Money = Decimal(0)
    liquidity: Liquidity
    client_order_id: str | None = None
    venue_fill_id: str | None = None
    ts_event: Nanos

    @property
    def internal(self) -> bool:
        return self.liquidity is Liquidity.INTERNAL

    @property
    def signed_qty(self) -> Decimal:
        return self.qty * self.side.sign


class PositionUpdate(Message):
    """A strategy's virtual position in a symbol after a fill (strategy `net` is the venue)."""

    strategy: str
    venue: str
    symbol: str
    qty: Money
    target: Money | None = None
    ts_event: Nanos


class RiskEvent(Message):
    """A rejection or action of the risk gate, with its reason."""

    kind: str
    reason: str
    strategy: str | None = None
    symbol: str | None = None
    ts_event: Nanos
