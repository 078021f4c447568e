"""What the book hands back to the shell: data to publish and venue calls to make, never calls."""

from __future__ import annotations

from dataclasses import dataclass, field

from proto import Fill, OrderUpdate, PositionUpdate, RiskEvent
from tradebus.venues.base import OrderRequest


@dataclass(frozen=True, slots=True)
class NewOrder:
    """An order created in state NEW. The shell stores the snapshot first, then sends it."""

    owner: str
    venue: str
    request: OrderRequest
    expire_at_ns: int | None = None


@dataclass(slots=True)
class Decision:
    """The outputs of one call. Lists are in the order the shell should act on them.

    - `cancel` before `submit` (a replaced quote is canceled before its successor is sent);
    - `lookup`: client order ids whose fate is unknown; resolve with `TradingClient.order(id)`
      and feed the answer to `on_order_update` (or `on_order_not_found`). Never resend them.
    """

    fills: list[Fill] = field(default_factory=list)
    submit: list[NewOrder] = field(default_factory=list)
    cancel: list[str] = field(default_factory=list)
    lookup: list[str] = field(default_factory=list)
    order_updates: list[OrderUpdate] = field(default_factory=list)
    positions: list[PositionUpdate] = field(default_factory=list)
    risk_events: list[RiskEvent] = field(default_factory=list)

    @property
    def empty(self) -> bool:
        return not (
            self.fills
            or self.submit
            or self.cancel
            or self.lookup
            or self.order_updates
            or self.positions
            or self.risk_events
        )

    @property
    def has_calls(self) -> bool:
        """Whether the shell must call the venue for it (and so store it first)."""
        return bool(self.submit or self.cancel or self.lookup)

    def merge(self, other: Decision) -> None:
        """Append `other`'s outputs (the shell batches replayed fills into one decision)."""
        self.fills += other.fills
        self.submit += other.submit
        self.cancel += other.cancel
        self.lookup += other.lookup
        self.order_updates += other.order_updates
        self.positions += other.positions
        self.risk_events += other.risk_events
