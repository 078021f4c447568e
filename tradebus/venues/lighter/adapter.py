"""Lighter over ccxt: the feed is a plain CcxtFeed; the live client maps our client order ids to
Lighter's integer indexes and gives market orders the protective price Lighter requires."""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal
from typing import Any

from pydantic import SecretStr

from tradebus.venues.base import OrderRequest, VenueError, VenueOrder
from tradebus.venues.ccxt.exchange import build_exchange, call
from tradebus.venues.ccxt.feed import CcxtFeed
from tradebus.venues.ccxt.trading import CcxtTradingClient
from tradebus.venues.lighter.scaling import LighterMarket, client_index

VENUE = "lighter"


def lighter_exchange(
    *,
    sandbox: bool = False,
    credentials: Mapping[str, SecretStr] | None = None,
    options: Mapping[str, Any] | None = None,
    config: Mapping[str, Any] | None = None,
) -> Any:
    """ccxt's lighter, with ccxt's own builder fee turned off. Live trading needs credentials
    (`privateKey`) and options `accountIndex`, `apiKeyIndex` and `libraryPath` (the signer)."""
    return build_exchange(
        "lighter",
        sandbox=sandbox,
        credentials=credentials,
        options={"builderFee": False, **(options or {})},
        config=config,
    )


def lighter_feed(exchange: Any) -> CcxtFeed:
    return CcxtFeed(exchange, VENUE)


class LighterTradingClient(CcxtTradingClient):
    """Real orders on Lighter. Sizes are checked against the market's base-unit scale and minimum
    before anything is signed; a market order is sent with a worst price `slippage` beyond the touch."""

    def __init__(self, feed: CcxtFeed, *, slippage: Decimal = Decimal("0.01")) -> None:
        super().__init__(feed, cash_currency="USDC")
        self.slippage = slippage
        self._by_index: dict[int, str] = {}

    def lighter_market(self, symbol: str) -> LighterMarket:
        market = self.exchange.market(self.feed.symbols.ccxt(symbol) if self.feed.symbols else symbol)
        return LighterMarket.from_details(market["info"])

    def order_params(self, order: OrderRequest) -> dict[str, Any]:
        index = client_index(order.client_order_id)
        self._by_index[index] = order.client_order_id
        params: dict[str, Any] = {"client_order_index": index}
        if order.type.value == "post_only":
            params["postOnly"] = True
        return params

    def client_id_of(self, raw: Mapping[str, Any]) -> str:
        index = raw.get("clientOrderId")
        if index is None:
            return ""
        return self._by_index.get(int(index), f"lighter-{index}")

    async def submit(self, order: OrderRequest) -> VenueOrder:
        smap = await self.feed.symbol_map()
        try:
            self.lighter_market(order.symbol).base_amount(order.qty)
        except ValueError as exc:
            raise VenueError(f"lighter refused {order.client_order_id} before sending: {exc}") from exc
        if order.type.value == "market" and order.price is None:
            book = await call(
                "lighter fetch_order_book", self.exchange.fetch_order_book(smap.ccxt(order.symbol), 1)
            )
            side = book["asks"] if order.side.value == "buy" else book["bids"]
            if not side:
                raise VenueError(f"lighter: empty book for {order.symbol}", retryable=True)
            touch = Decimal(str(side[0][0]))
            worst = touch * (1 + self.slippage) if order.side.value == "buy" else touch * (1 - self.slippage)
            inc = smap.instruments[order.symbol].price_increment
            order = OrderRequest(
                order.client_order_id, order.symbol, order.side, order.qty, order.type, worst.quantize(inc)
            )
        return await super().submit(order)
