"""bb_rsi_scalper scenarios: crafted candles and the exact actions they must produce."""

from __future__ import annotations

from decimal import Decimal

import pytest
import talib

from proto import Bracket
from services.signals.api import Target
from services.signals.strategies import BUILTIN, BbRsiScalper, BbRsiScalperParams
from tests.unit.strategies.scenario import arrays, candle, candles, ctx, dec, run

# 30 quiet candles (warm-up), then a sharp drop below the lower band
QUIET = [100.0, 100.6, 100.2, 100.8, 100.4] * 6
DROP = [*QUIET, 97.0]
SPIKE = [*QUIET, 103.5]


def make(**kw: object) -> BbRsiScalper:
    return BbRsiScalper(BbRsiScalperParams.model_validate(kw), "BTC-USD")


def indicators(closes: list[float]) -> tuple[float, float, float, float, float]:
    cs = candles(closes)
    h, lo, c = arrays(cs)
    up, mid, low = talib.BBANDS(c, 20, 2.0, 2.0)
    return up[-1], mid[-1], low[-1], talib.RSI(c, 14)[-1], talib.ATR(h, lo, c, 14)[-1]


def test_defaults_are_the_seeds_and_ours() -> None:
    p = BbRsiScalperParams()
    assert (p.bb_period, p.bb_dev, p.rsi_period, p.atr_period) == (20, 2.0, 14, 14)
    assert (p.rsi_long_below, p.rsi_short_above) == (45.0, 55.0)
    assert (p.atr_multiplier, p.tp_sl_ratio) == (1.0, 2.0)
    assert BUILTIN["bb_rsi_scalper"] is BbRsiScalper


def test_quiet_market_does_nothing() -> None:
    assert run(make(), candles(QUIET)) == []


def test_drop_below_lower_band_goes_long_with_atr_bracket() -> None:
    _up, _mid, low, rsi, atr = indicators(DROP)
    assert DROP[-1] < low
    assert rsi < 45
    s = make(size=Decimal("0.5"))
    acts = run(s, candles(DROP))
    assert acts == [
        Target(
            qty=Decimal("0.5"),
            bracket=Bracket(take_profit=dec(97.0 + 2 * atr), stop_loss=dec(97.0 - atr)),
            reason="bb_rsi long",
        )
    ]


def test_entry_uses_ask_from_context() -> None:
    cs = candles(DROP)
    *_, atr = indicators(DROP)
    s = make()
    for c in cs[:-1]:
        assert s.on_candle(c, ctx()) == ()
    acts = s.on_candle(cs[-1], ctx(bid=96.9, ask=97.1))
    assert len(acts) == 1
    t = acts[0]
    assert isinstance(t, Target)
    assert t.bracket == Bracket(take_profit=dec(97.1 + 2 * atr), stop_loss=dec(97.1 - atr))


def test_ask_not_below_lower_band_means_no_entry() -> None:
    *_, low, _, _ = indicators(DROP)
    s = make()
    cs = candles(DROP)
    for c in cs[:-1]:
        s.on_candle(c, ctx())
    assert s.on_candle(cs[-1], ctx(bid=low, ask=low + 0.01)) == ()


def test_spike_above_upper_band_goes_short() -> None:
    up, _mid, _low, rsi, atr = indicators(SPIKE)
    assert SPIKE[-1] > up
    assert rsi > 55
    acts = run(make(), candles(SPIKE))
    assert acts == [
        Target(
            qty=Decimal("-0.01"),
            bracket=Bracket(take_profit=dec(103.5 - 2 * atr), stop_loss=dec(103.5 + atr)),
            reason="bb_rsi short",
        )
    ]


def test_cooldown_blocks_reentry_until_price_crosses_the_middle_band() -> None:
    s = make()
    assert len(run(s, candles(DROP))) == 1
    # stopped out by the bracket (flat again), price still under the lower band: no re-entry
    lower_still = candles([96.0, 95.0], start=len(DROP))
    assert run(s, lower_still, position="0") == []
    # price crosses back above the middle band: cooldown re-arms (flat: nothing to close)
    closes = [*DROP, 96.0, 95.0]
    recover = candles([101.0, 101.5], start=len(closes))
    assert run(s, recover, position="0") == []
    assert s.armed
    # a new drop: entry allowed again
    closes += [101.0, 101.5]
    drop_again = candle(len(closes), 94.0)
    acts = s.on_candle(drop_again, ctx())
    assert len(acts) == 1
    assert isinstance(acts[0], Target)
    assert acts[0].qty == Decimal("0.01")


def test_long_closes_when_bid_above_middle() -> None:
    s = make()
    run(s, candles(DROP))
    closes = [*DROP, 98.0]
    _, mid, _, _, _ = indicators(closes)
    c = candle(len(DROP), 98.0)
    assert s.on_candle(c, ctx("0.01", bid=mid - 0.01, ask=mid)) == ()  # not above yet
    c2 = candle(len(DROP) + 1, 101.0)
    _, mid2, _, _, _ = indicators([*closes, 101.0])
    assert s.on_candle(c2, ctx("0.01", bid=mid2 + 0.01, ask=mid2 + 0.02)) == (
        Target(qty=Decimal(0), reason="close long: bid above middle band"),
    )


def test_short_closes_when_ask_below_middle() -> None:
    s = make()
    run(s, candles(SPIKE))
    c = candle(len(SPIKE), 99.0)
    acts = s.on_candle(c, ctx("-0.01"))
    assert acts == (Target(qty=Decimal(0), reason="close short: ask below middle band"),)


def test_never_two_entries_on_one_candle() -> None:
    s = make()
    cs = candles(DROP)
    assert len(run(s, cs)) == 1
    # the same candle again (a replay): nothing, even flat and with the cooldown re-armed
    s.armed = True
    assert s.on_candle(cs[-1], ctx()) == ()


def test_reset_forgets_everything() -> None:
    s = make()
    run(s, candles(DROP))
    s.reset()
    assert s.armed
    assert not s.bb.ready
    assert len(run(s, candles(DROP))) == 1


@pytest.mark.parametrize("bad", [{"bb_period": 1}, {"size": "0"}, {"atr_multiplier": 0}, {"x": 1}])
def test_bad_params_are_rejected(bad: dict[str, object]) -> None:
    with pytest.raises(ValueError, match=next(iter(bad))):
        BbRsiScalperParams.model_validate(bad)
