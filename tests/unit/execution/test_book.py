"""Hand-computed scenarios of the netting book: crossing, allocation, flips, brackets, quotes,
kill switch, reconciliation, rounding and restarts."""

from __future__ import annotations

import json
from decimal import Decimal

import pytest

from proto import Bracket, Liquidity, OrderStatus, OrderStyle, OrderType, RiskEvent, Side
from services.execution.core import NET, UNATTRIBUTED, Decision, NettingBook, NewOrder, RiskKind
from tests.unit.execution.factory import NS, T0, book, limits, quotes, target, vfill, vorder
from tradebus.venues.base import Instrument, OrderRequest, VenueOrder

D = Decimal


def kinds(events: list[RiskEvent]) -> list[str]:
    return [e.kind for e in events]


def test_two_strategies_cross_internally_at_mid_and_trade_only_the_rest() -> None:
    b = book()
    # no fresh price: nothing is traded, the book fails closed and waits
    d = b.on_intent(target("A", "BTC", "1"), None, T0)
    assert d.submit == []
    assert kinds(d.risk_events) == ["no_fresh_price"]

    d = b.on_intent(target("B", "BTC", "-0.4"), D(100), T0)
    assert [(f.strategy, f.side, f.qty, f.price, f.fee) for f in d.fills] == [
        ("A", Side.BUY, D("0.4"), D(100), D(0)),
        ("B", Side.SELL, D("0.4"), D(100), D(0)),
    ]
    assert all(f.liquidity is Liquidity.INTERNAL for f in d.fills)
    assert len({f.fill_id for f in d.fills}) == 2
    assert b.venue_position("BTC") == 0
    # the rest, 1 - 0.4, is one netting order serving A
    (order,) = d.submit
    assert (order.owner, order.request.side, order.request.qty) == (NET, Side.BUY, D("0.6"))

    b.on_venue_fill(vfill(order, "0.6", "101"), T0)
    assert b.position("A", "BTC") == D(1)
    assert b.position("B", "BTC") == D("-0.4")
    assert b.venue_position("BTC") == D("0.6")
    assert b.snapshot()["slots"][0][2]["avg_price"] == str((D("0.4") * 100 + D("0.6") * 101) / 1)


def test_a_batch_of_intents_is_netted_as_one_one_order_per_symbol() -> None:
    seq, batched = book(), book()
    for b in (seq, batched):
        b.on_tick("BTC", 99, 101, T0)
        b.on_tick("ETH", 9, 11, T0)
    burst = [
        target("A", "BTC", "1"),
        target("A", "BTC", "2"),
        target("B", "ETH", "5"),
        target("A", "BTC", "3"),
        target("C", "ETH", "-2"),
    ]
    one_by_one = Decision()
    for t in burst:
        one_by_one.merge(seq.on_intent(t, None, T0))
    d = batched.on_intents([(t, None) for t in burst], T0)
    # one by one: an order per change; as a batch: one netting order per symbol, in first-touch
    # order, for the net change, after B and C crossed in ETH
    assert len(one_by_one.submit) == 4
    assert [(n.request.symbol, n.request.side, n.request.qty) for n in d.submit] == [
        ("BTC", Side.BUY, D(3)),
        ("ETH", Side.BUY, D(3)),
    ]
    assert [(f.strategy, f.qty) for f in d.fills] == [("B", D(2)), ("C", D(2))]
    # the targets are the same either way; every intent is remembered (a repeat is refused)
    for st, sy in (("A", "BTC"), ("B", "ETH"), ("C", "ETH")):
        assert batched.target(st, sy) == seq.target(st, sy)
    again = batched.on_intents([(burst[0], None)], T0)
    assert kinds(again.risk_events) == ["duplicate_intent"] and not again.submit


def test_opposite_wish_while_an_order_is_open_cancels_it_then_crosses() -> None:
    b = book()
    (buy,) = b.on_intent(target("A", "BTC", "1"), D(100), T0).submit
    d = b.on_intent(target("B", "BTC", "-1"), D(100), T0)
    assert d.cancel == [buy.request.client_order_id]
    assert d.submit == []
    assert d.fills == []
    d = b.on_order_update(vorder(buy, OrderStatus.CANCELED), T0)
    assert [(f.strategy, f.qty * f.side.sign) for f in d.fills] == [("A", D(1)), ("B", D(-1))]
    assert d.submit == []
    assert b.venue_position("BTC") == 0


def test_partial_fills_are_allocated_in_strategy_name_order_with_fees_pro_rata() -> None:
    b = book()
    b.on_intent(target("C", "BTC", "2"), None, T0)
    b.on_intent(target("A", "BTC", "1"), None, T0)
    (order,) = b.on_tick("BTC", 99, 101, T0).submit
    assert order.request.qty == 3

    d = b.on_venue_fill(vfill(order, "0.5", "100"), T0)
    assert [(f.strategy, f.qty) for f in d.fills] == [("A", D("0.5"))]
    assert d.order_updates[-1].status is OrderStatus.PARTIALLY_FILLED

    d = b.on_venue_fill(vfill(order, "1.0", "100", fid="v2", fee="0.1"), T0)
    assert [(f.fill_id, f.strategy, f.qty, f.fee) for f in d.fills] == [
        ("v2:A", "A", D("0.5"), D("0.05")),
        ("v2:C", "C", D("0.5"), D("0.05")),
    ]
    d = b.on_venue_fill(vfill(order, "1.5", "100"), T0)
    assert [(f.strategy, f.qty) for f in d.fills] == [("C", D("1.5"))]
    assert d.order_updates[-1].status is OrderStatus.FILLED
    assert (b.position("A", "BTC"), b.position("C", "BTC")) == (D(1), D(2))
    assert b.open_orders(T0) == []


def test_duplicate_venue_fill_is_ignored_and_overfill_goes_to_unattributed() -> None:
    b = book()
    (order,) = b.on_intent(target("A", "BTC", "1"), D(100), T0).submit
    b.on_venue_fill(vfill(order, "0.5", "100", fid="x"), T0)
    assert b.on_venue_fill(vfill(order, "0.5", "100", fid="x"), T0).empty
    d = b.on_venue_fill(vfill(order, "0.7", "100", fid="y"), T0)
    assert [(f.strategy, f.qty) for f in d.fills] == [("A", D("0.5")), (UNATTRIBUTED, D("0.2"))]
    assert b.position("A", "BTC") + b.position(UNATTRIBUTED, "BTC") == b.venue_position("BTC")


def test_flip_long_to_short_realizes_pnl_and_reopens_at_fill_price() -> None:
    b = book()
    (buy,) = b.on_intent(target("A", "BTC", "1"), D(100), T0).submit
    b.on_venue_fill(vfill(buy, "1", "100"), T0)
    (sell,) = b.on_intent(target("A", "BTC", "-1"), D(110), T0).submit
    assert (sell.request.side, sell.request.qty) == (Side.SELL, D(2))
    b.on_venue_fill(vfill(sell, "2", "110"), T0)
    assert b.position("A", "BTC") == -1
    slot = b.snapshot()["slots"][0][2]
    assert (D(slot["realized"]), D(slot["avg_price"])) == (D(10), D(110))
    # unrealized on the new short at mark 105 (bid 104 / ask 106): +5
    b.on_tick("BTC", 104, 106, T0)
    assert b.pnl()["A"] == D(15)


@pytest.mark.parametrize(
    ("qty", "bracket", "bid", "ask", "fires"),
    [
        ("1", Bracket(take_profit=D(110), stop_loss=D(95)), 109, 109.5, False),
        ("1", Bracket(take_profit=D(110), stop_loss=D(95)), 110, 110.5, True),
        ("1", Bracket(take_profit=D(110), stop_loss=D(95)), 95, 95.5, True),
        ("-1", Bracket(take_profit=D(90), stop_loss=D(105)), 104, 104.5, False),
        ("-1", Bracket(take_profit=D(90), stop_loss=D(105)), 104.5, 105, True),
        ("-1", Bracket(take_profit=D(90), stop_loss=D(105)), 89.5, 90, True),
    ],
)
def test_price_brackets_fire_from_ticks_and_set_the_target_to_zero(
    qty: str, bracket: Bracket, bid: float, ask: float, fires: bool
) -> None:
    b = book()
    (entry,) = b.on_intent(target("A", "BTC", qty, bracket=bracket), D(100), T0).submit
    b.on_venue_fill(vfill(entry, abs(D(qty)), "100"), T0)
    d = b.on_tick("BTC", bid, ask, T0 + NS)
    if not fires:
        assert d.submit == []
        assert b.target("A", "BTC") == D(qty)
        return
    assert kinds(d.risk_events) == [RiskKind.BRACKET.value]
    assert b.target("A", "BTC") == 0
    (exit_,) = d.submit
    assert exit_.request.qty * exit_.request.side.sign == -D(qty)


def test_time_stop_fires_after_its_seconds_since_entry() -> None:
    b = book()
    (entry,) = b.on_intent(target("A", "BTC", "1", bracket=Bracket(time_stop_s=120)), D(100), T0).submit
    b.on_venue_fill(vfill(entry, "1", "100"), T0)
    assert b.on_tick("BTC", 99, 101, T0 + 119 * NS).submit == []
    d = b.on_tick("BTC", 99, 101, T0 + 120 * NS)
    assert kinds(d.risk_events) == ["bracket"]
    assert d.submit[0].request.side is Side.SELL


def test_bracket_exit_nets_with_another_strategys_wish() -> None:
    b = book()
    tp = Bracket(take_profit=D(110))
    (entry,) = b.on_intent(target("A", "BTC", "1", bracket=tp), D(100), T0).submit
    b.on_venue_fill(vfill(entry, "1", "100"), T0)
    b.on_intent(target("B", "BTC", "0"), D(100), T0)
    (buy_b,) = b.on_intent(target("B", "BTC", "0.5"), None, T0).submit
    b.on_venue_fill(vfill(buy_b, "0.5", "100"), T0)
    b.on_intent(target("B", "BTC", "1"), None, T0)  # B wants 0.5 more; an order is out
    d = b.on_tick("BTC", 110, 110.2, T0)
    # A's exit of 1 meets B's open buy: the buy is canceled first, then they cross
    assert d.fills == []
    assert len(d.cancel) == 1
    (pending,) = [o for o in b.open_orders(T0) if o.side is Side.BUY]
    d = b.on_order_update(
        VenueOrder(pending.client_order_id, "v", "BTC", Side.BUY, OrderType.MARKET, D("0.5"), None,
                   OrderStatus.CANCELED, D(0), None),
        T0,
    )  # fmt: skip
    assert [(f.strategy, f.qty * f.side.sign) for f in d.fills] == [
        ("A", D("-0.5")),
        ("B", D("0.5")),
    ]
    (sell,) = d.submit
    assert (sell.request.side, sell.request.qty) == (Side.SELL, D("0.5"))


def test_expiry_cancels_the_order_and_drops_the_unfilled_wish() -> None:
    b = book()
    style = OrderStyle(type=OrderType.LIMIT, limit_price=D(99), expire_after_s=120)
    (order,) = b.on_intent(target("A", "BTC", "1", style=style), D(100), T0).submit
    assert (order.request.type, order.expire_at_ns) == (OrderType.LIMIT, T0 + 120 * NS)
    b.mark_submitted(order.request.client_order_id, T0)
    b.on_venue_fill(vfill(order, "0.3", "99"), T0)
    assert b.on_clock(T0 + 119 * NS).cancel == []
    assert b.on_clock(T0 + 120 * NS).cancel == [order.request.client_order_id]
    d = b.on_order_update(vorder(order, OrderStatus.CANCELED, "0.3"), T0 + 121 * NS)
    assert d.order_updates[-1].status is OrderStatus.EXPIRED
    assert kinds(d.risk_events) == ["order_expired"]
    assert d.submit == []
    assert b.target("A", "BTC") == D("0.3") == b.position("A", "BTC")


def test_venue_reject_drops_the_wish_instead_of_retrying_forever() -> None:
    b = book()
    (order,) = b.on_intent(target("A", "BTC", "1"), D(100), T0).submit
    b.mark_submitted(order.request.client_order_id, T0)
    d = b.on_order_update(vorder(order, OrderStatus.REJECTED), T0)
    assert d.submit == []
    assert kinds(d.risk_events) == ["venue_rejected"]
    assert b.target("A", "BTC") == 0


def test_quotes_rest_are_replaced_on_change_and_their_fills_belong_to_the_quoter() -> None:
    b = book()
    d = b.on_intent(quotes("MM", "BTC", ("99", "1"), ("101", "1")), D(100), T0)
    bid, ask = d.submit
    assert (bid.owner, bid.request.type, bid.request.price) == ("MM", OrderType.LIMIT, D(99))
    assert (ask.request.side, ask.request.price) == (Side.SELL, D(101))
    # same quotes: nothing to do; new bid price: the old bid is canceled, a new one sent
    assert b.on_intent(quotes("MM", "BTC", ("99", "1"), ("101", "1")), D(100), T0).empty
    d = b.on_intent(quotes("MM", "BTC", ("99.5", "1"), ("101", "1")), D(100), T0)
    assert d.cancel == [bid.request.client_order_id]
    assert d.submit[0].request.price == D("99.5")
    new_bid = d.submit[0].request.client_order_id
    # a fill of the ask goes to MM only and is kept, not traded back
    d = b.on_venue_fill(vfill(ask, "0.4", "101"), T0)
    assert [(f.strategy, f.qty) for f in d.fills] == [("MM", D("0.4"))]
    assert d.submit == []
    assert b.position("MM", "BTC") == b.target("MM", "BTC") == D("-0.4")
    # disabling withdraws the quotes and trades the position back to zero
    d = b.set_enabled("MM", False, T0)
    assert sorted(d.cancel) == sorted([ask.request.client_order_id, new_bid])
    assert [(o.owner, o.request.side, o.request.qty) for o in d.submit] == [(NET, Side.BUY, D("0.4"))]
    assert kinds(b.on_intent(quotes("MM", "BTC", ("99", "1"), None), D(100), T0).risk_events) == [
        "strategy_disabled"
    ]


def sell_order(b: NettingBook, coid: str) -> NewOrder:
    (u,) = [o for o in b.open_orders(T0) if o.client_order_id == coid]
    req = OrderRequest(coid, u.symbol, u.side, u.qty, u.type, u.price)
    return NewOrder(u.owner, u.venue, req)


def test_kill_switch_cancels_everything_and_flattens_netting_internally_first() -> None:
    b = book()
    (a,) = b.on_intent(target("A", "BTC", "1"), D(100), T0).submit
    b.on_venue_fill(vfill(a, "1", "100"), T0)
    (s,) = b.on_intent(target("B", "BTC", "-0.4"), D(100), T0).submit  # no cross: A is done
    b.on_venue_fill(vfill(s, "0.4", "100"), T0)
    (open_,) = b.on_intent(target("A", "BTC", "2"), D(100), T0).submit
    d = b.kill(flatten=True, now=T0, reason="ops")
    assert d.cancel == [open_.request.client_order_id]
    assert d.submit == []
    # B's short of 0.4 crosses A's long at once; venue orders wait for the cancel
    assert [(f.strategy, f.qty * f.side.sign) for f in d.fills] == [
        ("A", D("-0.4")),
        ("B", D("0.4")),
    ]
    assert kinds(b.on_intent(target("A", "BTC", "3"), D(100), T0).risk_events) == ["kill_switch"]
    d = b.on_order_update(vorder(open_, OrderStatus.CANCELED), T0)
    # the rest of A's long, 0.6, is sold on the venue (a reducing order passes the kill switch)
    (flat,) = d.submit
    assert (flat.request.side, flat.request.qty) == (Side.SELL, D("0.6"))


def test_kill_without_flatten_blocks_new_orders() -> None:
    b = book()
    b.kill(flatten=False, now=T0)
    assert kinds(b.on_intent(target("A", "BTC", "1"), D(100), T0).risk_events) == ["kill_switch"]
    assert b.on_intent(target("A", "BTC", "1"), D(100), T0).submit == []


def test_order_quantity_is_rounded_down_to_the_instrument_and_the_rest_stays_residual() -> None:
    inst = Instrument("BTC", "BTC", "USD", D("0.01"), D("0.01"), D("0.05"))
    b = NettingBook("sim", limits(), instruments={"BTC": inst})
    (order,) = b.on_intent(target("A", "BTC", "0.123"), D(100), T0).submit
    assert order.request.qty == D("0.12")
    assert b.on_intent(target("B", "BTC", "0.03"), D(100), T0).submit == []  # below min_size


def test_duplicate_intent_id_is_rejected() -> None:
    b = book()
    b.on_intent(target("A", "BTC", "1", intent_id="same"), D(100), T0)
    d = b.on_intent(target("A", "BTC", "2", intent_id="same"), D(100), T0)
    assert kinds(d.risk_events) == ["duplicate_intent"]
    assert b.target("A", "BTC") == 1


def test_a_redelivered_intent_behind_a_newer_one_is_refused_even_after_a_restore() -> None:
    """A crashed instance's unstored intents come back after the ack wait, behind newer ones."""
    b = book()
    b.on_intents([(target("A", "BTC", "3"), D(100))], T0, [(11, False)])
    d = b.on_intents([(target("A", "BTC", "1"), D(100))], T0, [(10, True)])
    assert kinds(d.risk_events) == ["stale_intent"] and d.submit == []
    assert b.target("A", "BTC") == 3
    # another strategy (or symbol) has its own newest; a redelivery that is not behind passes
    assert b.on_intents([(target("B", "BTC", "1"), D(100))], T0, [(9, True)]).risk_events == []
    assert b.on_intents([(target("A", "BTC", "2"), D(100))], T0, [(12, True)]).risk_events == []
    assert b.target("A", "BTC") == 2
    # a first delivery is in stream order whatever its number (a stream made anew starts at 1)
    assert b.on_intents([(target("A", "BTC", "4"), D(100))], T0, [(1, False)]).risk_events == []
    assert b.target("A", "BTC") == 4
    r = NettingBook.restore(json.loads(json.dumps(b.snapshot())), limits())
    d = r.on_intents([(target("A", "BTC", "0"), D(100))], T0, [(0, True)])
    assert kinds(d.risk_events) == ["stale_intent"]
    # a snapshot from before the sequence was kept restores with nothing to compare
    data = b.snapshot()
    for _, _, slot in data["slots"]:
        del slot["intent_seq"]
    old = NettingBook.restore(data, limits())
    assert old.on_intents([(target("A", "BTC", "0"), D(100))], T0, [(0, True)]).risk_events == []


def test_daily_loss_disables_the_strategy_and_drawdown_switches_to_reduce_only() -> None:
    b = book(daily_loss_limit=D(50), max_drawdown=D(80))
    (order,) = b.on_intent(target("A", "BTC", "10"), D(100), T0).submit
    b.on_venue_fill(vfill(order, "10", "100"), T0)
    assert b.on_tick("BTC", 96, 96, T0).risk_events == []  # -40
    d = b.on_tick("BTC", 95, 95, T0)  # -50
    assert kinds(d.risk_events) == ["daily_loss"]
    assert not b.enabled("A")
    assert b.target("A", "BTC") == 0
    assert d.submit[0].request.side is Side.SELL
    d = b.on_tick("BTC", 92, 92, T0)  # -80 below the peak of 0
    assert "drawdown" in kinds(d.risk_events)
    assert b.reduce_only
    (sell,) = [o for o in b.open_orders(T0) if o.side is Side.SELL]
    b.on_venue_fill(vfill(sell_order(b, sell.client_order_id), "10", "92"), T0)
    assert b.venue_position("BTC") == 0
    d = b.on_intent(target("B", "BTC", "1"), D(92), T0)
    assert "reduce_only" in kinds(d.risk_events)


def test_snapshot_restore_round_trip_keeps_everything() -> None:
    b = book()
    b.on_intent(target("A", "BTC", "1", bracket=Bracket(stop_loss=D(90))), D(100), T0)
    b.on_intent(quotes("MM", "ETH", ("19", "1"), ("21", "1")), D(20), T0)
    data = json.loads(json.dumps(b.snapshot()))
    r = NettingBook.restore(data, limits())
    assert r.snapshot() == b.snapshot()
    # the sequence continues: the next order id is new
    ids = {o.client_order_id for o in b.open_orders(T0)}
    (nxt,) = r.on_intent(target("B", "BTC", "1"), D(100), T0).submit
    assert nxt.request.client_order_id not in ids


def test_restore_names_a_missing_key() -> None:
    data = book().snapshot()
    del data["orders"]
    with pytest.raises(ValueError, match="'orders'"):
        NettingBook.restore(data, limits())


def test_reconcile_books_drift_cancels_foreign_orders_and_looks_up_missing_ones() -> None:
    b = book()
    (mine,) = b.on_intent(target("A", "BTC", "1"), D(100), T0).submit
    foreign = VenueOrder("other-7", "v9", "BTC", Side.BUY, OrderType.LIMIT, D(1), D(90),
                         OrderStatus.ACKED, D(0), None)  # fmt: skip
    d = b.reconcile({"BTC": D("0.25")}, [foreign], T0)
    assert d.cancel == ["other-7"]
    assert d.lookup == [mine.request.client_order_id]
    assert sorted(kinds(d.risk_events)) == ["foreign_order", "reconcile_drift"]
    assert b.position(UNATTRIBUTED, "BTC") == D("0.25") == b.venue_position("BTC")
    # the lookup says the order never reached the venue: it is rejected and re-planned
    d = b.on_order_not_found(mine.request.client_order_id, T0)
    assert d.order_updates[0].status is OrderStatus.REJECTED
    (again,) = d.submit
    assert again.request.client_order_id != mine.request.client_order_id
    assert again.request.qty == 1  # A still wants 1; the unattributed 0.25 is held apart


def test_illegal_venue_update_is_ignored_not_fatal() -> None:
    b = book()
    (order,) = b.on_intent(target("A", "BTC", "1"), D(100), T0).submit
    b.on_venue_fill(vfill(order, "1", "100"), T0)
    # the order was retired once filled; a late ACK for it is stale and ignored
    assert b.on_order_update(vorder(order, OrderStatus.ACKED), T0).empty


def test_bad_tick_and_bad_fill_raise_clear_errors() -> None:
    b = book()
    with pytest.raises(ValueError, match="bid <= ask"):
        b.on_tick("BTC", 101, 100, T0)
    (order,) = b.on_intent(target("A", "BTC", "1"), D(100), T0).submit
    with pytest.raises(ValueError, match="liquidity"):
        b.on_venue_fill(vfill(order, "1", "100").__class__(
            "f", "v", order.request.client_order_id, "BTC", Side.BUY, D(1), D(100), D(0), "??", T0
        ), T0)  # fmt: skip


def test_limit_prices_are_put_on_the_tick_grid_never_more_aggressive() -> None:
    from services.execution.core import NettingBook
    from tradebus.venues.base import Instrument

    inst = Instrument("BTC-USD", "BTC", "USD", D("0.01"), D("0.0001"), D("0.0001"))
    b = NettingBook("sim", limits(), instruments={"BTC-USD": inst})
    b.on_tick("BTC-USD", 99.99, 100.01, T0)
    d = b.on_intent(quotes("mm", "BTC-USD", ("99.98765", "0.5"), ("100.01234", "0.5")), None, T0)
    prices = {n.request.side.value: n.request.price for n in d.submit}
    assert prices == {"buy": D("99.98"), "sell": D("100.02")}
    # the same quotes again (off-grid as before) leave the resting orders alone: no churn
    again = b.on_intent(quotes("mm", "BTC-USD", ("99.98765", "0.5"), ("100.01234", "0.5")), None, T0 + 1)
    assert again.submit == []
    assert again.cancel == []


def _bracketed_books() -> tuple[NettingBook, NettingBook]:
    books = []
    for _ in range(2):
        b = book(daily_loss_limit=D(1000))
        stop = Bracket(stop_loss=D(95), time_stop_s=60)
        (entry,) = b.on_intent(target("A", "BTC", "1", bracket=stop, intent_id="e1"), D(100), T0).submit
        b.on_venue_fill(vfill(entry, "1", "100", fid="f1"), T0)
        b.on_intent(target("B", "ETH", "2", intent_id="e2"), D(50), T0)
        books.append(b)
    return books[0], books[1]


def test_a_batch_of_ticks_fires_a_bracket_touched_by_a_tick_in_the_middle() -> None:
    b, _ = _bracketed_books()
    ticks = [
        ("BTC", 99.0, 101.0, T0 + NS),
        ("BTC", 94.0, 95.0, T0 + 2 * NS),
        ("BTC", 99.0, 101.0, T0 + 3 * NS),
    ]
    d = b.on_ticks(ticks)
    assert kinds(d.risk_events) == ["bracket"]
    assert b.target("A", "BTC") == 0


def test_a_batch_of_ticks_ends_where_the_same_ticks_one_by_one_end() -> None:
    batch, single = _bracketed_books()
    ticks = [
        ("ETH", 49.0, 51.0, T0 + NS),
        ("BTC", 99.0, 101.0, T0 + 30 * NS),
        ("BTC", 98.0, 99.0, T0 + 61 * NS),
    ]
    d = batch.on_ticks(ticks)
    one = [single.on_tick(*t) for t in ticks]
    assert batch.snapshot() == single.snapshot()
    # the time stop (60 s) fired in both, once
    assert kinds(d.risk_events) == [k for x in one for k in kinds(x.risk_events)] == ["bracket"]
    assert [s.request for s in d.submit] == [s.request for x in one for s in x.submit]


def test_fills_of_one_venue_batch_are_checked_against_the_loss_limit_once_at_its_end() -> None:
    """Three losing fills booked one by one trip the daily loss limit at the second; booked as
    one batch they trip it once, after the third, and leave the book where the one-by-one path
    does (the strategy disabled, its position closed by one order)."""

    def losing(batched: bool) -> tuple[NettingBook, list[str], list[NewOrder]]:
        b = book(daily_loss_limit=D(50))
        (buy,) = b.on_intent(target("A", "BTC", "3"), D(100), T0).submit
        prices = ("100", "80", "60")  # each fill bought above the 60 mark
        b.on_tick("BTC", 60, 60, T0)
        out = Decision()
        fills = [vfill(buy, "1", px) for px in prices]
        if batched:
            with b.one_loss_check(T0, out):
                for f in fills:
                    out.merge(b.on_venue_fill(f, T0))
        else:
            for f in fills:
                out.merge(b.on_venue_fill(f, T0))
        return b, kinds(out.risk_events), out.submit

    one_by_one, events_each, submits_each = losing(batched=False)
    batch, events_batch, submits_batch = losing(batched=True)
    assert events_each.count("daily_loss") == events_batch.count("daily_loss") == 1
    assert not one_by_one.enabled("A") and not batch.enabled("A")
    assert batch.target("A", "BTC") == one_by_one.target("A", "BTC") == 0
    assert [n.request.qty for n in submits_batch] == [D(3)]  # the whole position, in one order
    assert sum((n.request.qty for n in submits_each), D(0)) >= D(2)
    assert batch.pnl() == one_by_one.pnl()
