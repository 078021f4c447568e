"""The risk gate every venue order passes. Pure: time is the `now` (ns) of the context.

`RiskGate.check` runs the rules in a fixed order and returns the first rejection as a
`proto.RiskEvent` (kind = a `RiskKind` value, reason = a sentence with the numbers), or None.
An order that passes spends one token of the order-rate bucket. Cancels are never gated.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from enum import StrEnum
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, model_validator

from proto import OrderType, RiskEvent
from tradebus.venues.base import OrderRequest

ZERO = Decimal(0)
NS = 1_000_000_000


class RiskKind(StrEnum):
    """Every `RiskEvent.kind` the execution core emits."""

    DUPLICATE_INTENT = "duplicate_intent"
    STALE_INTENT = "stale_intent"
    INVALID_INTENT = "invalid_intent"
    DRY_RUN = "dry_run_ignored"
    STRATEGY_DISABLED = "strategy_disabled"
    KILL_SWITCH = "kill_switch"
    REDUCE_ONLY = "reduce_only"
    MAX_ORDER_QTY = "max_order_qty"
    MAX_ORDER_NOTIONAL = "max_order_notional"
    MAX_POSITION = "max_position"
    MAX_GROSS_EXPOSURE = "max_gross_exposure"
    NO_FRESH_PRICE = "no_fresh_price"
    PRICE_BAND = "price_band"
    MAX_OPEN_ORDERS = "max_open_orders"
    RATE_LIMIT = "rate_limit"
    DAILY_LOSS = "daily_loss"
    DRAWDOWN = "drawdown"
    BRACKET = "bracket"
    ORDER_EXPIRED = "order_expired"
    VENUE_REJECTED = "venue_rejected"
    VENUE_CANCELED = "venue_canceled"
    FOREIGN_ORDER = "foreign_order"
    RECONCILE_DRIFT = "reconcile_drift"


class RiskLimits(BaseModel):
    """The account's limits. Money in quote currency, quantities in base units."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    max_order_qty: Decimal = Field(gt=0)
    max_order_notional: Decimal = Field(gt=0)
    #: max |projected position| per symbol (venue position plus all open orders)
    max_position: Decimal = Field(gt=0)
    #: max sum over symbols of |projected position| * mark
    max_gross_exposure: Decimal = Field(gt=0)
    #: a limit price may be at most this many basis points away from the live mid
    price_band_bps: Decimal = Field(gt=0, le=10_000)
    #: a mid older than this is not fresh: orders fail closed
    max_price_age_s: float = Field(gt=0)
    max_open_orders: int = Field(gt=0)
    orders_per_second: float = Field(gt=0)
    order_burst: int = Field(ge=1)
    #: per strategy, per UTC day (realized + unrealized - fees); breaching disables the strategy
    daily_loss_limit: Decimal = Field(gt=0)
    #: account PnL below its peak by this much switches the account to reduce-only
    max_drawdown: Decimal = Field(gt=0)
    #: how many recent intent ids / venue fill ids are remembered for duplicate rejection
    dedupe_memory: int = Field(default=10_000, ge=1)

    @model_validator(mode="after")
    def _consistent(self) -> RiskLimits:
        if self.max_order_notional > self.max_gross_exposure:
            raise ValueError(
                f"max_order_notional ({self.max_order_notional}) must not exceed "
                f"max_gross_exposure ({self.max_gross_exposure})"
            )
        return self


@dataclass(frozen=True, slots=True)
class RiskContext:
    """What the gate needs to know about the account when it judges one order."""

    now: int
    strategy: str | None
    #: the mid if it is fresh, else None
    mid: Decimal | None
    #: venue position of the symbol plus every open order's signed rest
    projected: Decimal
    #: gross exposure of every *other* symbol
    gross_other: Decimal
    open_orders: int
    reduce_only: bool = False
    killed: bool = False
    flatten: bool = False


def reduces(projected: Decimal, signed_qty: Decimal) -> bool:
    """True if the order moves the position towards zero without crossing it."""
    return projected != 0 and (projected > 0) != (signed_qty > 0) and abs(signed_qty) <= abs(projected)


class RiskGate:
    """The rules plus the order-rate token bucket (its state is part of the book snapshot)."""

    def __init__(self, limits: RiskLimits) -> None:
        self.limits = limits
        self._tokens = float(limits.order_burst)
        self._last_ns: int | None = None

    def check(self, order: OrderRequest, ctx: RiskContext) -> RiskEvent | None:
        event = self._rules(order, ctx)
        if event is not None:
            return event
        self._refill(ctx.now)
        if self._tokens < 1:
            return self._event(
                RiskKind.RATE_LIMIT,
                f"order rate above {self.limits.orders_per_second}/s (burst {self.limits.order_burst})",
                order,
                ctx,
            )
        self._tokens -= 1
        return None

    def _refill(self, now: int) -> None:
        if self._last_ns is not None and now > self._last_ns:
            gained = (now - self._last_ns) / NS * self.limits.orders_per_second
            self._tokens = min(float(self.limits.order_burst), self._tokens + gained)
        if self._last_ns is None or now > self._last_ns:
            self._last_ns = now

    def _rules(self, order: OrderRequest, ctx: RiskContext) -> RiskEvent | None:
        lim = self.limits
        signed = order.qty * order.side.sign
        after = ctx.projected + signed
        reducing = reduces(ctx.projected, signed)

        def rej(kind: RiskKind, reason: str) -> RiskEvent:
            return self._event(kind, reason, order, ctx)

        if ctx.killed and not (ctx.flatten and reducing):
            return rej(RiskKind.KILL_SWITCH, "kill switch is active; only flattening orders pass")
        if ctx.reduce_only and not reducing:
            return rej(
                RiskKind.REDUCE_ONLY,
                f"account is reduce-only; order {signed} does not reduce position {ctx.projected}",
            )
        if order.qty > lim.max_order_qty:
            return rej(RiskKind.MAX_ORDER_QTY, f"qty {order.qty} > max_order_qty {lim.max_order_qty}")
        if ctx.mid is None:
            return rej(RiskKind.NO_FRESH_PRICE, f"no fresh mid for {order.symbol}; failing closed")
        if order.type is not OrderType.MARKET:
            if order.price is None:
                return rej(RiskKind.PRICE_BAND, f"{order.type.value} order without a price")
            dev_bps = abs(order.price - ctx.mid) / ctx.mid * 10_000
            if dev_bps > lim.price_band_bps:
                return rej(
                    RiskKind.PRICE_BAND,
                    f"price {order.price} is {dev_bps:.1f} bps from mid {ctx.mid} "
                    f"(band {lim.price_band_bps} bps)",
                )
        price = order.price if order.price is not None else ctx.mid
        notional = order.qty * price
        if notional > lim.max_order_notional:
            return rej(
                RiskKind.MAX_ORDER_NOTIONAL,
                f"notional {notional} > max_order_notional {lim.max_order_notional}",
            )
        if abs(after) > lim.max_position and not reducing:
            return rej(
                RiskKind.MAX_POSITION,
                f"projected position {after} beyond max_position {lim.max_position}",
            )
        gross = ctx.gross_other + abs(after) * ctx.mid
        if gross > lim.max_gross_exposure and not reducing:
            return rej(
                RiskKind.MAX_GROSS_EXPOSURE,
                f"gross exposure {gross} > max_gross_exposure {lim.max_gross_exposure}",
            )
        if ctx.open_orders >= lim.max_open_orders:
            return rej(
                RiskKind.MAX_OPEN_ORDERS,
                f"{ctx.open_orders} open orders; max_open_orders is {lim.max_open_orders}",
            )
        return None

    @staticmethod
    def _event(kind: RiskKind, reason: str, order: OrderRequest, ctx: RiskContext) -> RiskEvent:
        return RiskEvent(
            kind=kind.value,
            reason=f"{order.side.value} {order.qty} {order.symbol}: {reason}",
            strategy=ctx.strategy,
            symbol=order.symbol,
            ts_event=ctx.now,
        )

    def snapshot(self) -> dict[str, Any]:
        return {"tokens": self._tokens, "last_ns": self._last_ns}

    def restore(self, d: dict[str, Any]) -> None:
        self._tokens = min(float(d["tokens"]), float(self.limits.order_burst))
        self._last_ns = None if d["last_ns"] is None else int(d["last_ns"])
