"""Properties of the ledger over random fills: books agree, accounting identities hold."""

from __future__ import annotations

from decimal import Decimal as D

from hypothesis import given, settings
from hypothesis import strategies as st

from proto.trading import Fill, Liquidity, Side
from services.portfolio.core import ACCOUNT, Ledger

prices = st.integers(min_value=1, max_value=2000).map(lambda n: D(n) / 4)
qtys = st.integers(min_value=1, max_value=50).map(lambda n: D(n) / 10)
fees = st.integers(min_value=0, max_value=40).map(lambda n: D(n) / 100)


@st.composite
def fill_streams(draw: st.DrawFn) -> list[Fill]:
    """Venue fills of strategies a and b, and internal crosses (both legs) between them."""
    out: list[Fill] = []
    for i in range(draw(st.integers(min_value=1, max_value=40))):
        symbol = draw(st.sampled_from(["BTC-USD", "ETH-USD"]))
        side, qty, price = draw(st.sampled_from(list(Side))), draw(qtys), draw(prices)
        if draw(st.booleans()):
            buyer, seller = draw(st.sampled_from([("a", "b"), ("b", "a")]))
            for who, s in ((buyer, Side.BUY), (seller, Side.SELL)):
                out.append(_fill(f"x{i}{s}", who, symbol, s, qty, price, D(0), True, i))
        else:
            who = draw(st.sampled_from(["a", "b"]))
            out.append(_fill(f"v{i}", who, symbol, side, qty, price, draw(fees), False, i))
    return out


def _fill(fid: str, who: str, sym: str, side: Side, q: D, p: D, fee: D, internal: bool, ts: int) -> Fill:
    return Fill(
        fill_id=fid,
        strategy=who,
        venue="sim",
        symbol=sym,
        side=side,
        qty=q,
        price=p,
        fee=fee,
        liquidity=Liquidity.INTERNAL if internal else Liquidity.MAKER,
        ts_event=ts,
    )


def _ledger(fills: list[Fill], marks: tuple[D, D]) -> Ledger:
    led = Ledger(starting_cash=D(10_000))
    led.apply_all(fills)
    led.mark("BTC-USD", marks[0])
    led.mark("ETH-USD", marks[1])
    return led


@settings(max_examples=150, deadline=None)
@given(fill_streams(), st.tuples(prices, prices))
def test_strategies_add_up_to_the_account(fills: list[Fill], marks: tuple[D, D]) -> None:
    led = _ledger(fills, marks)
    acct = led.figures()
    books = [led.figures(s) for s in led.strategies()]
    assert sum((b.pnl for b in books), D(0)) == acct.pnl
    assert sum((b.fees for b in books), D(0)) == acct.fees
    assert sum((b.cash for b in books), D(0)) == acct.cash - D(10_000)
    for sym in ("BTC-USD", "ETH-USD"):
        want = sum((f.signed_qty for f in fills if f.symbol == sym and not f.internal), D(0))
        got = acct.positions.get(sym, D(0))
        assert got == want
        assert sum((b.positions.get(sym, D(0)) for b in books), D(0)) == want


@settings(max_examples=150, deadline=None)
@given(fill_streams(), st.tuples(prices, prices))
def test_pnl_is_realized_plus_unrealized_minus_fees(fills: list[Fill], marks: tuple[D, D]) -> None:
    led = _ledger(fills, marks)
    for name in [ACCOUNT, *led.strategies()]:
        f = led.figures(name)
        # equal up to the rounding of average prices (28 significant digits)
        assert abs(f.realized + f.unrealized - f.fees - f.pnl) < D("1e-15")
        assert f.wins + f.losses <= f.trade_count
        assert f.max_drawdown >= f.current_drawdown >= 0


@settings(max_examples=100, deadline=None)
@given(fill_streams())
def test_a_flat_book_has_realized_its_cash(fills: list[Fill]) -> None:
    led = Ledger()
    led.apply_all(fills)
    # close every position at 1 with a final fill, then realized PnL is all the cash there is
    for name in led.strategies():
        for sym, qty in led.figures(name).positions.items():
            if qty:
                side = Side.SELL if qty > 0 else Side.BUY
                closing = _fill(f"c-{name}-{sym}", name, sym, side, abs(qty), D(1), D(0), False, 99)
                led.apply(closing)
    for name in led.strategies():
        f = led.figures(name)
        assert all(q == 0 for q in f.positions.values())
        assert abs(f.realized - f.fees - f.cash) < D("1e-15")
        assert f.unrealized == 0


@settings(max_examples=100, deadline=None)
@given(fill_streams())
def test_redelivery_changes_nothing(fills: list[Fill]) -> None:
    once = _ledger(fills, (D(1), D(1)))
    again = Ledger(starting_cash=D(10_000))
    again.apply_all(fills)
    assert again.apply_all(fills[::-1]) == 0  # every one a redelivery
    again.mark("BTC-USD", D(1))
    again.mark("ETH-USD", D(1))
    assert again.all_figures() == once.all_figures()
