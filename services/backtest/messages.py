"""The candles and ticks the backtest hands to strategy hosts, built without pydantic's machinery.

The values come from the bar arrays (Python floats and ints), so validation has nothing to
check; `Model.model_construct` would do, but it costs ~7 us a message (it walks every field),
and the general loop builds a candle per bar and a tick per path point. These build the same
objects (field values and order, `model_fields_set` as `model_construct` with every field,
equal and serialized alike, tested in `tests/unit/backtest/test_pieces.py`) in ~1 us.
"""

from __future__ import annotations

from proto import Candle, Interval, Tick

_set = object.__setattr__
_CANDLE_FIELDS = frozenset(Candle.model_fields)
_TICK_FIELDS = frozenset(Tick.model_fields)


def candle(venue: str, symbol: str, interval: Interval, ts: int, o: float, h: float, lo: float, c: float,
           v: float) -> Candle:  # fmt: skip
    """A closed candle (`Candle.model_construct(...)` with every field, but cheaper)."""
    obj = object.__new__(Candle)
    _set(obj, "__dict__", {
        "schema_version": 1, "venue": venue, "symbol": symbol, "interval": interval, "ts_open": ts,
        "open": o, "high": h, "low": lo, "close": c, "volume": v, "trades": 0, "closed": True,
    })  # fmt: skip
    _set(obj, "__pydantic_fields_set__", set(_CANDLE_FIELDS))
    _set(obj, "__pydantic_extra__", None)
    _set(obj, "__pydantic_private__", None)
    return obj


def tick(venue: str, symbol: str, bid: float, ask: float, ts: int) -> Tick:
    """The quote at a path point, last at the mid (`Tick.model_construct(...)`, but cheaper)."""
    obj = object.__new__(Tick)
    _set(obj, "__dict__", {
        "schema_version": 1, "venue": venue, "symbol": symbol, "bid": bid, "ask": ask,
        "last": (bid + ask) / 2, "last_qty": 0.0, "ts_event": ts, "ts_init": 0,
    })  # fmt: skip
    _set(obj, "__pydantic_fields_set__", set(_TICK_FIELDS))
    _set(obj, "__pydantic_extra__", None)
    _set(obj, "__pydantic_private__", None)
    return obj
