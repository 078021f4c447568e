"""Pure translation between ccxt's unified structures and Tradebus types (no I/O, no ccxt import).

Symbols: ccxt spot `BTC/USDT` is `BTC-USDT`; a linear perpetual `BTC/USDC:USDC` is `BTC-USDC-PERP`;
an inverse perpetual `BTC/USD:BTC` is `BTC-USD-PERP-BTC`. Dated futures and options are skipped.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from typing import Any, cast

from proto import Candle, Interval, OrderStatus, OrderType, Side, Tick
from tradebus.venues.base import Instrument, VenueError, VenueFill, VenueOrder

MS_NS = 1_000_000
#: ccxt's precision modes (ccxt.base.decimal_to_precision): digits after the point, or a tick size.
DECIMAL_PLACES = 2
SIGNIFICANT_DIGITS = 3
TICK_SIZE = 4

_STATUS = {
    "open": OrderStatus.ACKED,
    "closed": OrderStatus.FILLED,
    "canceled": OrderStatus.CANCELED,
    "cancelled": OrderStatus.CANCELED,
    "expired": OrderStatus.EXPIRED,
    "rejected": OrderStatus.REJECTED,
}


def tradebus_symbol(market: Mapping[str, Any]) -> str | None:
    """Our symbol for a ccxt market, or None for kinds we do not trade (futures, options)."""
    base, quote = str(market.get("base") or ""), str(market.get("quote") or "")
    if not base or not quote:
        return None
    kind = market.get("type") or ("spot" if market.get("spot") else None)
    if kind == "spot":
        return f"{base}-{quote}"
    if kind == "swap":
        settle = str(market.get("settle") or quote)
        return f"{base}-{quote}-PERP" if settle == quote else f"{base}-{quote}-PERP-{settle}"
    return None


def _dec(value: Any, what: str) -> Decimal:
    try:
        return Decimal(str(value))
    except (InvalidOperation, ValueError) as exc:
        raise VenueError(f"ccxt sent a bad {what}: {value!r}") from exc


def _step(value: Any, mode: int, what: str) -> Decimal:
    """A precision value as an increment: ccxt gives tick sizes or digit counts, by mode."""
    if value is None:
        raise VenueError(f"market has no {what} precision")
    if mode == TICK_SIZE:
        return _dec(value, what)
    return Decimal(1).scaleb(-int(value))


def instrument(market: Mapping[str, Any], precision_mode: int) -> Instrument | None:
    symbol = tradebus_symbol(market)
    if symbol is None or market.get("active") is False:
        return None
    precision = market.get("precision") or {}
    size_inc = _step(precision.get("amount"), precision_mode, f"{symbol} amount")
    limits = (market.get("limits") or {}).get("amount") or {}
    min_size = limits.get("min")
    return Instrument(
        symbol=symbol,
        base=str(market["base"]),
        quote=str(market["quote"]),
        price_increment=_step(precision.get("price"), precision_mode, f"{symbol} price"),
        size_increment=size_inc,
        min_size=_dec(min_size, f"{symbol} min size") if min_size is not None else size_inc,
    )


@dataclass
class SymbolMap:
    """Both ways between our symbols and ccxt's, built from the venue's market list at start."""

    to_ccxt: dict[str, str] = field(default_factory=dict)
    to_ours: dict[str, str] = field(default_factory=dict)
    instruments: dict[str, Instrument] = field(default_factory=dict)

    @classmethod
    def from_markets(cls, markets: Iterable[Mapping[str, Any]], precision_mode: int) -> SymbolMap:
        out = cls()
        for m in markets:
            inst = instrument(m, precision_mode)
            if inst is None or inst.symbol in out.to_ccxt:
                continue
            out.to_ccxt[inst.symbol] = str(m["symbol"])
            out.to_ours[str(m["symbol"])] = inst.symbol
            out.instruments[inst.symbol] = inst
        return out

    def ccxt(self, symbol: str) -> str:
        try:
            return self.to_ccxt[symbol]
        except KeyError:
            raise VenueError(f"symbol {symbol!r} is not listed by the venue") from None

    def ours(self, ccxt_symbol: str) -> str:
        try:
            return self.to_ours[ccxt_symbol]
        except KeyError:
            raise VenueError(f"venue symbol {ccxt_symbol!r} is not mapped") from None


def candles(venue: str, symbol: str, interval: str, rows: Sequence[Sequence[Any]]) -> list[Candle]:
    """ccxt OHLCV rows `[ms, open, high, low, close, volume]` -> candles, oldest first."""
    out = []
    for row in rows:
        if len(row) < 6:
            raise VenueError(f"ccxt OHLCV row of {symbol} has {len(row)} fields, wants 6")
        out.append(
            Candle(
                venue=venue,
                symbol=symbol,
                interval=cast(Interval, interval),
                ts_open=int(row[0]) * MS_NS,
                open=float(row[1]),
                high=float(row[2]),
                low=float(row[3]),
                close=float(row[4]),
                volume=float(row[5] or 0.0),
            )
        )
    out.sort(key=lambda c: c.ts_open)
    return out


def tick_from_ticker(venue: str, symbol: str, t: Mapping[str, Any], now_ns: int) -> Tick | None:
    """A ccxt ticker -> Tick; None when it lacks a two-sided quote or a last price."""
    bid, ask, last = t.get("bid"), t.get("ask"), t.get("last")
    if bid is None or ask is None:
        return None
    ts = t.get("timestamp")
    return Tick(
        venue=venue,
        symbol=symbol,
        bid=float(bid),
        ask=float(ask),
        last=float(last if last is not None else (float(bid) + float(ask)) / 2),
        ts_event=int(ts) * MS_NS if ts is not None else now_ns,
        ts_init=now_ns,
    )


def tick_from_book(venue: str, symbol: str, book: Mapping[str, Any], last: float, now_ns: int) -> Tick | None:
    bids, asks = book.get("bids") or [], book.get("asks") or []
    if not bids or not asks:
        return None
    bid, ask = float(bids[0][0]), float(asks[0][0])
    ts = book.get("timestamp")
    return Tick(
        venue=venue,
        symbol=symbol,
        bid=bid,
        ask=ask,
        last=last if last > 0 else (bid + ask) / 2,
        ts_event=int(ts) * MS_NS if ts is not None else now_ns,
        ts_init=now_ns,
    )


def _order_type(o: Mapping[str, Any]) -> OrderType:
    if o.get("postOnly"):
        return OrderType.POST_ONLY
    return OrderType.LIMIT if o.get("type") == "limit" else OrderType.MARKET


def order(o: Mapping[str, Any], symbols: SymbolMap, client_order_id: str | None = None) -> VenueOrder:
    """A ccxt order -> VenueOrder. `client_order_id` overrides the venue's when it cannot echo ours."""
    try:
        qty = _dec(o["amount"], "order amount")
        filled = _dec(o.get("filled") or 0, "order filled")
        status = _STATUS.get(str(o.get("status")), OrderStatus.SUBMITTED)
        if status is OrderStatus.ACKED and filled > 0:
            status = OrderStatus.PARTIALLY_FILLED
        if status is OrderStatus.CANCELED and filled >= qty > 0:
            status = OrderStatus.FILLED
        price, avg = o.get("price"), o.get("average")
        return VenueOrder(
            client_order_id=client_order_id or str(o.get("clientOrderId") or ""),
            venue_order_id=str(o["id"]),
            symbol=symbols.ours(str(o["symbol"])),
            side=Side(str(o["side"])),
            type=_order_type(o),
            qty=qty,
            price=_dec(price, "order price") if price is not None else None,
            status=status,
            filled_qty=filled,
            avg_price=_dec(avg, "order average") if avg is not None else None,
            ts_event=int(o.get("lastUpdateTimestamp") or o.get("timestamp") or 0) * MS_NS,
        )
    except (KeyError, ValueError) as exc:
        raise VenueError(f"ccxt sent a malformed order: {exc!r}") from exc


def fill(t: Mapping[str, Any], symbols: SymbolMap, client_order_id: str = "") -> VenueFill:
    """A ccxt trade of ours (fetchMyTrades / watchMyTrades) -> VenueFill."""
    try:
        fee = t.get("fee") or {}
        return VenueFill(
            venue_fill_id=str(t["id"]),
            venue_order_id=str(t.get("order") or ""),
            client_order_id=client_order_id or str(t.get("clientOrderId") or ""),
            symbol=symbols.ours(str(t["symbol"])),
            side=Side(str(t["side"])),
            qty=_dec(t["amount"], "trade amount"),
            price=_dec(t["price"], "trade price"),
            fee=_dec(fee.get("cost") or 0, "trade fee"),
            liquidity="maker" if t.get("takerOrMaker") == "maker" else "taker",
            ts_event=int(t.get("timestamp") or 0) * MS_NS,
        )
    except (KeyError, ValueError) as exc:
        raise VenueError(f"ccxt sent a malformed trade: {exc!r}") from exc


#: Our intervals -> ccxt timeframe strings (the same spelling; listed so a typo fails clearly).
def timeframe(interval: str, supported: Mapping[str, Any] | None) -> str:
    if supported and interval not in supported:
        raise VenueError(f"interval {interval!r} is not offered by the venue; it has {', '.join(supported)}")
    return interval
