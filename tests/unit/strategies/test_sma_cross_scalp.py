"""sma_cross_scalp scenarios: the four states, driven by candles, fills and the position."""

from __future__ import annotations

from decimal import Decimal

from hypothesis import given, settings
from hypothesis import strategies as st

from proto import OrderStyle, OrderType, Side
from services.signals.api import Target
from services.signals.strategies import ScalpState, SmaCrossScalp, SmaCrossScalpParams
from tests.unit.strategies.scenario import T0, candle, candles, ctx, fill

MIN = 60 * 1_000_000_000
BELOW = [100.0] * 20 + [99.0] * 3  # SMA(20) ready, close under it
CROSS = 101.0  # the close that crosses above


def scalp(**kw: object) -> SmaCrossScalp:
    return SmaCrossScalp(SmaCrossScalpParams.model_validate(kw), "AAPL")


def armed() -> SmaCrossScalp:
    s = scalp()
    for c in candles(BELOW):
        assert s.on_candle(c, ctx()) == ()
    return s


def buy_target(price: str, qty: int) -> Target:
    return Target(
        qty=Decimal(qty),
        style=OrderStyle(
            type=OrderType.LIMIT,
            limit_price=Decimal(price).quantize(Decimal("1e-8")),
            expire_after_s=120.0,
        ),
        reason="close crossed above sma",
    )


def test_defaults_are_the_seeds() -> None:
    p = SmaCrossScalpParams()
    assert (p.sma_period, p.lot_usd, p.buy_expire_s, p.interval) == (20, Decimal(2000), 120.0, "1m")


def test_cross_above_sma_sends_an_expiring_limit_buy_at_last_sized_in_dollars() -> None:
    s = armed()
    acts = s.on_candle(candle(len(BELOW), CROSS), ctx(last=101.5))
    assert acts == (buy_target("101.5", 19),)  # floor(2000 / 101.5) whole shares
    assert s.state is ScalpState.BUY_SUBMITTED


def test_no_buy_without_a_cross() -> None:
    s = scalp()
    assert [a for c in candles([100.0] * 19 + [101.0, 102.0, 103.0]) for a in s.on_candle(c, ctx())] == []


def test_fill_offers_a_limit_sell_at_or_above_entry() -> None:
    s = armed()
    s.on_candle(candle(len(BELOW), CROSS), ctx())
    acts = s.on_fill(fill(Side.BUY, "19", "101.00"), ctx("19", last=100.5))
    assert acts == (
        Target(
            qty=Decimal(0),
            style=OrderStyle(type=OrderType.LIMIT, limit_price=Decimal("101.00")),
            reason="sell at or above entry",
        ),
    )
    assert s.state is ScalpState.SELL_SUBMITTED
    # last above the entry: the sell is at last
    s2 = armed()
    s2.on_candle(candle(len(BELOW), CROSS), ctx())
    (t,) = s2.on_fill(fill(Side.BUY, "19", "101.00"), ctx("19", last=101.75))
    assert isinstance(t, Target)
    assert t.style is not None
    assert t.style.limit_price == Decimal("101.75")


def test_sell_fill_returns_to_buy_and_a_new_cross_buys_again() -> None:
    s = armed()
    s.on_candle(candle(len(BELOW), CROSS), ctx())
    s.on_fill(fill(Side.BUY, "19", "101.00"), ctx("19"))
    assert s.on_fill(fill(Side.SELL, "19", "101.10"), ctx("0")) == ()
    assert s.state is ScalpState.TO_BUY
    i = len(BELOW) + 1
    for k, px in enumerate([95.0, 95.0]):
        assert s.on_candle(candle(i + k, px), ctx()) == ()
    assert len(s.on_candle(candle(i + 2, 120.0), ctx())) == 1


def test_unfilled_buy_expires_after_two_minutes() -> None:
    s = armed()
    n = len(BELOW)
    s.on_candle(candle(n, CROSS), ctx())
    assert s.on_candle(candle(n + 1, 101.0), ctx()) == ()  # 1 minute later: still waiting
    assert s.on_candle(candle(n + 2, 101.0), ctx()) == (
        Target(qty=Decimal(0), reason="buy expired unfilled"),
    )
    assert s.state is ScalpState.TO_BUY


def test_position_without_fill_event_is_sold() -> None:
    s = armed()
    n = len(BELOW)
    s.on_candle(candle(n, CROSS), ctx())
    (t,) = s.on_candle(candle(n + 1, 102.0), ctx("19"))
    assert isinstance(t, Target)
    assert t.qty == 0
    assert t.style is not None
    assert t.style.limit_price == Decimal("102.00000000")
    assert s.state is ScalpState.SELL_SUBMITTED


def test_flat_before_the_session_close() -> None:
    s = armed()
    n = len(BELOW)
    s.on_candle(candle(n, CROSS), ctx())
    s.on_fill(fill(Side.BUY, "19", "101.00"), ctx("19"))
    close = T0 + (n + 7) * MIN  # session closes 7 minutes after the cross candle opened
    # candle n+1 ends at n+2 minutes: 5 minutes before the close -> flatten at market
    assert s.on_candle(candle(n + 1, 101.0), ctx("19", session_close=close)) == (
        Target(qty=Decimal(0), reason="flat before the session close"),
    )
    assert s.state is ScalpState.TO_BUY
    # no new buys in the closing window, even on a cross
    assert s.on_candle(candle(n + 2, 90.0), ctx(session_close=close)) == ()
    assert s.on_candle(candle(n + 3, 130.0), ctx(session_close=close)) == ()


# ---------------------------------------------------------------- state machine, any event order

ALLOWED = {
    (ScalpState.TO_BUY, ScalpState.BUY_SUBMITTED),  # cross: limit buy
    (ScalpState.BUY_SUBMITTED, ScalpState.TO_BUY),  # expired, or the closing window
    (ScalpState.BUY_SUBMITTED, ScalpState.SELL_SUBMITTED),  # filled: sell at once
    (ScalpState.TO_BUY, ScalpState.SELL_SUBMITTED),  # a position found while idle: sell it
    (ScalpState.SELL_SUBMITTED, ScalpState.TO_BUY),  # sold, or the closing window
}


@settings(max_examples=150, deadline=None)
@given(
    st.lists(
        st.tuples(
            st.sampled_from(["candle", "buy_fill", "sell_fill"]),
            st.floats(90.0, 110.0),
            st.sampled_from(["0", "19"]),
            st.booleans(),
        ),
        max_size=80,
    )
)
def test_transitions_follow_the_four_state_machine(
    events: list[tuple[str, float, str, bool]],
) -> None:
    s = scalp()
    i = 0
    for kind, px, pos, closing in events:
        before = s.state
        session = T0 + (i + 3) * MIN if closing else None
        if kind == "candle":
            acts = s.on_candle(candle(i, round(px, 2)), ctx(pos, session_close=session))
            i += 1
        elif kind == "buy_fill":
            acts = s.on_fill(fill(Side.BUY, "19", f"{px:.2f}"), ctx("19"))
        else:
            acts = s.on_fill(fill(Side.SELL, "19", f"{px:.2f}"), ctx("0"))
        after = s.state
        assert after is not ScalpState.TO_SELL  # a transient state: the sell goes out at once
        assert before == after or (before, after) in ALLOWED, (before, after, kind)
        for a in acts:
            assert isinstance(a, Target)
            if a.qty > 0:  # a buy only leaves TO_BUY, as an expiring limit at the last price
                assert before is ScalpState.TO_BUY
                assert after is ScalpState.BUY_SUBMITTED
                assert a.style is not None
                assert a.style.expire_after_s == 120.0
