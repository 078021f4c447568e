"""Build a ccxt exchange (lazily importing ccxt) and turn ccxt's errors into ours."""

from __future__ import annotations

from collections.abc import Awaitable, Mapping
from typing import Any, TypeVar

from pydantic import SecretStr

from tradebus.venues.base import OrderNotFound, VenueError

T = TypeVar("T")

#: ccxt constructor keys that hold secrets (exchange-specific extras go in `options`).
CREDENTIAL_KEYS = ("apiKey", "secret", "password", "uid", "privateKey", "walletAddress", "token")


def build_exchange(
    exchange_id: str,
    *,
    sandbox: bool = False,
    credentials: Mapping[str, SecretStr] | None = None,
    options: Mapping[str, Any] | None = None,
    config: Mapping[str, Any] | None = None,
) -> Any:
    """A ccxt.pro exchange (REST and streams) by id, with rate limiting on. ValueError names an
    unknown id or credential key."""
    import ccxt.pro as ccxtpro  # lazy: ccxt takes ~1 s to import

    cls = getattr(ccxtpro, exchange_id, None)
    if cls is None or exchange_id not in ccxtpro.exchanges:
        import ccxt.async_support as ccxt_async

        cls = getattr(ccxt_async, exchange_id, None)
        if cls is None or exchange_id not in ccxt_async.exchanges:
            raise ValueError(f"ccxt has no exchange {exchange_id!r}")
    params: dict[str, Any] = {"enableRateLimit": True, **(config or {})}
    for key, value in (credentials or {}).items():
        if key not in CREDENTIAL_KEYS:
            raise ValueError(f"unknown credential {key!r}; known: {', '.join(CREDENTIAL_KEYS)}")
        params[key] = value.get_secret_value()
    if options:
        params["options"] = dict(options)
    exchange = cls(params)
    if sandbox:
        exchange.set_sandbox_mode(True)
    return exchange


def map_error(exc: Exception, what: str) -> VenueError:
    """A ccxt exception as a VenueError: network trouble and rate limits are retryable."""
    import ccxt

    message = f"{what}: {type(exc).__name__}: {exc}"
    if isinstance(exc, ccxt.OrderNotFound):
        return OrderNotFound(message)
    if isinstance(exc, ccxt.NetworkError):  # timeouts, 5xx, DDoS protection, rate limits
        return VenueError(message, retryable=True)
    return VenueError(message)


async def call(what: str, coro: Awaitable[T]) -> T:
    """Await a ccxt call; its errors come out as VenueError."""
    import ccxt

    try:
        return await coro
    except ccxt.BaseError as exc:
        raise map_error(exc, what) from exc
