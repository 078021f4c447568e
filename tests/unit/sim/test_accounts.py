from __future__ import annotations

from decimal import Decimal as D

import pytest

from tradebus.venues.sim.accounts import Position, fee_of


@pytest.mark.parametrize(
    ("steps", "qty", "avg"),
    [
        ([("1", "100"), ("1", "110")], "2", "105"),  # adding: weighted average
        ([("2", "100"), ("-1", "120")], "1", "100"),  # reducing keeps the average
        ([("1", "100"), ("-1", "90")], "0", "0"),  # flat resets it
        ([("1", "100"), ("-3", "90")], "-2", "90"),  # flipping starts at the fill price
        ([("-1", "50"), ("-3", "70")], "-4", "65"),  # shorts average too
    ],
)
def test_average_cost_position(steps: list[tuple[str, str]], qty: str, avg: str) -> None:
    pos = Position()
    for q, p in steps:
        pos.apply(D(q), D(p))
    assert pos.qty == D(qty)
    assert pos.avg_price == D(avg)


def test_fee_rounds_half_up_to_the_quantum() -> None:
    assert fee_of(D("0.00001"), D("0.25"), D("0.0002")) == D("0.00000000")
    assert fee_of(D("0.001"), D("25"), D("0.0002")) == D("0.00000500")
    assert fee_of(D("1"), D("0.000000025"), D("1")) == D("0.00000003")
