"""Incremental indicators: each has `update()`, `value`, `ready`, `reset()`, O(1) per update,
bounded memory, and matches TA-Lib where TA-Lib has the indicator."""

from services.signals.indicators.moving import Ema, RollingStats, RollingStd, Sma
from services.signals.indicators.oscillators import AwesomeOscillator, Macd, Rsi
from services.signals.indicators.renko import Brick, Renko
from services.signals.indicators.volatility import Atr, BollingerBands, TrueRange

__all__ = [
    "Atr",
    "AwesomeOscillator",
    "BollingerBands",
    "Brick",
    "Ema",
    "Macd",
    "Renko",
    "RollingStats",
    "RollingStd",
    "Rsi",
    "Sma",
    "TrueRange",
]
