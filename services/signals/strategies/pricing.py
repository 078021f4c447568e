"""From float market data to the Decimal prices and sizes on intents: brackets and sizing."""

from __future__ import annotations

import math
from decimal import ROUND_DOWN, Decimal

from proto import Bracket

#: price decimals on intents (prices are rounded to this many places, half-even)
PRICE_PLACES = 8
_PRICE_Q = Decimal(1).scaleb(-PRICE_PLACES)


def dec_price(x: float) -> Decimal:
    """A float price as a Decimal with `PRICE_PLACES` places; ValueError on NaN/inf/<= 0."""
    if not math.isfinite(x) or x <= 0:
        raise ValueError(f"price must be finite and > 0, got {x!r}")
    return Decimal(repr(float(x))).quantize(_PRICE_Q)


def bracket(
    side: int,
    entry: float,
    *,
    tp_distance: float | None = None,
    sl_distance: float | None = None,
    time_stop_s: float | None = None,
) -> Bracket:
    """Absolute TP/SL at `entry` +/- distances for a long (side 1) or short (side -1)."""
    if side not in (1, -1):
        raise ValueError(f"side must be 1 or -1, got {side!r}")
    tp = None if tp_distance is None else dec_price(entry + side * tp_distance)
    sl = None if sl_distance is None else dec_price(entry - side * sl_distance)
    return Bracket(take_profit=tp, stop_loss=sl, time_stop_s=time_stop_s)


def bracket_pct(
    side: int, entry: float, tp_pct: float | None, sl_pct: float | None, time_stop_s: float | None
) -> Bracket:
    """TP/SL as fractions of the entry price (0.02 is 2%)."""
    return bracket(
        side,
        entry,
        tp_distance=None if tp_pct is None else entry * tp_pct,
        sl_distance=None if sl_pct is None else entry * sl_pct,
        time_stop_s=time_stop_s,
    )


def qty_decimals(qty: float) -> int:
    """Decimals for a quantity: 2 for >= 1, 4 for >= 0.01, 6 below (symbol-agnostic sizing)."""
    if qty >= 1:
        return 2
    if qty >= 0.01:
        return 4
    return 6


def qty_for_notional(usd: Decimal, price: float) -> Decimal:
    """Base quantity worth `usd` at `price`, rounded down to `qty_decimals` places."""
    if not math.isfinite(price) or price <= 0:
        raise ValueError(f"price must be finite and > 0, got {price!r}")
    raw = usd / Decimal(repr(price))
    places = qty_decimals(float(raw))
    return raw.quantize(Decimal(1).scaleb(-places), rounding=ROUND_DOWN)


def sign(qty: Decimal) -> int:
    return (qty > 0) - (qty < 0)
