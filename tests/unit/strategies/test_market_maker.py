"""market_maker scenarios: ticks in, quote pairs out."""

from __future__ import annotations

from decimal import Decimal

import numpy as np
import talib

from proto import Quote
from services.signals.api import QuotePair
from services.signals.strategies import MarketMaker, MarketMakerParams
from tests.unit.strategies.scenario import T0, candles, ctx, dec, tick

MS = 1_000_000


def mm(**kw: object) -> MarketMaker:
    return MarketMaker(MarketMakerParams.model_validate(kw), "BTC-USD")


def test_defaults_are_the_seeds() -> None:
    p = MarketMakerParams()
    assert (p.spread_pct, p.quote_interval_s, p.max_inventory) == (0.0015, 0.5, Decimal("1.0"))
    assert (p.min_cash_ratio, p.quote_value_usd, p.max_spread_multiplier) == (
        0.10,
        Decimal(500),
        3.0,
    )


def test_flat_quotes_symmetric_around_mid_sized_in_usd() -> None:
    s = mm()
    acts = s.on_tick(tick(T0, 999.0, 1001.0), ctx())
    half = 1000.0 * 0.0015
    assert acts == (
        QuotePair(
            bid=Quote(price=dec(1000.0 - half), qty=Decimal("0.5000")),  # $500 at 1000
            ask=Quote(price=dec(1000.0 + half), qty=Decimal("0.5000")),
        ),
    )


def test_refresh_at_most_every_half_second_by_tick_time() -> None:
    s = mm()
    assert len(s.on_tick(tick(T0, 99.9, 100.1), ctx())) == 1
    assert s.on_tick(tick(T0 + 499 * MS, 99.9, 100.1), ctx()) == ()
    assert len(s.on_tick(tick(T0 + 500 * MS, 99.9, 100.1), ctx())) == 1
    assert s.on_tick(tick(T0 + 600 * MS, 99.9, 100.1), ctx()) == ()


def test_long_inventory_skews_quotes_down() -> None:
    s = mm(quote_value_usd="10")
    (pair,) = s.on_tick(tick(T0, 99.9, 100.1), ctx("0.5"))
    half = 100.0 * 0.0015
    assert pair == QuotePair(
        bid=Quote(price=dec(100.0 - half * (1 + 0.5 * 0.5)), qty=Decimal("0.1")),
        ask=Quote(price=dec(100.0 + half * (1 - 0.5 * 0.5)), qty=Decimal("0.1")),
    )


def test_max_inventory_cuts_then_withdraws_the_bid() -> None:
    s = mm()  # 5 units per side at 100, max inventory 1
    (pair,) = s.on_tick(tick(T0, 99.9, 100.1), ctx("0.75"))
    assert isinstance(pair, QuotePair)
    assert pair.bid is not None
    assert pair.bid.qty == Decimal("0.25")
    assert pair.ask is not None
    assert pair.ask.qty == Decimal("1.75")
    (pair,) = s.on_tick(tick(T0 + 500 * MS, 99.9, 100.1), ctx("1.0"))
    assert isinstance(pair, QuotePair)
    assert pair.bid is None
    assert pair.ask is not None


def test_cash_reserve_limits_the_bid() -> None:
    s = mm()
    (pair,) = s.on_tick(tick(T0, 99.9, 100.1), ctx(cash=Decimal(60)))
    assert isinstance(pair, QuotePair)
    bid_px = 100.0 - 100.0 * 0.0015
    affordable = (Decimal(60) * Decimal("0.9") / Decimal(repr(bid_px))).quantize(
        Decimal("0.01"), rounding="ROUND_DOWN"
    )
    assert pair.bid is not None
    assert pair.bid.qty == affordable
    assert pair.ask is not None
    assert pair.ask.qty == Decimal("1.0")  # min(5, max_inventory + 0)


def test_volatility_widens_the_spread_capped_at_3x() -> None:
    closes = [100.0, 103.0] * 15  # Bollinger width far above 1%
    s = mm()
    for c in candles(closes):
        s.on_candle(c, ctx())
    up, mid, low = (a[-1] for a in talib.BBANDS(np.array(closes), 20, 2, 2))
    width = (up - low) / mid
    expected = min(1 + max(0.0, (width - 0.01) / 0.01) * 0.5, 3.0)
    assert expected == 3.0
    (pair,) = s.on_tick(tick(T0, 99.9, 100.1), ctx())
    assert isinstance(pair, QuotePair)
    assert pair.bid is not None
    assert pair.bid.price == dec(100.0 - 100.0 * 0.0015 * 3.0)


def test_mild_volatility_widens_proportionally() -> None:
    closes = [100.0, 100.8] * 15
    s = mm()
    for c in candles(closes):
        s.on_candle(c, ctx())
    up, mid, low = (a[-1] for a in talib.BBANDS(np.array(closes), 20, 2, 2))
    mult = 1 + max(0.0, ((up - low) / mid - 0.01) / 0.01) * 0.5
    assert 1.0 < mult < 3.0
    (pair,) = s.on_tick(tick(T0, 99.9, 100.1), ctx())
    assert isinstance(pair, QuotePair)
    assert pair.ask is not None
    assert pair.ask.price == dec(100.0 + 100.0 * 0.0015 * mult)


def test_stop_withdraws_both_sides() -> None:
    s = mm()
    s.on_tick(tick(T0, 99.9, 100.1), ctx())
    assert s.on_stop(ctx()) == (QuotePair(bid=None, ask=None),)
    # after a stop the next tick quotes at once
    assert len(s.on_tick(tick(T0 + MS, 99.9, 100.1), ctx())) == 1
