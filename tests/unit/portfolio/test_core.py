"""Average-cost PnL, trades, cash and value on cases computed by hand (numbers in comments)."""

from __future__ import annotations

import itertools
import math
from decimal import Decimal as D

import pytest

from proto.trading import Fill, Liquidity, Side
from services.portfolio.core import ACCOUNT, Ledger

_ids = itertools.count()


def fill(
    side: str,
    qty: str,
    price: str,
    *,
    fee: str = "0",
    strategy: str = "s1",
    symbol: str = "BTC-USD",
    internal: bool = False,
    ts: int | None = None,
    fill_id: str | None = None,
) -> Fill:
    n = next(_ids)
    return Fill(
        fill_id=fill_id or f"f{n}",
        strategy=strategy,
        venue="sim",
        symbol=symbol,
        side=Side(side),
        qty=D(qty),
        price=D(price),
        fee=D(fee),
        liquidity=Liquidity.INTERNAL if internal else Liquidity.TAKER,
        ts_event=n if ts is None else ts,
    )


def test_increase_then_partial_close_with_fees() -> None:
    led = Ledger()
    led.apply(fill("buy", "2", "100", fee="1"))
    led.apply(fill("buy", "2", "110", fee="1"))  # avg (200 + 220) / 4 = 105
    led.apply(fill("sell", "1", "120", fee="0.5"))  # realizes (120 - 105) * 1 = 15
    led.mark("BTC-USD", D("100"))
    f = led.figures("s1")
    pos = f.symbols["BTC-USD"]
    assert (pos.qty, pos.avg_price, pos.last_price) == (D(3), D(105), D(100))
    assert f.realized == D(15)
    assert f.unrealized == D(-15)  # (100 - 105) * 3
    assert f.fees == D("2.5")
    assert f.cash == D("-302.5")  # -201 - 221 + 119.5
    assert f.total_value == D("-2.5")  # -302.5 + 3 * 100
    assert f.pnl == D("-2.5")  # 15 - 15 - 2.5
    assert f.exposure == D(300)
    assert f.turnover == D(540)  # 200 + 220 + 120
    assert (f.trade_count, f.wins, f.losses, f.win_rate) == (1, 1, 0, 1.0)


def test_flip_long_to_short_and_close() -> None:
    led = Ledger()
    led.apply(fill("buy", "2", "100"))
    led.apply(fill("sell", "5", "90"))  # closes 2: (90 - 100) * 2 = -20; opens -3 @ 90
    led.mark("BTC-USD", D("80"))
    f = led.figures("s1")
    assert f.symbols["BTC-USD"].qty == D(-3)
    assert f.symbols["BTC-USD"].avg_price == D(90)
    assert f.realized == D(-20)
    assert f.unrealized == D(30)  # (80 - 90) * -3
    assert (f.trade_count, f.wins, f.losses) == (1, 0, 1)
    led.apply(fill("buy", "3", "85"))  # closes the short: (85 - 90) * 3 * -1 = +15
    f = led.figures("s1")
    assert f.symbols["BTC-USD"].qty == 0
    assert f.symbols["BTC-USD"].avg_price == 0
    assert f.realized == D(-5)
    assert f.unrealized == 0
    assert (f.trade_count, f.wins, f.losses, f.win_rate) == (2, 1, 1, 0.5)
    assert f.exposure == 0


def test_flip_short_to_long() -> None:
    led = Ledger()
    led.apply(fill("sell", "1", "50"))
    led.apply(fill("buy", "3", "40"))  # closes 1: (40 - 50) * 1 * -1 = +10; opens +2 @ 40
    f = led.figures("s1")
    assert (f.symbols["BTC-USD"].qty, f.symbols["BTC-USD"].avg_price) == (D(2), D(40))
    assert f.realized == D(10)


def test_short_partial_close() -> None:
    led = Ledger()
    led.apply(fill("sell", "4", "50"))
    led.apply(fill("sell", "4", "60"))  # avg (200 + 240) / 8 = 55
    led.apply(fill("buy", "2", "45"))  # (45 - 55) * 2 * -1 = +20
    f = led.figures("s1")
    assert (f.symbols["BTC-USD"].qty, f.symbols["BTC-USD"].avg_price) == (D(-6), D(55))
    assert f.realized == D(20)
    assert f.cash == D(350)  # 200 + 240 - 90


@pytest.mark.parametrize(
    ("close_price", "fee", "wins", "losses"),
    [
        ("101", "2", 0, 1),  # gross +1, net -1: a loss
        ("101", "0.5", 1, 0),  # gross +1, net +0.5: a win
        ("100", "0", 0, 0),  # break-even: neither
        ("99", "0", 0, 1),
    ],
)
def test_win_or_loss_is_net_of_the_closing_fee(close_price: str, fee: str, wins: int, losses: int) -> None:
    led = Ledger()
    led.apply(fill("buy", "1", "100"))
    led.apply(fill("sell", "1", close_price, fee=fee))
    f = led.figures("s1")
    assert (f.trade_count, f.wins, f.losses) == (1, wins, losses)


def test_a_flip_charges_only_the_closing_share_of_its_fee() -> None:
    led = Ledger()
    led.apply(fill("buy", "1", "100"))
    # closes 1 of 3: gross +1, fee share 3 * 1/3 = 1, net 0 -> neither win nor loss
    led.apply(fill("sell", "3", "101", fee="3"))
    f = led.figures("s1")
    assert (f.trade_count, f.wins, f.losses) == (1, 0, 0)
    assert f.fees == D(3)


def test_a_redelivered_fill_changes_nothing() -> None:
    led = Ledger()
    first = fill("buy", "1", "100", fee="1")
    assert led.apply(first)
    before = led.figures("s1")
    assert not led.apply(first)
    assert led.figures("s1") == before
    assert led.apply_all([first, fill("buy", "1", "100")]) == 1


def test_the_account_starts_with_its_cash() -> None:
    led = Ledger(starting_cash=D(1000))
    led.apply(fill("buy", "1", "100", fee="1"))
    f = led.figures()
    assert f.strategy == ACCOUNT
    assert f.cash == D(899)
    assert f.total_value == D(999)  # 899 + 1 * 100 (valued at the fill price)
    assert f.pnl == D(-1)
    assert led.figures("s1").cash == D(-101)  # strategies start with none


def test_internal_crosses_move_pnl_between_strategies_not_the_account() -> None:
    led = Ledger()
    led.apply(fill("buy", "1", "100", strategy="a"))
    led.apply(fill("sell", "1", "110", strategy="a", internal=True))  # a realizes +10
    led.apply(fill("buy", "1", "110", strategy="b", internal=True))  # b holds 1 @ 110
    led.mark("BTC-USD", D(120))
    acct, a, b = led.figures(), led.figures("a"), led.figures("b")
    assert acct.symbols["BTC-USD"].qty == 1
    assert acct.symbols["BTC-USD"].avg_price == 100
    assert (acct.realized, acct.unrealized, acct.pnl) == (D(0), D(20), D(20))
    assert (a.realized, a.pnl, a.trade_count) == (D(10), D(10), 1)
    assert (b.realized, b.unrealized, b.pnl) == (D(0), D(10), D(10))
    assert acct.turnover == 100  # the cross never reached the venue
    assert led.strategies() == ["a", "b"]


def test_marks_apply_to_every_book_and_older_prices_are_ignored() -> None:
    led = Ledger()
    led.apply(fill("buy", "1", "100", strategy="a", ts=1))
    led.apply(fill("buy", "2", "100", strategy="b", ts=2))
    led.mark("BTC-USD", D(130), ts_event=10)
    led.apply(fill("buy", "1", "90", strategy="a", ts=5))  # late fill: price not newer
    assert led.last_price("BTC-USD") == 130
    assert led.figures("b").unrealized == 60
    led.mark("BTC-USD", D(120), ts_event=9)  # stale mark
    assert led.last_price("BTC-USD") == 130
    led.apply(fill("buy", "1", "140", strategy="a", ts=11))
    assert led.last_price("BTC-USD") == 140
    led.mark("BTC-USD", D(150))  # no time: the latest word
    assert led.last_price("BTC-USD") == 150


def test_unknown_strategy_has_zero_figures() -> None:
    f = Ledger().figures("nobody")
    assert (f.pnl, f.cash, f.trade_count) == (D(0), D(0), 0)
    assert (f.win_rate, f.sharpe) == (None, None)
    assert f.symbols == {}


def test_snapshots_give_history_drawdown_and_sharpe() -> None:
    led = Ledger(periods_per_year=4)
    led.apply(fill("buy", "1", "100", ts=0))
    for ts, price in enumerate(["110", "105", "120", "90", "100"], start=1):
        led.mark("BTC-USD", D(price), ts_event=ts)
        rows = {r.strategy: r for r in led.snapshot(ts)}
    # PnL points 10, 5, 20, -10, 0: worst fall 20 -> -10 = 30; now 20 under the peak
    f = led.figures("s1", with_history=True)
    assert [p.pnl for p in f.history] == [10, 5, 20, -10, 0]
    assert (f.max_drawdown, f.current_drawdown) == (D(30), D(20))
    # returns -5, 15, -30, 10: mean -2.5, variance 1225/3, sqrt(4) periods a year
    assert f.sharpe == pytest.approx(-2.5 / math.sqrt(1225 / 3) * 2)
    assert rows["s1"].pnl == 0
    assert rows[ACCOUNT].total_value == 0
    led.mark("BTC-USD", D(80), ts_event=6)  # live value counts too: peak 20, now -20
    f = led.figures("s1")
    assert (f.max_drawdown, f.current_drawdown) == (D(40), D(40))


def test_snapshot_times_must_move_forward() -> None:
    led = Ledger()
    led.apply(fill("buy", "1", "100"))
    led.snapshot(5)
    with pytest.raises(ValueError, match="ts_event"):
        led.snapshot(5)


def test_history_can_be_restored() -> None:
    first = Ledger(periods_per_year=4)
    opening = fill("buy", "1", "100", ts=0)
    first.apply(opening)
    stored = []
    for ts, price in enumerate(["110", "105", "120", "90", "100"], start=1):
        first.mark("BTC-USD", D(price), ts_event=ts)
        stored += first.snapshot(ts)
    again = Ledger(periods_per_year=4)
    again.apply(opening)
    again.mark("BTC-USD", D(100), ts_event=5)
    again.load_history(stored)
    f = again.figures("s1", with_history=True)
    assert [p.pnl for p in f.history] == [10, 5, 20, -10, 0]
    assert (f.max_drawdown, f.current_drawdown) == (D(30), D(20))
    assert f.sharpe == pytest.approx(-2.5 / math.sqrt(1225 / 3) * 2)
    assert again.figures() == first.figures()


def test_bad_input_is_named() -> None:
    with pytest.raises(TypeError, match="price"):
        Ledger().mark("BTC-USD", 1.5)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="starting_cash"):
        Ledger(starting_cash=100)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="strategy"):
        Ledger().apply(fill("buy", "1", "1", strategy=ACCOUNT))


def test_figures_serialize_money_as_decimal_strings() -> None:
    led = Ledger()
    led.apply(fill("buy", "0.50", "100.10", fee="0.05"))
    out = led.figures("s1").model_dump(mode="json")
    assert out["fees"] == "0.05"
    assert D(out["cash"]) == D("-50.10")  # -(0.50 * 100.10) - 0.05 = -50.05 - 0.05
    assert isinstance(out["cash"], str)
    assert out["symbols"]["BTC-USD"]["qty"] == "0.50"
