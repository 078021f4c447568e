"""The money invariants of a chaos run (pure): from what the venue, execution, the gateway and
the ledger say, count lost fills, duplicated venue orders and position drift."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from decimal import Decimal

ZERO = Decimal(0)


@dataclass(frozen=True)
class VenueFill:
    fill_id: str
    client_order_id: str
    symbol: str
    side: str
    qty: Decimal


@dataclass(frozen=True)
class Booked:
    """One ledger row (a venue fill may be split over several strategies; a cross has no venue fill)."""

    strategy: str
    symbol: str
    side: str
    qty: Decimal
    internal: bool
    venue_fill_id: str | None


@dataclass(frozen=True)
class OrderShape:
    client_order_id: str
    symbol: str
    side: str
    qty: Decimal
    price: Decimal | None


@dataclass(frozen=True)
class Views:
    """Positions per symbol as each party sees them."""

    venue: Mapping[str, Decimal]
    #: execution's per-strategy positions (summed over strategies per symbol)
    strategies: Mapping[str, Mapping[str, Decimal]]
    #: the gateway's `venue` figure
    gateway_venue: Mapping[str, Decimal]


@dataclass
class Verdict:
    fills_lost: list[str] = field(default_factory=list)
    #: client order ids seen with two shapes, venue orders the book never created, orders filled
    #: over their size, venue fills booked more than once
    duplicates: list[str] = field(default_factory=list)
    #: the largest disagreement between any two position views, over all symbols
    drift: Decimal = ZERO
    drift_detail: dict[str, dict[str, Decimal]] = field(default_factory=dict)

    @property
    def clean(self) -> bool:
        return not self.fills_lost and not self.duplicates and self.drift == 0


def sign(side: str, qty: Decimal) -> Decimal:
    return qty if side == "buy" else -qty


def summed(per_strategy: Mapping[str, Mapping[str, Decimal]]) -> dict[str, Decimal]:
    out: dict[str, Decimal] = {}
    for positions in per_strategy.values():
        for symbol, qty in positions.items():
            out[symbol] = out.get(symbol, ZERO) + qty
    return out


def booked_positions(ledger: Iterable[Booked]) -> dict[str, Decimal]:
    """Net per symbol over every ledger row (the two legs of an internal cross cancel out)."""
    out: dict[str, Decimal] = {}
    for row in ledger:
        out[row.symbol] = out.get(row.symbol, ZERO) + sign(row.side, row.qty)
    return out


def lost_and_overbooked(fills: Iterable[VenueFill], ledger: Iterable[Booked]) -> tuple[list[str], list[str]]:
    """Venue fills the ledger holds less of than the venue filled (lost), or more (booked twice,
    or a booked venue fill the venue never made)."""
    booked: dict[str, Decimal] = {}
    for row in ledger:
        if not row.internal and row.venue_fill_id:
            booked[row.venue_fill_id] = booked.get(row.venue_fill_id, ZERO) + row.qty
    lost, over = [], []
    venue_ids = set()
    for f in fills:
        venue_ids.add(f.fill_id)
        got = booked.get(f.fill_id, ZERO)
        if got < f.qty:
            lost.append(f.fill_id)
        elif got > f.qty:
            over.append(f"fill {f.fill_id} booked {got} > {f.qty}")
    over += [f"fill {fid} booked but unknown to the venue" for fid in sorted(set(booked) - venue_ids)]
    return sorted(lost), over


def duplicated_orders(shapes: Iterable[OrderShape], fills: Iterable[VenueFill]) -> list[str]:
    """One venue order per client order id, with one shape; every venue order one the book made;
    none filled beyond its size."""
    seen: dict[str, set[tuple[str, str, Decimal, Decimal | None]]] = {}
    for s in shapes:
        seen.setdefault(s.client_order_id, set()).add((s.symbol, s.side, s.qty, s.price))
    problems = [f"order {cid} has {len(v)} shapes" for cid, v in sorted(seen.items()) if len(v) > 1]
    filled: dict[str, Decimal] = {}
    for f in fills:
        filled[f.client_order_id] = filled.get(f.client_order_id, ZERO) + f.qty
    for cid, qty in sorted(filled.items()):
        if cid not in seen:
            problems.append(f"venue order {cid} the book never created")
            continue
        size = max(shape[2] for shape in seen[cid])
        if qty > size:
            problems.append(f"order {cid} filled {qty} > its size {size}")
    return problems


def position_drift(views: Views, ledger: Iterable[Booked]) -> tuple[Decimal, dict[str, dict[str, Decimal]]]:
    """The largest absolute gap between the venue and each other view, per symbol."""
    others = {
        "strategies": summed(views.strategies),
        "portfolio": booked_positions(ledger),
        "gateway": dict(views.gateway_venue),
    }
    symbols = set(views.venue).union(*others.values())
    worst = ZERO
    detail: dict[str, dict[str, Decimal]] = {}
    for symbol in sorted(symbols):
        at_venue = views.venue.get(symbol, ZERO)
        row = {"venue": at_venue, **{name: view.get(symbol, ZERO) for name, view in others.items()}}
        gap = max(abs(q - at_venue) for q in row.values())
        if gap:
            detail[symbol] = row
        worst = max(worst, gap)
    return worst, detail


def judge(fills: list[VenueFill], ledger: list[Booked], shapes: list[OrderShape], views: Views) -> Verdict:
    lost, over = lost_and_overbooked(fills, ledger)
    drift, detail = position_drift(views, ledger)
    return Verdict(lost, duplicated_orders(shapes, fills) + over, drift, detail)
