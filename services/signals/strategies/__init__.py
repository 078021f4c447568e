"""The built-in strategies and the loader for user strategies.

`BUILTIN` maps a strategy name to its class; `load_strategy_class(spec)` resolves a builtin
name, an entry point in group `tradebus.strategies`, `path/to/file.py:ClassName`,
`package.module:ClassName`, or YAML rules (`rules:path/to/file.yaml` or a `.yaml` path).
"""

from __future__ import annotations

from typing import Any

from services.signals.api import Strategy
from services.signals.strategies import loader
from services.signals.strategies.bb_mean_reversion import BbMeanReversion, BbMeanReversionParams
from services.signals.strategies.bb_rsi_scalper import BbRsiScalper, BbRsiScalperParams
from services.signals.strategies.ema_rsi_alpha import EmaRsiAlpha, EmaRsiAlphaParams
from services.signals.strategies.loader import ENTRY_POINT_GROUP, StrategyLoadError
from services.signals.strategies.macd_momentum import MacdMomentum, MacdMomentumParams
from services.signals.strategies.market_maker import MarketMaker, MarketMakerParams
from services.signals.strategies.renko_ao_divergence import (
    RenkoAoDivergence,
    RenkoAoDivergenceParams,
)
from services.signals.strategies.rsi_bb_trend import RsiBbTrend, RsiBbTrendParams
from services.signals.strategies.sma_cross_scalp import (
    ScalpState,
    SmaCrossScalp,
    SmaCrossScalpParams,
)

BUILTIN: dict[str, type[Strategy[Any]]] = {
    cls.name: cls
    for cls in (
        BbRsiScalper,
        MarketMaker,
        EmaRsiAlpha,
        MacdMomentum,
        BbMeanReversion,
        SmaCrossScalp,
        RsiBbTrend,
        RenkoAoDivergence,
    )
}


def load_strategy_class(spec: str) -> type[Strategy[Any]]:
    """A strategy class from a builtin name, entry point, file or module path, or YAML rules."""
    return loader.load_strategy_class(spec, BUILTIN)


__all__ = [
    "BUILTIN",
    "ENTRY_POINT_GROUP",
    "BbMeanReversion",
    "BbMeanReversionParams",
    "BbRsiScalper",
    "BbRsiScalperParams",
    "EmaRsiAlpha",
    "EmaRsiAlphaParams",
    "MacdMomentum",
    "MacdMomentumParams",
    "MarketMaker",
    "MarketMakerParams",
    "RenkoAoDivergence",
    "RenkoAoDivergenceParams",
    "RsiBbTrend",
    "RsiBbTrendParams",
    "ScalpState",
    "SmaCrossScalp",
    "SmaCrossScalpParams",
    "StrategyLoadError",
    "load_strategy_class",
]
