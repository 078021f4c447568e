"""Pick a venue adapter by name. Real venues are imported lazily (their SDKs are heavy)."""

from __future__ import annotations

from pydantic import SecretStr

from tradebus.venues.base import MarketFeed, TradingClient

KNOWN = ("sim",)


def open_feed(venue: str, url: str, api_key: SecretStr | None = None) -> MarketFeed:
    if venue == "sim":
        from tradebus.venues.sim.client import SimFeed

        return SimFeed(url)
    raise ValueError(f"unknown venue {venue!r}; known: {', '.join(KNOWN)}")


def open_trading(venue: str, url: str, api_key: SecretStr) -> TradingClient:
    if venue == "sim":
        from tradebus.venues.sim.client import SimTradingClient

        return SimTradingClient(url, api_key)
    raise ValueError(f"unknown venue {venue!r}; known: {', '.join(KNOWN)}")
