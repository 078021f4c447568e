"""Backtest speed: `bb_rsi_scalper` over synthetic 1-minute bars, beside backtesting.py.

    python bench/backtest.py [--bars 1000000]

Ours is the general incremental path (every bar through StrategyHost, the netting book and the
sim matching engine). backtesting.py runs the same entry/exit rules (Bollinger 20/2, RSI 14,
ATR 14 brackets) with its own indicators and fill model, on the same bars.
"""

from __future__ import annotations

import argparse
import time
import warnings

import numpy as np

from services.backtest.config import BacktestConfig, StrategySpec
from services.backtest.data import Bars, synthetic
from services.backtest.runner import Backtest


def ours(bars: Bars) -> float:
    cfg = BacktestConfig(strategies=(StrategySpec("bb_rsi_scalper", {"size": "0.01"}),))
    t = time.perf_counter()
    res = Backtest(cfg, [bars]).run()
    dt = time.perf_counter() - t
    print(f"tradebus (general path): {len(bars):,} bars in {dt:.1f}s = {len(bars) / dt:,.0f} bars/s, "
          f"{len(res.intents):,} intents, {len(res.fills):,} fills")  # fmt: skip
    return len(bars) / dt


def theirs(bars: Bars) -> float:
    import pandas as pd
    import talib
    from backtesting import Backtest as BtBacktest
    from backtesting import Strategy

    df = pd.DataFrame(
        {"Open": bars.open, "High": bars.high, "Low": bars.low, "Close": bars.close, "Volume": bars.volume},
        index=pd.to_datetime(bars.ts, unit="ns"),
    )

    class BbRsi(Strategy):  # type: ignore[misc]
        def init(self) -> None:
            c = self.data.Close
            self.up, self.mid, self.lo = self.I(talib.BBANDS, c, 20, 2.0, 2.0)
            self.rsi = self.I(talib.RSI, c, 14)
            self.atr = self.I(talib.ATR, self.data.High, self.data.Low, c, 14)

        def next(self) -> None:
            c, pos = self.data.Close[-1], self.position
            if not pos and c < self.lo[-1] and self.rsi[-1] < 45:
                self.buy(size=1, sl=c - self.atr[-1], tp=c + 2 * self.atr[-1])
            elif not pos and c > self.up[-1] and self.rsi[-1] > 55:
                self.sell(size=1, sl=c + self.atr[-1], tp=c - 2 * self.atr[-1])
            elif (pos.is_long and c > self.mid[-1]) or (pos.is_short and c < self.mid[-1]):
                pos.close()

    t = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        stats = BtBacktest(df, BbRsi, cash=10_000_000, commission=0.0005).run()
    dt = time.perf_counter() - t
    print(f"backtesting.py 0.6.6:    {len(bars):,} bars in {dt:.1f}s = {len(bars) / dt:,.0f} bars/s, "
          f"{stats['# Trades']:,} trades")  # fmt: skip
    return len(bars) / dt


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--bars", type=int, default=1_000_000)
    n = ap.parse_args().bars
    bars = synthetic(n, seed=42)
    assert np.all(np.diff(bars.ts) > 0)
    ours(bars)
    theirs(bars)


if __name__ == "__main__":
    main()
