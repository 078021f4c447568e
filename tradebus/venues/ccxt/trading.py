"""`CcxtTradingClient`: a TradingClient over any ccxt exchange. It sends real orders: build it only
through `tradebus.venues.registry.open_trading(..., live=True)` with credentials."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Mapping, Sequence
from decimal import Decimal
from typing import Any

import structlog

from tradebus.venues.base import Balance, OrderNotFound, OrderRequest, VenueError, VenueFill, VenueOrder
from tradebus.venues.ccxt import parse
from tradebus.venues.ccxt.exchange import call, map_error
from tradebus.venues.ccxt.feed import CcxtFeed
from tradebus.venues.sim.client import Backoff

log = structlog.get_logger()

_CCXT_TYPE = {"market": "market", "limit": "limit", "post_only": "limit"}


class CcxtTradingClient:
    """Orders carry our `client_order_id` as ccxt's `clientOrderId` param; the venue echoes it.

    `cash_currency` names the balance reported as cash (e.g. USDT); positions are the venue's
    derivative positions (signed contracts) or, on spot, the base holdings of markets quoted in it.
    """

    def __init__(
        self, feed: CcxtFeed, *, cash_currency: str = "USDT", extra_params: Mapping[str, Any] | None = None
    ) -> None:
        self.feed = feed
        self.exchange = feed.exchange
        self.venue = feed.venue
        self.cash_currency = cash_currency
        self._extra = dict(extra_params or {})
        self._orders: dict[str, VenueOrder] = {}

    async def aclose(self) -> None:
        await self.feed.aclose()

    def order_params(self, order: OrderRequest) -> dict[str, Any]:
        params: dict[str, Any] = {"clientOrderId": order.client_order_id, **self._extra}
        if order.type.value == "post_only":
            params["postOnly"] = True
        return params

    def client_id_of(self, raw: Mapping[str, Any]) -> str:
        """Our client order id of a venue order (venues that cannot carry strings map them)."""
        return str(raw.get("clientOrderId") or "")

    async def submit(self, order: OrderRequest) -> VenueOrder:
        known = self._orders.get(order.client_order_id)
        if known is not None:
            return known
        smap = await self.feed.symbol_map()
        market = smap.ccxt(order.symbol)
        inst = smap.instruments[order.symbol]
        if order.qty < inst.min_size:
            raise VenueError(f"qty {order.qty} of {order.symbol} is below the minimum size {inst.min_size}")
        if order.type.value != "market" and order.price is None:
            raise VenueError(f"a {order.type.value} order needs a price")
        raw = await call(
            f"{self.venue} create_order {order.client_order_id}",
            self.exchange.create_order(
                market,
                _CCXT_TYPE[order.type.value],
                order.side.value,
                float(order.qty),
                None if order.price is None else float(order.price),
                self.order_params(order),
            ),
        )
        placed = parse.order(self._complete(raw, order, market), smap, order.client_order_id)
        self._orders[order.client_order_id] = placed
        return placed

    @staticmethod
    def _complete(raw: Mapping[str, Any], order: OrderRequest, market: str) -> dict[str, Any]:
        """Some venues answer a create with only an id: fill in what we asked for."""
        out = dict(raw)
        out.setdefault("symbol", market)
        out["symbol"] = out["symbol"] or market
        out["side"] = out.get("side") or order.side.value
        out["amount"] = out.get("amount") if out.get("amount") is not None else str(order.qty)
        out["type"] = out.get("type") or order.type.value
        out["status"] = out.get("status") or "open"
        if order.type.value == "post_only":
            out["postOnly"] = True
        return out

    async def _known(self, client_order_id: str) -> VenueOrder:
        known = self._orders.get(client_order_id)
        if known is None:
            for o in await self.open_orders():
                if o.client_order_id == client_order_id:
                    return o
            raise OrderNotFound(f"{self.venue}: no order with client id {client_order_id!r}")
        return known

    async def cancel(self, client_order_id: str) -> VenueOrder:
        known = await self._known(client_order_id)
        smap = await self.feed.symbol_map()
        if known.status.value in ("filled", "canceled", "rejected", "expired"):
            return known
        await call(
            f"{self.venue} cancel_order {client_order_id}",
            self.exchange.cancel_order(known.venue_order_id, smap.ccxt(known.symbol)),
        )
        return await self.order(client_order_id)

    async def order(self, client_order_id: str) -> VenueOrder:
        known = await self._known(client_order_id)
        smap = await self.feed.symbol_map()
        raw = await call(
            f"{self.venue} fetch_order {client_order_id}",
            self.exchange.fetch_order(known.venue_order_id, smap.ccxt(known.symbol)),
        )
        fresh = parse.order(raw, smap, client_order_id)
        self._orders[client_order_id] = fresh
        return fresh

    async def open_orders(self) -> Sequence[VenueOrder]:
        smap = await self.feed.symbol_map()
        rows = await call(f"{self.venue} fetch_open_orders", self.exchange.fetch_open_orders())
        return [parse.order(r, smap, self.client_id_of(r)) for r in rows if r.get("symbol") in smap.to_ours]

    async def fills(self, since: int = 0) -> Sequence[VenueFill]:
        """Our trades since `since` (ns). Venues that only list trades per symbol (binance) are
        asked for each symbol this client has ordered in."""
        import ccxt

        smap = await self.feed.symbol_map()
        since_ms = since // parse.MS_NS if since else None
        try:
            rows = await self.exchange.fetch_my_trades(None, since_ms)
        except ccxt.ArgumentsRequired:
            rows = []
            for symbol in sorted({o.symbol for o in self._orders.values()}):
                rows += await call(
                    f"{self.venue} fetch_my_trades {symbol}",
                    self.exchange.fetch_my_trades(smap.ccxt(symbol), since_ms),
                )
        except ccxt.BaseError as exc:
            raise map_error(exc, f"{self.venue} fetch_my_trades") from exc
        ids = {o.venue_order_id: o.client_order_id for o in self._orders.values()}
        out = [
            parse.fill(r, smap, ids.get(str(r.get("order")), ""))
            for r in rows
            if r.get("symbol") in smap.to_ours
        ]
        return sorted((f for f in out if f.ts_event >= since), key=lambda f: f.ts_event)

    async def balance(self) -> Balance:
        smap = await self.feed.symbol_map()
        raw = await call(f"{self.venue} fetch_balance", self.exchange.fetch_balance())
        totals: Mapping[str, Any] = raw.get("total") or {}
        cash = Decimal(str(totals.get(self.cash_currency) or 0))
        positions: dict[str, Decimal] = {}
        if self.exchange.has.get("fetchPositions") and any(
            k.endswith("-PERP") or "-PERP-" in k for k in smap.to_ccxt
        ):
            for p in await call(f"{self.venue} fetch_positions", self.exchange.fetch_positions()):
                symbol = smap.to_ours.get(str(p.get("symbol")))
                contracts = Decimal(str(p.get("contracts") or 0))
                if symbol is not None and contracts:
                    positions[symbol] = contracts if p.get("side") != "short" else -contracts
        else:
            for symbol, inst in smap.instruments.items():
                held = Decimal(str(totals.get(inst.base) or 0))
                if inst.quote == self.cash_currency and held:
                    positions[symbol] = held
        return Balance(cash=cash, positions=positions)

    async def events(self) -> AsyncIterator[VenueOrder | VenueFill]:
        """Order updates and our trades from ccxt.pro's private streams (reconnecting)."""
        import ccxt

        smap = await self.feed.symbol_map()
        queue: asyncio.Queue[VenueOrder | VenueFill] = asyncio.Queue()

        async def pump(kind: str) -> None:
            backoff = Backoff(first_s=0.2, cap_s=30.0)
            while True:
                try:
                    if kind == "orders":
                        for raw in await self.exchange.watch_orders():
                            if raw.get("symbol") in smap.to_ours:
                                o = parse.order(raw, smap, self.client_id_of(raw))
                                self._orders[o.client_order_id] = o
                                await queue.put(o)
                    else:
                        ids = {o.venue_order_id: o.client_order_id for o in self._orders.values()}
                        for raw in await self.exchange.watch_my_trades():
                            if raw.get("symbol") in smap.to_ours:
                                await queue.put(parse.fill(raw, smap, ids.get(str(raw.get("order")), "")))
                    backoff.reset()
                except ccxt.NetworkError as exc:
                    log.warning("ccxt_events_reconnect", venue=self.venue, error=repr(exc))
                    await backoff.wait()

        tasks = [asyncio.create_task(pump("orders")), asyncio.create_task(pump("trades"))]
        try:
            while True:
                yield await queue.get()
        finally:
            for t in tasks:
                t.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
