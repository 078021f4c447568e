from __future__ import annotations

from collections import defaultdict
from decimal import Decimal
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from proto import OrderType, Side
from tradebus.venues.base import OrderNotFound, OrderRequest
from tradebus.venues.sim.config import EngineConfig
from tradebus.venues.sim.engine import SimEngine

START = 1_800_000_000 * 1_000_000_000
SEC = 1_000_000_000
SYMBOLS = ("BTC-USD", "SOL-USD")

submit_op = st.tuples(
    st.just("submit"),
    st.sampled_from([f"c{i}" for i in range(8)]),  # a small pool forces repeated ids
    st.sampled_from(SYMBOLS),
    st.sampled_from(list(Side)),
    st.sampled_from(list(OrderType)),
    st.integers(1, 400),  # qty in min sizes
    st.integers(-30, 30),  # limit price offset from mid in book levels
)
advance_op = st.tuples(st.just("advance"), st.integers(1, 120_000))  # ms
cancel_op = st.tuples(st.just("cancel"), st.sampled_from([f"c{i}" for i in range(8)]))
ops = st.lists(st.one_of(submit_op, advance_op, cancel_op), max_size=40)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(ops=ops, seed=st.integers(0, 1000))
def test_money_is_conserved_and_client_ids_never_duplicate(ops: list[tuple[Any, ...]], seed: int) -> None:
    cfg = EngineConfig(seed=seed, history_s=0, accounts=("a",))
    eng = SimEngine(cfg, START)
    first_venue_id: dict[str, str] = {}
    for op in ops:
        if op[0] == "advance":
            eng.advance(eng.now_ns + op[1] * 1_000_000)
        elif op[0] == "cancel":
            try:
                eng.cancel("a", op[1])
            except OrderNotFound:
                assert op[1] not in first_venue_id
        else:
            _, cid, symbol, side, kind, units, offset = op
            inst = next(i for i in eng.instruments if i.symbol == symbol)
            price = None
            if kind is not OrderType.MARKET:
                step = (eng.mark(symbol) * Decimal("0.0001")).quantize(inst.price_increment)
                raw = eng.mark(symbol) + offset * max(step, inst.price_increment)
                price = (raw / inst.price_increment).to_integral_value() * inst.price_increment
            order, _ = eng.submit("a", OrderRequest(cid, symbol, side, units * inst.min_size, kind, price))
            first_venue_id.setdefault(cid, order.venue_order_id)
            assert order.venue_order_id == first_venue_id[cid]

    fills = eng.fills("a")
    # cash moved by exactly the signed notional and the fees of the fills
    spent = sum((f.qty * f.price * f.side.sign for f in fills), Decimal(0))
    fees = sum((f.fee for f in fills), Decimal(0))
    view = eng.account("a")
    assert view.cash == cfg.starting_cash - spent - fees
    # positions are the signed sum of fills; equity is cash plus positions at the mark
    qty: dict[str, Decimal] = defaultdict(Decimal)
    for f in fills:
        qty[f.symbol] += f.qty * f.side.sign
    for symbol in SYMBOLS:
        assert eng.position("a", symbol).qty == qty[symbol]
    pnl = sum((f.qty * f.side.sign * (eng.mark(f.symbol) - f.price) for f in fills), Decimal(0))
    assert view.equity == cfg.starting_cash + pnl - fees
    # every order's fills add up to its filled qty, never above its qty
    by_order: dict[str, Decimal] = defaultdict(Decimal)
    for f in fills:
        by_order[f.client_order_id] += f.qty
    assert len({f.venue_fill_id for f in fills}) == len(fills)
    for cid in first_venue_id:
        order = eng.order("a", cid)
        assert order.filled_qty == by_order[cid] <= order.qty
        assert order.status.terminal or order.filled_qty < order.qty
    assert len(eng.open_orders("a")) <= len(first_venue_id)
