"""The chaos run's judge: lost fills, duplicated orders and drift are found, and a consistent
state is clean (including venue fills split over strategies and internal crosses)."""

from __future__ import annotations

from decimal import Decimal

from hypothesis import given
from hypothesis import strategies as st

from chaos.verdict import Booked, OrderShape, VenueFill, Views, judge

D = Decimal


def consistent(
    splits: list[tuple[str, str, list[Decimal]]],
) -> tuple[list[VenueFill], list[Booked], list[OrderShape], Views]:
    """Venue fills (one per order), each split over strategies in the ledger, plus one internal
    cross; every view agrees."""
    fills, rows, shapes = [], [], []
    per: dict[str, dict[str, Decimal]] = {}
    venue: dict[str, Decimal] = {}
    for n, (symbol, side, parts) in enumerate(splits):
        qty = sum(parts, D(0))
        cid = f"tb-{n}"
        fills.append(VenueFill(f"v{n}", cid, symbol, side, qty))
        shapes.append(OrderShape(cid, symbol, side, qty, None))
        sgn = 1 if side == "buy" else -1
        venue[symbol] = venue.get(symbol, D(0)) + sgn * qty
        for i, part in enumerate(parts):
            strategy = f"s{i}"
            rows.append(Booked(strategy, symbol, side, part, False, f"v{n}"))
            per.setdefault(strategy, {})[symbol] = per.get(strategy, {}).get(symbol, D(0)) + sgn * part
    # an internal cross: s0 buys 1 from s1, no venue fill, nets out
    rows += [
        Booked("s0", "BTC-USD", "buy", D(1), True, None),
        Booked("s1", "BTC-USD", "sell", D(1), True, None),
    ]
    per.setdefault("s0", {})["BTC-USD"] = per.get("s0", {}).get("BTC-USD", D(0)) + 1
    per.setdefault("s1", {})["BTC-USD"] = per.get("s1", {}).get("BTC-USD", D(0)) - 1
    return fills, rows, shapes, Views(venue=venue, strategies=per, gateway_venue=dict(venue))


splits_st = st.lists(
    st.tuples(
        st.sampled_from(["BTC-USD", "ETH-USD"]),
        st.sampled_from(["buy", "sell"]),
        st.lists(st.decimals(min_value=D("0.01"), max_value=D(5), places=2), min_size=1, max_size=3),
    ),
    min_size=1,
    max_size=12,
)


@given(splits_st)
def test_a_consistent_run_is_clean(splits: list[tuple[str, str, list[Decimal]]]) -> None:
    verdict = judge(*consistent(splits))
    assert verdict.clean, verdict


@given(splits_st, st.data())
def test_a_missing_ledger_row_is_a_lost_fill_and_drift(
    splits: list[tuple[str, str, list[Decimal]]], data: st.DataObject
) -> None:
    fills, rows, shapes, views = consistent(splits)
    venue_rows = [i for i, r in enumerate(rows) if not r.internal]
    gone = data.draw(st.sampled_from(venue_rows))
    verdict = judge(fills, rows[:gone] + rows[gone + 1 :], shapes, views)
    assert verdict.fills_lost == [rows[gone].venue_fill_id]
    assert verdict.drift == rows[gone].qty


def test_a_fill_booked_twice_is_a_duplicate() -> None:
    fills, rows, shapes, views = consistent([("BTC-USD", "buy", [D(1)])])
    verdict = judge(fills, [*rows, rows[0]], shapes, views)
    assert any("v0 booked 2 > 1" in d for d in verdict.duplicates)
    assert verdict.drift == 1


def test_one_client_order_id_with_two_shapes_is_a_duplicate_order() -> None:
    fills, rows, shapes, views = consistent([("BTC-USD", "buy", [D(1)])])
    again = OrderShape("tb-0", "BTC-USD", "buy", D(2), None)
    assert judge(fills, rows, [*shapes, again], views).duplicates == ["order tb-0 has 2 shapes"]


def test_a_venue_order_the_book_never_made_or_overfilled_is_a_duplicate() -> None:
    fills, rows, shapes, views = consistent([("BTC-USD", "buy", [D(1)])])
    stray = VenueFill("v9", "tb-9", "BTC-USD", "buy", D(1))
    assert "venue order tb-9 the book never created" in judge([*fills, stray], rows, shapes, views).duplicates
    over = VenueFill("v8", "tb-0", "BTC-USD", "buy", D(1))
    assert "order tb-0 filled 2 > its size 1" in judge([*fills, over], rows, shapes, views).duplicates


def test_strategies_that_do_not_add_up_to_the_venue_are_drift() -> None:
    fills, rows, shapes, views = consistent([("ETH-USD", "sell", [D("0.5"), D("0.25")])])
    s0 = {**views.strategies["s0"], "ETH-USD": D("-0.4")}
    skewed = Views(views.venue, {**views.strategies, "s0": s0}, views.gateway_venue)
    verdict = judge(fills, rows, shapes, skewed)
    assert verdict.drift == D("0.1")
    assert verdict.drift_detail["ETH-USD"]["strategies"] == D("-0.65")
