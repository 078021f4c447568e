"""Netting: intents, crossing, netting orders and venue events (the base of `NettingBook`).

Netting. A strategy's delta is `target - position - pending`, where pending is what its share
of open netting orders is still expected to fill. Buyers' and sellers' deltas are first crossed
internally at the live mid (no venue order, no fee, one INTERNAL fill per strategy); what is
left has one sign and is sent as netting orders (owner `net`), one per order style, each with a
plan: the strategies it serves, in name order. Venue fills consume the plan in that order.
Fills of quotes go to the quoting strategy. Rest of the rules: see docs/execution.md.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import structlog

from proto import (
    Fill,
    Liquidity,
    OrderStatus,
    OrderStyle,
    OrderType,
    PositionUpdate,
    RiskEvent,
    Side,
)
from services.execution.core.decision import Decision, NewOrder
from services.execution.core.messages import built, plain_fill
from services.execution.core.orders import IllegalTransition, OrderRecord, OrderTable, PlanEntry
from services.execution.core.planning import allocate, cross, round_down, round_price
from services.execution.core.positions import Slot
from services.execution.core.risk import RiskContext, RiskGate, RiskKind, RiskLimits
from services.execution.core.slotindex import SlotIndex
from tradebus.venues.base import Instrument, OrderRequest, VenueFill, VenueOrder

log = structlog.get_logger()

NET = "net"
UNATTRIBUTED = "_unattributed"
ZERO = Decimal(0)
NS = 1_000_000_000
DAY_NS = 86_400 * NS
S = OrderStatus


def to_decimal(x: Decimal | float | int | str) -> Decimal:
    """Exact Decimal; a float goes through its shortest repr (0.1 -> Decimal('0.1'))."""
    if isinstance(x, Decimal):
        return x
    return Decimal(repr(x)) if isinstance(x, float) else Decimal(x)


def _style_key(style: OrderStyle) -> tuple[str, str, str]:
    return (style.type.value, str(style.limit_price), str(style.expire_after_s))


@dataclass
class RiskSums:
    """What a risk check reads from the whole book: each symbol's projected position (venue
    position + what its orders still expect to fill; symbols with orders), the open order count,
    and each marked symbol's gross exposure |projected| x mark with their total."""

    projected: dict[str, Decimal]
    open_orders: int
    gross: dict[str, Decimal]
    gross_total: Decimal

    def add(self, rec: OrderRecord, venue_position: Decimal, mark: Decimal | None) -> None:
        """A new open order `rec` (its symbol's venue position and mark unchanged since)."""
        pos = self.projected.get(rec.symbol, venue_position) + rec.expected_pending * rec.side.sign
        self.projected[rec.symbol] = pos
        self.open_orders += 1
        old = self.gross.get(rec.symbol)
        if old is not None and mark is not None:
            self.gross[rec.symbol] = new = abs(pos) * mark
            self.gross_total += new - old


class Netting:
    """State, intents, netting and venue events. `NettingBook` adds clock, control, snapshots."""

    def __init__(
        self,
        venue: str,
        limits: RiskLimits,
        *,
        account: str = "tb",
        instruments: Mapping[str, Instrument] | None = None,
    ) -> None:
        if not account or not account.replace("_", "").isalnum():
            raise ValueError(f"account must be alphanumeric (used in client order ids): {account!r}")
        self.venue = venue
        self.account = account
        self.limits = limits
        self.instruments = dict(instruments or {})
        self._gate = RiskGate(limits)
        self._seq = 0
        self._slots: dict[tuple[str, str], Slot] = {}
        self._venue_pos: dict[str, Decimal] = {}
        self._orders = OrderTable()
        #: during one batch's planning, the sums the risk checks read, kept up to date by
        #: `_create` (see `_planning`); None outside such a batch
        self._risk_base: RiskSums | None = None
        #: inside `one_loss_check`: whether a fill's loss check was put off (None: outside)
        self._pnl_put_off: bool | None = None
        self._quotes: dict[str, str] = {}  # "strategy|symbol|side" -> client order id
        self._disabled: set[str] = set()
        self._killed = False
        self._flatten = False
        self._reduce_only = False
        self._mids: dict[str, tuple[Decimal, int]] = {}
        self._last_px: dict[str, Decimal] = {}
        self._seen_intents: dict[str, None] = {}
        self._seen_fills: dict[str, None] = {}
        #: ids remembered since the last `take_remembered()` (the store journals them per round)
        self._fresh_intents: list[str] = []
        self._fresh_fills: list[str] = []
        self._retry: set[str] = set()
        self._day: int | None = None
        self._day_base: dict[str, Decimal] = {}
        self._peak = ZERO
        self._ix = SlotIndex()  # sorted and per-symbol views of `_slots`
        #: each slot's PnL at its symbol's mark, as of the last `pnl()`; symbols whose mark or
        #: slots changed since are in `_pnl_stale` (a slot not in the cache is computed anew)
        self._slot_pnl: dict[tuple[str, str], Decimal] = {}
        self._pnl_stale: set[str] = set()
        self._mid_dumps: dict[str, tuple[tuple[Decimal, int], list[Any]]] = {}

    def venue_position(self, symbol: str) -> Decimal:
        return self._venue_pos.get(symbol, ZERO)

    def symbols(self) -> list[str]:
        return list(self._ix.symbols(self._slots, self._venue_pos))

    # ----------------------------------------------------------------- netting
    def _replan(self, symbol: str, now: int, out: Decision) -> None:
        """Cross what can be crossed, then trade the rest (or cancel what over-covers)."""
        deltas = self._deltas(symbol)
        if not any(deltas.values()):  # every delta is 0 (a Decimal is false only when 0)
            self._retry.discard(symbol)
            return
        mid = self._fresh_mid(symbol, now)
        if mid is None:
            if symbol not in self._retry:
                self._event(out, RiskKind.NO_FRESH_PRICE, "no fresh mid; waiting", now, None, symbol)
            self._retry.add(symbol)
            return
        self._retry.discard(symbol)
        crossed, rest = cross(deltas)
        if crossed:
            self._seq += 1
            for st, q in sorted(crossed.items()):
                fill = Fill(
                    fill_id=f"{self.account}-x{self._seq}:{st}",
                    strategy=st,
                    venue=self.venue,
                    symbol=symbol,
                    side=Side.BUY if q > 0 else Side.SELL,
                    qty=abs(q),
                    price=mid,
                    liquidity=Liquidity.INTERNAL,
                    ts_event=now,
                )
                self._book_fill(fill, q, now, out)
        wants = {st: d for st, d in rest.items() if d != 0}
        if not wants:
            return
        sign = 1 if next(iter(wants.values())) > 0 else -1
        live = [r for r in self._orders.of_symbol(symbol) if r.owner == NET and not r.terminal]
        for r in live:
            if r.side.sign != sign:
                self._cancel(r, out)
        if any(r.cancel_requested for r in live):
            return  # wait until the venue confirms; the terminal update replans
        groups: dict[tuple[str, str, str], list[tuple[str, Decimal]]] = {}
        for st in sorted(wants):
            groups.setdefault(_style_key(self._slots[(st, symbol)].style), []).append((st, abs(wants[st])))
        for members in groups.values():
            total = sum((q for _, q in members), ZERO)
            qty = self._tradable(symbol, total)
            if qty <= 0:
                continue  # below the venue's size increment or minimum: stays as residual
            style = self._slots[(members[0][0], symbol)].style
            market = style.type is OrderType.MARKET
            who = members[0][0] if len(members) == 1 else None
            self._create(
                NET,
                symbol,
                Side.BUY if sign > 0 else Side.SELL,
                qty,
                style.type,
                None if market else style.limit_price,
                allocate(qty, members),
                style.expire_after_s,
                who,
                now,
                out,
            )

    def _deltas(self, symbol: str) -> dict[str, Decimal]:
        pending: dict[str, Decimal] = {}
        for r in self._orders.of_symbol(symbol):
            if r.owner == NET:
                for st, q in r.pending_by_strategy().items():
                    pending[st] = pending.get(st, ZERO) + q * r.side.sign
        return {
            st: s.target - s.position - pending.get(st, ZERO)
            for st, s in self._ix.of_symbol(self._slots, symbol)
        }

    def _tradable(self, symbol: str, qty: Decimal) -> Decimal:
        inst = self.instruments.get(symbol)
        if inst is None:
            return qty
        q = round_down(qty, inst.size_increment)
        return q if q >= inst.min_size else ZERO

    def _create(
        self,
        owner: str,
        symbol: str,
        side: Side,
        qty: Decimal,
        type_: OrderType,
        price: Decimal | None,
        plan: list[PlanEntry],
        expire_after_s: float | None,
        strategy: str | None,
        now: int,
        out: Decision,
    ) -> OrderRecord | None:
        coid = f"{self.account}-{self._seq + 1}"
        price = self._price(symbol, side, price)
        req = OrderRequest(coid, symbol, side, qty, type_, price)
        event = self._gate.check(req, self._risk_context(symbol, strategy, now))
        if event is not None:
            out.risk_events.append(event)
            return None
        self._seq += 1
        expire = None if expire_after_s is None else now + int(expire_after_s * NS)
        rec = OrderRecord(coid, owner, self.venue, symbol, side, type_, qty, price, now, expire, plan=plan)
        self._orders[coid] = rec
        if self._risk_base is not None:  # the batch's sums, as `_risk_sums()` would find them now
            self._risk_base.add(rec, self.venue_position(symbol), self._mark(symbol))
        out.submit.append(NewOrder(owner, self.venue, req, expire))
        out.order_updates.append(rec.update(now))
        return rec

    def _price(self, symbol: str, side: Side, price: Decimal | None) -> Decimal | None:
        """A limit price on the instrument's tick grid (unchanged if the instrument is unknown)."""
        inst = self.instruments.get(symbol)
        if price is None or inst is None:
            return price
        return round_price(price, inst.price_increment, side)

    def _risk_sums(self) -> RiskSums:
        """What the risk checks read from the whole book, in one pass over the orders and one
        over the symbols."""
        projected: dict[str, Decimal] = {}
        open_orders = 0
        for r in self._orders.values():
            pos = projected.get(r.symbol)
            if pos is None:
                pos = self.venue_position(r.symbol)
            projected[r.symbol] = pos + r.expected_pending * r.side.sign
            if not r.terminal:
                open_orders += 1
        gross: dict[str, Decimal] = {}
        for sy in self._ix.symbols(self._slots, self._venue_pos):
            mark = self._mark(sy)
            if mark is not None:
                gross[sy] = abs(projected.get(sy, self.venue_position(sy))) * mark
        return RiskSums(projected, open_orders, gross, sum(gross.values(), ZERO))

    @contextmanager
    def _planning(self) -> Iterator[None]:
        """Plan many symbols with one `_risk_sums()`: inside, only `_create` adds orders, and
        nothing else changes a venue position, a mark or an order's expected fills (a cancel
        only flags a request), so `_create` keeps the sums current and each check reads them."""
        if self._risk_base is not None:
            yield
            return
        self._risk_base = self._risk_sums()
        try:
            yield
        finally:
            self._risk_base = None

    def _risk_context(self, symbol: str, strategy: str | None, now: int) -> RiskContext:
        sums = self._risk_sums() if self._risk_base is None else self._risk_base
        return RiskContext(
            now=now,
            strategy=strategy,
            mid=self._fresh_mid(symbol, now),
            projected=sums.projected.get(symbol, self.venue_position(symbol)),
            gross_other=sums.gross_total - sums.gross.get(symbol, ZERO),
            open_orders=sums.open_orders,
            reduce_only=self._reduce_only,
            killed=self._killed,
            flatten=self._flatten,
        )

    def _fresh_mid(self, symbol: str, now: int) -> Decimal | None:
        m = self._mids.get(symbol)
        if m is None or now - m[1] > int(self.limits.max_price_age_s * NS):
            return None
        return m[0]

    def _mark(self, symbol: str) -> Decimal | None:
        m = self._mids.get(symbol)
        return m[0] if m is not None else self._last_px.get(symbol)

    def _cancel(self, rec: OrderRecord, out: Decision) -> None:
        if not rec.terminal and not rec.cancel_requested:
            rec.cancel_requested = True
            out.cancel.append(rec.client_order_id)

    # ----------------------------------------------------------------- venue events
    def mark_submitted(self, client_order_id: str, now: int) -> Decision:
        """The shell calls this right before sending a NEW order (after storing the snapshot)."""
        out = Decision()
        rec = self._orders.get(client_order_id)
        if rec is None:
            raise KeyError(f"unknown client_order_id {client_order_id!r}")
        if rec.status is S.NEW:
            rec.transition(S.SUBMITTED)
            out.order_updates.append(rec.update(now))
        return out

    def on_venue_fill(self, fill: VenueFill, now: int) -> Decision:
        """Allocate a venue fill. Deduplicated by `venue_fill_id`; see the module doc for order."""
        out = Decision()
        if fill.venue_fill_id in self._seen_fills:
            return out
        if fill.qty <= 0:
            raise ValueError(f"venue fill {fill.venue_fill_id}: qty must be > 0, got {fill.qty}")
        try:
            liquidity = Liquidity(fill.liquidity)
        except ValueError:
            raise ValueError(
                f"venue fill {fill.venue_fill_id}: liquidity {fill.liquidity!r} is not maker/taker"
            ) from None
        self._remember(self._seen_fills, fill.venue_fill_id)
        self._fresh_fills.append(fill.venue_fill_id)
        rec = self._orders.get(fill.client_order_id)
        if rec is None:
            alloc = [(UNATTRIBUTED, fill.qty)]
        elif rec.owner != NET:
            alloc = [(rec.owner, fill.qty)]
        else:
            alloc, left = [], fill.qty
            for e in rec.plan:
                take = min(e.remaining, left)
                if take > 0:
                    alloc.append((e.strategy, take))
                    e.remaining -= take
                    left -= take
            if left > 0:
                alloc.append((UNATTRIBUTED, left))
        lost = sum((q for st, q in alloc if st == UNATTRIBUTED), ZERO)
        if lost > 0:  # a fill our orders cannot explain: corrected by booking, and reported
            why = "is not ours" if rec is None else "over-fills it"
            self._event(
                out,
                RiskKind.RECONCILE_DRIFT,
                f"venue fill {fill.venue_fill_id} of order {fill.client_order_id} {why}; "
                f"{lost} booked to {UNATTRIBUTED}",
                now,
                UNATTRIBUTED,
                fill.symbol,
            )
        fee_left, untracked = fill.fee, False
        plain = plain_fill(fill)
        for i, (st, q) in enumerate(alloc):
            fee = fee_left if i == len(alloc) - 1 else fill.fee * q / fill.qty
            fee_left -= fee
            signed = q * fill.side.sign
            slot = self._slot(st, fill.symbol)
            if rec is None or rec.owner != NET or st == UNATTRIBUTED:
                if self._tracks_target(st):
                    slot.target += signed  # quote and unattributed fills are kept
                else:
                    untracked = True  # e.g. a late quote fill of a disabled strategy: trade back
            fields = {
                "fill_id": f"{fill.venue_fill_id}:{st}",
                "strategy": st,
                "venue": self.venue,
                "symbol": fill.symbol,
                "side": fill.side,
                "qty": q,
                "price": fill.price,
                "fee": fee,
                "liquidity": liquidity,
                "client_order_id": fill.client_order_id,
                "venue_fill_id": fill.venue_fill_id,
                "ts_event": fill.ts_event,
            }
            f = built(Fill, fields) if plain else Fill(**fields)
            self._book_fill(f, signed, now, out)
        self._venue_pos[fill.symbol] = self.venue_position(fill.symbol) + fill.qty * fill.side.sign
        self._last_px[fill.symbol] = fill.price
        self._pnl_stale.add(fill.symbol)
        self._net_update(fill.symbol, now, out)
        if rec is not None:
            rec.filled_qty += fill.qty
            rec.filled_notional += fill.qty * fill.price
            if not rec.terminal:
                if rec.status is S.NEW:
                    rec.transition(S.SUBMITTED)
                rec.transition(S.FILLED if rec.filled_qty >= rec.qty else S.PARTIALLY_FILLED)
                out.order_updates.append(rec.update(now))
                if rec.terminal:
                    self._on_terminal(rec, now, out, drop_wishes=False)
            elif rec.retirable:
                del self._orders[rec.client_order_id]
        if untracked:
            self._replan(fill.symbol, now, out)
        if self._pnl_put_off is None:
            self._check_pnl(now, out)
        else:
            self._pnl_put_off = True
        return out

    @contextmanager
    def one_loss_check(self, now: int, out: Decision) -> Iterator[None]:
        """Venue fills booked inside are checked against the loss limits once, on leaving, at
        `now` (the time they were all applied at), as `on_ticks` checks a batch of ticks: the
        limits see the batch's outcome, not each step of the order it arrived in."""
        if self._pnl_put_off is not None:  # already inside one: the outer check covers these
            yield
            return
        self._pnl_put_off = False
        try:
            yield
        finally:
            put_off, self._pnl_put_off = self._pnl_put_off, None
        if put_off:
            self._check_pnl(now, out)

    def _check_pnl(self, now: int, out: Decision) -> None:
        """Hook after fills: loss limits (see `NettingBook`)."""

    def _tracks_target(self, strategy: str) -> bool:
        return strategy not in self._disabled and not (self._killed and self._flatten)

    def on_order_update(self, vo: VenueOrder, now: int) -> Decision:
        """Apply the venue's view of an order. Stale or out-of-order updates are ignored."""
        out = Decision()
        rec = self._orders.get(vo.client_order_id)
        if rec is None:
            if not vo.status.terminal and not self._ours(vo.client_order_id):
                self._event(
                    out,
                    RiskKind.FOREIGN_ORDER,
                    f"open order {vo.client_order_id} is not ours; canceling",
                    now,
                    None,
                    vo.symbol,
                )
                out.cancel.append(vo.client_order_id)
            return out
        rec.venue_order_id = vo.venue_order_id or rec.venue_order_id
        rec.reported_filled = max(rec.reported_filled, vo.filled_qty)
        new = vo.status
        if rec.status is S.NEW and new is not S.NEW:
            rec.transition(S.SUBMITTED)  # the venue knows it, so it was sent
        if new is S.NEW:
            new = S.ACKED if rec.status is S.SUBMITTED else rec.status
        if new is S.CANCELED and rec.expiring:
            new = S.EXPIRED
        if new is rec.status and new is not S.PARTIALLY_FILLED:
            if rec.retirable and rec.client_order_id in self._orders:
                del self._orders[rec.client_order_id]
            return out
        try:
            rec.transition(new, vo.reason)
        except IllegalTransition as e:
            log.warning("stale order update ignored", client_order_id=rec.client_order_id, error=str(e))
            return out
        out.order_updates.append(rec.update(now))
        if rec.terminal:
            drop = new in (S.REJECTED, S.EXPIRED) or (new is S.CANCELED and not rec.cancel_requested)
            self._on_terminal(rec, now, out, drop_wishes=drop)
        return out

    def on_order_not_found(self, client_order_id: str, now: int) -> Decision:
        """A lookup by client order id said the venue never had (or lost) the order."""
        out = Decision()
        rec = self._orders.get(client_order_id)
        if rec is None or rec.terminal:
            return out
        lost = rec.status in (S.NEW, S.SUBMITTED) and not rec.cancel_requested
        rec.transition(S.REJECTED if lost else S.CANCELED, "not found at venue")
        out.order_updates.append(rec.update(now))
        self._on_terminal(rec, now, out, drop_wishes=False)
        return out

    def _on_terminal(self, rec: OrderRecord, now: int, out: Decision, *, drop_wishes: bool) -> None:
        if rec.owner == NET and drop_wishes:
            kept = rec.pending_by_strategy()
            for e in rec.plan:
                unfilled = e.remaining - kept.get(e.strategy, ZERO)
                if unfilled > 0 and self._tracks_target(e.strategy) and not self._killed:
                    slot = self._slots[(e.strategy, rec.symbol)]
                    slot.target -= unfilled * rec.side.sign
                    self._pos_update(e.strategy, rec.symbol, now, out)
            kind = {S.EXPIRED: RiskKind.ORDER_EXPIRED, S.REJECTED: RiskKind.VENUE_REJECTED}.get(
                rec.status, RiskKind.VENUE_CANCELED
            )
            self._event(
                out,
                kind,
                f"order {rec.client_order_id} {rec.status.value} {rec.reason}".strip()
                + "; its unfilled wishes are dropped from the targets",
                now,
                None,
                rec.symbol,
            )
        if rec.owner != NET:
            for key in [k for k, v in self._quotes.items() if v == rec.client_order_id]:
                del self._quotes[key]
        if rec.retirable:
            del self._orders[rec.client_order_id]
        if rec.owner == NET:
            self._replan(rec.symbol, now, out)

    def _ours(self, client_order_id: str) -> bool:
        head, _, tail = client_order_id.rpartition("-")
        return head == self.account and tail.isdigit() and int(tail) <= self._seq

    # ----------------------------------------------------------------- booking
    def _slot(self, strategy: str, symbol: str) -> Slot:
        slot = self._slots.get((strategy, symbol))
        if slot is None:
            slot = self._slots[(strategy, symbol)] = Slot()
        return slot

    def _book_fill(self, fill: Fill, signed: Decimal, now: int, out: Decision) -> None:
        self._slot(fill.strategy, fill.symbol).apply_fill(signed, fill.price, fill.fee, now)
        self._pnl_stale.add(fill.symbol)
        out.fills.append(fill)
        self._pos_update(fill.strategy, fill.symbol, now, out)

    def _pos_update(self, strategy: str, symbol: str, now: int, out: Decision) -> None:
        s = self._slots[(strategy, symbol)]
        out.positions.append(
            built(
                PositionUpdate,
                {
                    "strategy": strategy,
                    "venue": self.venue,
                    "symbol": symbol,
                    "qty": s.position,
                    "target": s.target,
                    "ts_event": now,
                },
            )
        )

    def _net_update(self, symbol: str, now: int, out: Decision) -> None:
        target = sum((s.target for _, s in self._ix.of_symbol(self._slots, symbol)), ZERO)
        out.positions.append(
            built(
                PositionUpdate,
                {
                    "strategy": NET,
                    "venue": self.venue,
                    "symbol": symbol,
                    "qty": self.venue_position(symbol),
                    "target": target,
                    "ts_event": now,
                },
            )
        )

    def _event(
        self, out: Decision, kind: RiskKind, reason: str, now: int, st: str | None, sy: str | None
    ) -> None:
        out.risk_events.append(
            RiskEvent(kind=kind.value, reason=reason, strategy=st, symbol=sy, ts_event=now)
        )

    def _remember(self, seen: dict[str, None], key: str) -> None:
        seen[key] = None
        while len(seen) > self.limits.dedupe_memory:
            del seen[next(iter(seen))]
