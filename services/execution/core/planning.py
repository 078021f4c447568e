"""Pure arithmetic of netting: crossing opposite wishes and splitting an order among strategies.

Attribution order is always *strategy name, ascending* (plain `sorted` on the names). The same
state therefore yields the same crossings, the same order plans and the same fill allocations.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from decimal import ROUND_DOWN, ROUND_UP, Decimal

from proto import Side
from services.execution.core.orders import PlanEntry

ZERO = Decimal(0)


def round_down(qty: Decimal, increment: Decimal) -> Decimal:
    """`qty` (>= 0) rounded down to a multiple of `increment` (> 0)."""
    if increment <= 0:
        raise ValueError(f"size increment must be > 0, got {increment}")
    return (qty / increment).to_integral_value(rounding=ROUND_DOWN) * increment


def round_price(price: Decimal, increment: Decimal, side: Side) -> Decimal:
    """A limit price on the venue's tick grid, never more aggressive than asked: a buy is
    rounded down, a sell up."""
    if increment <= 0:
        raise ValueError(f"price increment must be > 0, got {increment}")
    mode = ROUND_DOWN if side is Side.BUY else ROUND_UP
    return (price / increment).to_integral_value(rounding=mode) * increment


def cross(deltas: Mapping[str, Decimal]) -> tuple[dict[str, Decimal], dict[str, Decimal]]:
    """Cross buyers against sellers. Returns (signed internal fill per strategy, rest).

    The crossed amount is min(total buy, total sell). Buyers take their share in name order,
    and so do sellers; after crossing, every remaining delta has the same sign (or is zero).
    """
    if len(deltas) < 2:  # one strategy: nothing to cross (the general case gives the same)
        return {}, dict(deltas)
    names = sorted(deltas)
    buy = sum((deltas[n] for n in names if deltas[n] > 0), ZERO)
    sell = -sum((deltas[n] for n in names if deltas[n] < 0), ZERO)
    amount = min(buy, sell)
    fills: dict[str, Decimal] = {}
    rest = dict(deltas)
    if amount <= 0:
        return fills, rest
    for sign in (1, -1):
        left = amount
        for n in names:
            d = deltas[n] * sign
            if d <= 0 or left <= 0:
                continue
            take = min(d, left)
            fills[n] = take * sign
            rest[n] = deltas[n] - take * sign
            left -= take
    return fills, rest


def allocate(qty: Decimal, wants: Sequence[tuple[str, Decimal]]) -> list[PlanEntry]:
    """Split `qty` over `wants` (unsigned amounts) in name order, each up to its want."""
    plan: list[PlanEntry] = []
    left = qty
    for name, want in sorted(wants):
        take = min(want, left)
        if take > 0:
            plan.append(PlanEntry(name, take))
            left -= take
    return plan
