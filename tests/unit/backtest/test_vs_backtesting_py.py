"""Correctness: SMA(10)/SMA(20) crossover on GOOG daily bars (backtesting.py's sample data) gives
the trade list backtesting.py 0.6.6 gives, under matched conventions:

- a signal on bar i's close trades at bar i + 1's open (backtesting.py default, trade_on_close=False);
- fixed size of 1 share; a cross reverses the position (close, then open the other way);
- no commission, no spread (price increment 1e-6 so the quote is the open within 2e-6), the book
  deep enough that an order never walks it (no slippage);
- only closed trades are compared (backtesting.py leaves the last one open).
"""

from __future__ import annotations

import warnings
from decimal import Decimal
from pathlib import Path

import numpy as np
import pytest

from services.backtest.config import BacktestConfig, StrategySpec
from services.backtest.data import load_file
from services.backtest.report import round_trips
from services.backtest.runner import Backtest
from services.backtest.venue import CostModel

backtesting = pytest.importorskip("backtesting")


def bt_trades() -> list[tuple[np.datetime64, np.datetime64, int, float, float]]:
    from backtesting import Backtest as BtBacktest
    from backtesting import Strategy
    from backtesting.lib import crossover
    from backtesting.test import GOOG, SMA

    class SmaCross(Strategy):  # type: ignore[misc]
        def init(self) -> None:
            self.sma1 = self.I(SMA, self.data.Close, 10)
            self.sma2 = self.I(SMA, self.data.Close, 20)

        def next(self) -> None:
            if crossover(self.sma1, self.sma2):
                self.position.close()
                self.buy(size=1)
            elif crossover(self.sma2, self.sma1):
                self.position.close()
                self.sell(size=1)

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        stats = BtBacktest(GOOG, SmaCross, cash=10_000, commission=0.0).run()
    t = stats["_trades"]
    return [
        (np.datetime64(a, "D"), np.datetime64(b, "D"), int(s), float(ep), float(xp))
        for a, b, s, ep, xp in zip(t.EntryTime, t.ExitTime, t.Size, t.EntryPrice, t.ExitPrice, strict=True)
    ]


def test_sma_cross_on_goog_matches_backtesting_py(tmp_path: Path) -> None:
    from backtesting.test import GOOG

    csv = tmp_path / "goog.csv"
    GOOG.reset_index().rename(columns={"index": "date"}).to_csv(csv, index=False)
    bars = load_file(csv, symbol="GOOG-USD")
    cfg = BacktestConfig(
        strategies=(StrategySpec("tests.unit.backtest.strategies:SmaCross", {"size": 1}),),
        costs=CostModel(maker_fee=Decimal(0), taker_fee=Decimal(0), spread_bps=0.0, depth_notional=1e12),
        price_increment=Decimal("0.000001"),
        size_increment=Decimal(1),
        min_size=Decimal(1),
    )
    ours = round_trips(Backtest(cfg, [bars]).run().fills)
    theirs = bt_trades()
    assert len(theirs) > 30
    assert len(ours) == len(theirs)
    for mine, ref in zip(ours, theirs, strict=True):
        entry = np.datetime64(mine.entry_ts, "ns").astype("datetime64[D]")
        exit_ = np.datetime64(mine.exit_ts, "ns").astype("datetime64[D]")
        assert (entry, exit_, int(mine.qty) * mine.side) == ref[:3]
        assert float(mine.entry_price) == pytest.approx(ref[3], abs=1e-5)
        assert float(mine.exit_price) == pytest.approx(ref[4], abs=1e-5)
