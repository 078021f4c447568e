from __future__ import annotations

from decimal import Decimal

import pytest

from proto import OrderStatus, OrderType, Side
from tradebus.venues.base import OrderNotFound, OrderRequest, VenueFill, VenueOrder
from tradebus.venues.sim.config import EngineConfig
from tradebus.venues.sim.engine import OrderRejected, SimEngine

START = 1_800_000_000 * 1_000_000_000
SEC = 1_000_000_000
CFG = EngineConfig(history_s=600, accounts=("a", "b"))


def _engine() -> SimEngine:
    return SimEngine(CFG, START)


def _mkt(cid: str, side: Side, qty: str, symbol: str = "BTC-USD") -> OrderRequest:
    return OrderRequest(cid, symbol, side, Decimal(qty))


def _lim(cid: str, side: Side, qty: str, price: Decimal, kind: OrderType = OrderType.LIMIT) -> OrderRequest:
    return OrderRequest(cid, "BTC-USD", side, Decimal(qty), kind, price)


def _fills(events: list[tuple[str, VenueOrder | VenueFill]]) -> list[VenueFill]:
    return [e for _, e in events if isinstance(e, VenueFill)]


def test_market_buy_takes_the_ask_pays_taker_fee_and_moves_cash_exactly() -> None:
    eng = _engine()
    ask = eng.book("BTC-USD", 1).asks[0][0]
    cash0 = eng.account("a").cash
    order, events = eng.submit("a", _mkt("m1", Side.BUY, "0.01"))
    fills = _fills(events)
    assert order.status is OrderStatus.FILLED
    assert [f.price for f in fills] == [ask]
    fill = fills[0]
    assert fill.liquidity == "taker"
    assert fill.fee == (Decimal("0.01") * ask * CFG.taker_fee).quantize(Decimal("1e-8"))
    assert eng.account("a").cash == cash0 - Decimal("0.01") * ask - fill.fee
    assert eng.position("a", "BTC-USD").qty == Decimal("0.01")
    assert order.avg_price == ask
    # the last event is the order's final state
    assert events[-1] == ("a", order)


def test_market_order_walks_levels_and_cancels_what_the_book_cannot_fill() -> None:
    eng = _engine()
    levels = eng.book("BTC-USD", CFG.book_levels).asks
    assert len(levels) == CFG.book_levels
    depth = sum(q for _, q in levels)
    order, events = eng.submit("a", _mkt("big", Side.BUY, "1000"))
    fills = _fills(events)
    assert order.status is OrderStatus.CANCELED
    assert order.filled_qty == depth
    assert [(f.price, f.qty) for f in fills] == levels
    prices = [f.price for f in fills]
    assert prices == sorted(prices)


def test_liquidity_taken_in_a_step_is_gone_until_the_next_step() -> None:
    eng = _engine()
    top_price, top_qty = eng.book("BTC-USD", 1).asks[0]
    _, ev1 = eng.submit("a", OrderRequest("t1", "BTC-USD", Side.BUY, top_qty))
    _, ev2 = eng.submit("a", OrderRequest("t2", "BTC-USD", Side.BUY, top_qty))
    assert _fills(ev1)[0].price == top_price
    assert all(f.price > top_price for f in _fills(ev2))
    eng.advance(eng.now_ns + SEC)
    refreshed = eng.book("BTC-USD", 1).asks[0]
    assert refreshed[1] >= top_qty * 0  # the top level exists again with a size
    _, ev3 = eng.submit("a", OrderRequest("t3", "BTC-USD", Side.BUY, top_qty))
    assert _fills(ev3)[0].price == refreshed[0]


def test_sell_from_flat_opens_a_short_and_credits_cash() -> None:
    eng = _engine()
    bid = eng.book("BTC-USD", 1).bids[0][0]
    cash0 = eng.account("a").cash
    _, events = eng.submit("a", _mkt("s1", Side.SELL, "0.1"))
    [fill] = _fills(events)
    pos = eng.position("a", "BTC-USD")
    assert pos.qty == Decimal("-0.1")
    assert pos.avg_price == bid
    assert eng.account("a").cash == cash0 + Decimal("0.1") * bid - fill.fee


def test_resubmitting_a_client_order_id_returns_the_existing_order() -> None:
    eng = _engine()
    first, ev = eng.submit("a", _mkt("dup", Side.BUY, "0.01"))
    again, ev2 = eng.submit("a", _mkt("dup", Side.SELL, "3"))
    assert again == first
    assert ev2 == []
    assert len(eng.fills("a")) == len(_fills(ev))
    # another account may use the same client id for its own order
    other, _ = eng.submit("b", _mkt("dup", Side.SELL, "0.02"))
    assert other.venue_order_id != first.venue_order_id
    assert eng.position("a", "BTC-USD").qty == Decimal("0.01")


def test_limit_below_the_bid_rests_shows_in_the_book_then_fills_as_maker() -> None:
    eng = _engine()
    bid = eng.book("BTC-USD", 1).bids[0][0]
    price = bid - Decimal("5.00")
    order, events = eng.submit("a", _lim("l1", Side.BUY, "0.01", price))
    assert order.status is OrderStatus.ACKED
    assert _fills(events) == []
    assert [o.client_order_id for o in eng.open_orders("a")] == ["l1"]
    assert (price, Decimal("0.01")) in eng.book("BTC-USD", 40).bids
    fills: list[VenueFill] = []
    deadline = eng.now_ns + 6 * 3600 * SEC
    while not fills and eng.now_ns < deadline:
        fills = _fills(eng.advance(eng.now_ns + SEC).account)
    assert fills, "the price never came down to the limit within six sim hours"
    assert fills[0].price == price
    assert fills[0].liquidity == "maker"
    assert fills[0].fee == (Decimal("0.01") * price * CFG.maker_fee).quantize(Decimal("1e-8"))
    assert eng.order("a", "l1").status is OrderStatus.FILLED
    assert eng.open_orders("a") == []


def test_a_large_resting_order_fills_partially_per_step() -> None:
    eng = _engine()
    unit = eng.book("BTC-USD", 1).asks[0][1]
    ask = eng.book("BTC-USD", 1).asks[0][0]
    qty = unit * 50
    order, events = eng.submit("a", _lim("big", Side.BUY, str(qty), ask))
    # crosses: takes the top ask level only (limit = ask), rests the remainder at the ask
    assert [f.qty for f in _fills(events)] == [unit]
    assert order.status is OrderStatus.PARTIALLY_FILLED
    assert eng.order("a", "big") in eng.open_orders("a")
    seen = order.filled_qty
    deadline = eng.now_ns + 3 * 3600 * SEC
    while eng.now_ns < deadline:
        eng.advance(eng.now_ns + CFG.step_ms * 1_000_000)
        now = eng.order("a", "big")
        assert now.filled_qty >= seen
        seen = now.filled_qty
        if seen > unit:
            break
    assert unit < seen < qty


def test_post_only_that_would_cross_is_rejected_and_stays_rejected() -> None:
    eng = _engine()
    ask = eng.book("BTC-USD", 1).asks[0][0]
    order, _ = eng.submit("a", _lim("p1", Side.BUY, "0.01", ask, OrderType.POST_ONLY))
    assert order.status is OrderStatus.REJECTED
    assert "post-only" in order.reason
    assert eng.fills("a") == []
    assert eng.open_orders("a") == []
    below = eng.book("BTC-USD", 1).bids[0][0]
    ok, _ = eng.submit("a", _lim("p2", Side.BUY, "0.01", below, OrderType.POST_ONLY))
    assert ok.status is OrderStatus.ACKED


def test_cancel_removes_a_resting_order_and_is_idempotent() -> None:
    eng = _engine()
    price = eng.book("BTC-USD", 1).bids[0][0] - Decimal(100)
    eng.submit("a", _lim("c1", Side.BUY, "0.02", price))
    canceled, events = eng.cancel("a", "c1")
    assert canceled.status is OrderStatus.CANCELED
    assert events == [("a", canceled)]
    assert eng.open_orders("a") == []
    assert all(p != price for p, _ in eng.book("BTC-USD", 40).bids)
    again, events2 = eng.cancel("a", "c1")
    assert again == canceled
    assert events2 == []
    with pytest.raises(OrderNotFound):
        eng.cancel("a", "nope")
    with pytest.raises(OrderNotFound):
        eng.cancel("b", "c1")


@pytest.mark.parametrize(
    ("req", "words"),
    [
        (OrderRequest("x", "DOGE-USD", Side.BUY, Decimal(1)), "symbol"),
        (OrderRequest("x", "BTC-USD", Side.BUY, Decimal("0.00001")), "min_size"),
        (OrderRequest("x", "BTC-USD", Side.BUY, Decimal("0.000123")), "size_increment"),
        (OrderRequest("x", "BTC-USD", Side.BUY, Decimal(-1)), "qty"),
        (OrderRequest("x", "BTC-USD", Side.BUY, Decimal(1), OrderType.LIMIT), "price"),
        (
            OrderRequest("x", "BTC-USD", Side.BUY, Decimal(1), OrderType.LIMIT, Decimal("1.001")),
            "price_increment",
        ),
        (OrderRequest("x", "BTC-USD", Side.BUY, Decimal(1), OrderType.MARKET, Decimal(1)), "price"),
        (OrderRequest("", "BTC-USD", Side.BUY, Decimal(1)), "client_order_id"),
    ],
)
def test_bad_requests_are_rejected_naming_the_field_and_store_nothing(req: OrderRequest, words: str) -> None:
    eng = _engine()
    with pytest.raises(OrderRejected, match=words):
        eng.submit("a", req)
    with pytest.raises(OrderNotFound):
        eng.order("a", req.client_order_id)


def test_fills_since_filters_by_time() -> None:
    eng = _engine()
    eng.submit("a", _mkt("f1", Side.BUY, "0.01"))
    eng.advance(eng.now_ns + 5 * SEC)
    t = eng.now_ns
    eng.submit("a", _mkt("f2", Side.SELL, "0.01"))
    assert [f.client_order_id for f in eng.fills("a")] == ["f1", "f2"]
    assert [f.client_order_id for f in eng.fills("a", since=t)] == ["f2"]
    assert eng.fills("a", since=t + 1) == []


def test_equity_marks_positions_at_mid() -> None:
    eng = _engine()
    eng.submit("a", _mkt("e1", Side.BUY, "1"))
    eng.submit("a", _mkt("e2", Side.SELL, "10", symbol="ETH-USD"))
    view = eng.account("a")
    expected = view.cash + Decimal(1) * eng.mark("BTC-USD") - Decimal(10) * eng.mark("ETH-USD")
    assert view.equity == expected
    assert set(view.positions) == {"BTC-USD", "ETH-USD"}
