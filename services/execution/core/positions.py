"""A strategy's virtual position in one symbol: target, position, average cost, PnL, bracket.

Average-cost accounting: adding to a position moves the average price; reducing realizes
(price - avg) * closed qty; a flip closes the old side and opens the new at the fill price.
Fees are subtracted from realized PnL.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from proto import Bracket, OrderStyle

ZERO = Decimal(0)
NS = 1_000_000_000


def _sign(x: Decimal) -> int:
    return (x > 0) - (x < 0)


@dataclass(slots=True)
class Slot:
    target: Decimal = ZERO
    position: Decimal = ZERO
    avg_price: Decimal = ZERO
    realized: Decimal = ZERO
    bracket: Bracket | None = None
    #: when the current position was opened (ns); the time stop counts from here
    entry_ns: int | None = None
    style: OrderStyle = field(default_factory=OrderStyle)
    #: stream sequence of the last intent applied here (see `NettingBook.on_intents`)
    intent_seq: int | None = None
    #: `to_dict()` as of the last change (every snapshot stores every slot; few change between)
    _dict: dict[str, Any] | None = field(default=None, init=False, repr=False, compare=False)

    def __setattr__(self, name: str, value: Any) -> None:
        object.__setattr__(self, name, value)
        if name != "_dict":
            object.__setattr__(self, "_dict", None)

    def apply_fill(self, signed_qty: Decimal, price: Decimal, fee: Decimal, now: int) -> None:
        old = self.position
        new = old + signed_qty
        if old == 0 or _sign(old) == _sign(signed_qty):
            total = abs(old) + abs(signed_qty)
            self.avg_price = (abs(old) * self.avg_price + abs(signed_qty) * price) / total
        else:
            closed = min(abs(old), abs(signed_qty))
            self.realized += closed * (price - self.avg_price) * _sign(old)
            if new == 0:
                self.avg_price = ZERO
            elif _sign(new) != _sign(old):
                self.avg_price = price
        self.realized -= fee
        if new == 0:
            self.entry_ns = None
        elif old == 0 or _sign(new) != _sign(old):
            self.entry_ns = now
        self.position = new

    def pnl(self, mark: Decimal | None) -> Decimal:
        """Realized plus unrealized at `mark` (unrealized is 0 without a mark)."""
        if mark is None or self.position == 0:
            return self.realized
        return self.realized + (mark - self.avg_price) * self.position

    def bracket_trigger(self, bid: Decimal, ask: Decimal, now: int) -> str | None:
        """Which exit fires at this bid/ask and time, if any. Exits price at the side we'd hit."""
        b = self.bracket
        if b is None or self.position == 0:
            return None
        long = self.position > 0
        exit_px = bid if long else ask
        if b.take_profit is not None and (exit_px >= b.take_profit if long else exit_px <= b.take_profit):
            return f"take_profit {b.take_profit} hit at {exit_px}"
        if b.stop_loss is not None and (exit_px <= b.stop_loss if long else exit_px >= b.stop_loss):
            return f"stop_loss {b.stop_loss} hit at {exit_px}"
        return self.time_stop_trigger(now)

    def time_stop_trigger(self, now: int) -> str | None:
        b = self.bracket
        if b is None or b.time_stop_s is None or self.position == 0 or self.entry_ns is None:
            return None
        if now - self.entry_ns >= int(b.time_stop_s * NS):
            return f"time_stop {b.time_stop_s}s since entry"
        return None

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe state (callers must not change the dict: it is kept until the slot changes)."""
        if self._dict is None:
            self._dict = self._build_dict()
        return self._dict

    def _build_dict(self) -> dict[str, Any]:
        return {
            "target": str(self.target),
            "position": str(self.position),
            "avg_price": str(self.avg_price),
            "realized": str(self.realized),
            "bracket": None if self.bracket is None else self.bracket.model_dump(mode="json"),
            "entry_ns": self.entry_ns,
            "style": self.style.model_dump(mode="json"),
            "intent_seq": self.intent_seq,
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Slot:
        try:
            return cls(
                target=Decimal(d["target"]),
                position=Decimal(d["position"]),
                avg_price=Decimal(d["avg_price"]),
                realized=Decimal(d["realized"]),
                bracket=None if d["bracket"] is None else Bracket.model_validate(d["bracket"]),
                entry_ns=None if d["entry_ns"] is None else int(d["entry_ns"]),
                style=OrderStyle.model_validate(d["style"]),
                # not in snapshots made before it was kept: nothing to compare with yet
                intent_seq=None if d.get("intent_seq") is None else int(d["intent_seq"]),
            )
        except KeyError as e:
            raise ValueError(f"position snapshot is missing key {e.args[0]!r}") from None
