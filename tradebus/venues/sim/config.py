"""What the sim exchange trades: per-symbol specs and the engine's configuration (pure data)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from decimal import Decimal

from tradebus.venues.base import Instrument
from tradebus.venues.ohlcv_files import Bar


@dataclass(frozen=True, slots=True)
class ProcessParams:
    """Parameters of one symbol's price process (log-price GBM + jumps + volatility regimes)."""

    start_price: float
    #: Annualized volatilities of the regimes; the path switches between them at random.
    vol_regimes: tuple[float, ...] = (0.5, 0.7, 0.9)
    #: Mean time spent in one regime before switching (seconds).
    regime_mean_s: float = 1800.0
    #: Expected jumps per day and the standard deviation of a jump's log size.
    jump_rate_per_day: float = 8.0
    jump_sigma: float = 0.004
    #: Annualized drift of the price (0 keeps the price a martingale).
    drift: float = 0.0
    #: Synthetic market trades: expected prints per second and their mean notional (quote ccy).
    trade_rate_per_s: float = 4.0
    trade_notional: float = 2_500.0


@dataclass(frozen=True, slots=True)
class SymbolSpec:
    instrument: Instrument
    process: ProcessParams
    #: Quoted spread in basis points of mid (rounded outwards to the price increment).
    spread_bps: float = 2.0
    #: Distance between synthetic book levels in basis points of mid (at least one increment).
    level_bps: float = 1.0
    #: Notional (quote ccy) of the top synthetic level; level k holds (k + 1) times as much.
    level_notional: float = 20_000.0


def _spec(
    symbol: str, price: float, price_inc: str, size_inc: str, min_size: str, spread_bps: float
) -> SymbolSpec:
    base, _, quote = symbol.partition("-")
    return SymbolSpec(
        instrument=Instrument(
            symbol=symbol,
            base=base,
            quote=quote or "USD",
            price_increment=Decimal(price_inc),
            size_increment=Decimal(size_inc),
            min_size=Decimal(min_size),
        ),
        process=ProcessParams(start_price=price),
        spread_bps=spread_bps,
    )


#: The built-in symbols with realistic start prices and increments.
KNOWN_SYMBOLS: dict[str, SymbolSpec] = {
    "BTC-USD": _spec("BTC-USD", 65_000.0, "0.01", "0.00001", "0.0001", 1.0),
    "ETH-USD": _spec("ETH-USD", 3_200.0, "0.01", "0.0001", "0.001", 1.5),
    "SOL-USD": _spec("SOL-USD", 150.0, "0.01", "0.001", "0.01", 3.0),
}


def symbol_spec(symbol: str, start_price: float | None = None) -> SymbolSpec:
    """The spec of a known symbol, or a generic one (start price 100) for any other BASE-QUOTE."""
    base, sep, quote = symbol.partition("-")
    if not base or not sep or not quote or not symbol.isascii() or " " in symbol:
        raise ValueError(f"symbol {symbol!r} must look like BASE-QUOTE, e.g. BTC-USD")
    spec = KNOWN_SYMBOLS.get(symbol) or _spec(symbol, 100.0, "0.01", "0.001", "0.01", 3.0)
    if start_price is not None:
        if start_price <= 0:
            raise ValueError(f"start price of {symbol} must be > 0, got {start_price}")
        spec = replace(spec, process=replace(spec.process, start_price=start_price))
    return spec


@dataclass(frozen=True, slots=True)
class EngineConfig:
    symbols: tuple[SymbolSpec, ...] = field(default_factory=lambda: tuple(KNOWN_SYMBOLS.values()))
    seed: int = 7
    #: Sim-time resolution of the price path; must divide one second.
    step_ms: int = 100
    #: Seconds of past path generated at start (rounded up to whole minutes).
    history_s: int = 3 * 3600
    maker_fee: Decimal = Decimal("0.0002")
    taker_fee: Decimal = Decimal("0.0005")
    starting_cash: Decimal = Decimal(100_000)
    #: Account ids; the server maps API keys onto them.
    accounts: tuple[str, ...] = ("acct-1",)
    #: Synthetic levels per side of the book (market orders walk at most these).
    book_levels: int = 20
    #: Recorded bars replayed as the path of these symbols (see replay.py); others are random.
    replay: Mapping[str, Sequence[Bar]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.step_ms <= 0 or 1000 % self.step_ms:
            raise ValueError(f"step_ms must divide 1000, got {self.step_ms}")
        if self.history_s < 0:
            raise ValueError(f"history_s must be >= 0, got {self.history_s}")
        if not self.symbols:
            raise ValueError("symbols must not be empty")
        if not self.accounts:
            raise ValueError("accounts must not be empty")
        if self.book_levels < 1:
            raise ValueError(f"book_levels must be >= 1, got {self.book_levels}")
        for name, fee in (("maker_fee", self.maker_fee), ("taker_fee", self.taker_fee)):
            if not Decimal(-1) < fee < Decimal(1):
                raise ValueError(f"{name} must be a fraction of notional, got {fee}")
