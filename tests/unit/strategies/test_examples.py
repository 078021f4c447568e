"""The documented examples load and run: the user strategy from a temporary directory (as a
user's own file would be), and the example rules file."""

from __future__ import annotations

import shutil
from decimal import Decimal
from pathlib import Path

import numpy as np
import talib

from services.signals.api import Target
from services.signals.strategies import load_strategy_class
from tests.unit.strategies.scenario import candles, ctx, dec

EXAMPLES = Path(__file__).resolve().parents[3] / "examples"


def test_user_strategy_example_loads_from_a_temporary_directory(tmp_path: Path) -> None:
    f = tmp_path / "user" / "my_strategy.py"
    f.parent.mkdir()
    shutil.copy(EXAMPLES / "my_strategy.py", f)
    cls = load_strategy_class(f"{f}:EmaTrend")
    assert cls.name == "ema_trend"
    params = cls.Params.model_validate({"fast": 3, "slow": 6, "atr_period": 3, "size": "1"})
    s = cls(params, "BTC-USD")
    closes = [100.0 - 0.5 * i for i in range(10)] + [96.0 + i for i in range(1, 8)]
    c = np.array(closes)
    cs = candles(closes)
    h, lo = np.array([x.high for x in cs]), np.array([x.low for x in cs])
    above = talib.EMA(c, 3) > talib.EMA(c, 6)
    k = int(np.flatnonzero(above)[0])
    atr = talib.ATR(h, lo, c, 3)[k]
    out = [s.on_candle(x, ctx()) for x in cs]
    assert next(i for i, a in enumerate(out) if a) == k
    stop = atr * 1.5
    (t,) = out[k]
    assert isinstance(t, Target)
    assert t.qty == Decimal(1)
    assert t.bracket is not None
    assert t.bracket.stop_loss == dec(closes[k] - stop)
    assert t.bracket.take_profit == dec(closes[k] + 2 * stop)


def test_example_rules_file_loads() -> None:
    cls = load_strategy_class(f"rules:{EXAMPLES / 'rsi_rules.yaml'}")
    assert cls.name == "rules_btc_rsi_1m"
    assert cls.Params().model_dump()["max_positions"] == 2
