"""Pick a venue adapter by name. Real venues are imported lazily (their SDKs are heavy).

Names: `sim`, `lighter`, `alpaca`, and any ccxt exchange as `ccxt:<id>` (e.g. `ccxt:binance`).
Every real venue trades in dry-run (real market data, paper fills) unless `live=True` AND
credentials are given; `live=True` without credentials is an error, never a silent dry run.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pydantic import SecretStr

from tradebus.venues.base import MarketFeed, TradingClient

KNOWN = ("sim", "lighter", "alpaca", "ccxt:<exchange id>")


def _ccxt_id(venue: str) -> str | None:
    if venue.startswith("ccxt:") and len(venue) > 5:
        return venue[5:]
    return None


def _check(venue: str) -> None:
    if venue not in ("sim", "lighter", "alpaca") and _ccxt_id(venue) is None:
        raise ValueError(f"unknown venue {venue!r}; known: {', '.join(KNOWN)}")


def open_feed(
    venue: str,
    url: str,
    api_key: SecretStr | None = None,
    *,
    sandbox: bool = False,
    credentials: Mapping[str, SecretStr] | None = None,
    options: Mapping[str, Any] | None = None,
) -> MarketFeed:
    """The market-data face of `venue`. `url` is the sim's base URL (ignored by real venues);
    `credentials` are only needed where the venue's data needs them (Alpaca)."""
    _check(venue)
    if venue == "sim":
        from tradebus.venues.sim.client import SimFeed

        return SimFeed(url)
    return _real_feed(venue, sandbox=sandbox, credentials=credentials, options=options)


def _real_feed(
    venue: str,
    *,
    sandbox: bool,
    credentials: Mapping[str, SecretStr] | None,
    options: Mapping[str, Any] | None,
) -> MarketFeed:
    opts = dict(options or {})
    if venue == "lighter":
        from tradebus.venues.lighter.adapter import lighter_exchange, lighter_feed

        return lighter_feed(lighter_exchange(sandbox=sandbox, credentials=credentials, options=opts))
    if venue == "alpaca":
        from tradebus.venues.alpaca.client import AlpacaFeed
        from tradebus.venues.ccxt.exchange import build_exchange

        data_feed = str(opts.pop("data_feed", "iex"))
        stream_url = opts.pop("stream_url", None)
        exchange = build_exchange("alpaca", sandbox=sandbox, credentials=credentials, options=opts)
        return AlpacaFeed(exchange, data_feed=data_feed, stream_url=stream_url)
    from tradebus.venues.ccxt.exchange import build_exchange
    from tradebus.venues.ccxt.feed import CcxtFeed

    exchange_id = _ccxt_id(venue)
    assert exchange_id is not None
    return CcxtFeed(
        build_exchange(exchange_id, sandbox=sandbox, credentials=credentials, options=opts), venue
    )


def open_trading(
    venue: str,
    url: str,
    api_key: SecretStr,
    *,
    live: bool = False,
    sandbox: bool = False,
    credentials: Mapping[str, SecretStr] | None = None,
    options: Mapping[str, Any] | None = None,
    feed: MarketFeed | None = None,
) -> TradingClient:
    """The trading face of `venue`. The sim always trades (it is a simulation). A real venue
    returns a `DryRunTradingClient` over its feed unless `live` and `credentials` are both set."""
    _check(venue)
    if venue == "sim":
        from tradebus.venues.sim.client import SimTradingClient

        return SimTradingClient(url, api_key)
    if not live:
        from tradebus.venues.dryrun import DryRunTradingClient

        data = feed or _real_feed(venue, sandbox=sandbox, credentials=credentials, options=options)
        return DryRunTradingClient(data)
    if not credentials:
        raise ValueError(f"live trading on {venue} needs credentials; without them use live=False (dry run)")
    return _live_client(venue, sandbox=sandbox, credentials=credentials, options=options)


def _live_client(
    venue: str, *, sandbox: bool, credentials: Mapping[str, SecretStr], options: Mapping[str, Any] | None
) -> TradingClient:
    opts = dict(options or {})
    cash = str(opts.pop("cash_currency", "USDT"))
    real = _real_feed(venue, sandbox=sandbox, credentials=credentials, options=opts)
    if venue == "lighter":
        from tradebus.venues.ccxt.feed import CcxtFeed
        from tradebus.venues.lighter.adapter import LighterTradingClient

        assert isinstance(real, CcxtFeed)
        return LighterTradingClient(real)
    if venue == "alpaca":
        from tradebus.venues.alpaca.client import AlpacaFeed, AlpacaTradingClient

        assert isinstance(real, AlpacaFeed)
        return AlpacaTradingClient(real)
    from tradebus.venues.ccxt.feed import CcxtFeed
    from tradebus.venues.ccxt.trading import CcxtTradingClient

    assert isinstance(real, CcxtFeed)
    return CcxtTradingClient(real, cash_currency=cash)
