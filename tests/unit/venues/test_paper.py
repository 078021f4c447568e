"""Paper fills (the dry-run core): money is conserved and the fill rules hold on any quote path."""

from __future__ import annotations

from decimal import Decimal

from hypothesis import given
from hypothesis import strategies as st

from proto import OrderStatus, OrderType, Side
from tradebus.venues.base import Instrument, OrderRequest
from tradebus.venues.paper import PaperAccount

INST = Instrument("X-USD", "X", "USD", Decimal("0.01"), Decimal("0.001"), Decimal("0.001"))
prices = st.integers(9_000, 11_000).map(lambda k: Decimal(k) / 100)
orders = st.tuples(
    st.sampled_from([Side.BUY, Side.SELL]),
    st.integers(1, 5000).map(lambda k: Decimal(k) / 1000),
    st.sampled_from([OrderType.MARKET, OrderType.LIMIT, OrderType.POST_ONLY]),
    prices,
)


@given(
    quotes=st.lists(st.tuples(prices, st.integers(1, 50)), min_size=1, max_size=30),
    reqs=st.lists(orders, max_size=20),
)
def test_cash_moves_by_fills_and_fees_only(
    quotes: list[tuple[Decimal, int]], reqs: list[tuple[Side, Decimal, OrderType, Decimal]]
) -> None:
    acct = PaperAccount("v", {"X-USD": INST}, cash=Decimal(1000))
    for k, (bid, spread) in enumerate(quotes):
        ask = bid + Decimal(spread) / 100
        acct.on_quote("X-USD", bid, ask, k)
        if k < len(reqs):
            side, qty, kind, price = reqs[k]
            order, _ = acct.submit(
                OrderRequest(f"o{k}", "X-USD", side, qty, kind, None if kind is OrderType.MARKET else price),
                k,
            )
            touch = ask if side is Side.BUY else bid
            crosses = kind is OrderType.MARKET or (price >= touch if side is Side.BUY else price <= touch)
            if kind is OrderType.POST_ONLY and crosses:
                assert order.status is OrderStatus.REJECTED
            elif crosses:
                assert order.status is OrderStatus.FILLED and order.avg_price == touch
            else:
                assert order.status is OrderStatus.ACKED
    flows = sum(-(f.qty * f.side.sign * f.price) - f.fee for f in acct.fills)
    assert acct.cash == Decimal(1000) + flows
    assert acct.positions.get("X-USD", Decimal(0)) == sum(f.qty * f.side.sign for f in acct.fills)
    for f in acct.fills:
        o = acct.orders[f.client_order_id]
        if f.liquidity == "maker":
            assert f.price == o.price  # resting orders fill at their own price
