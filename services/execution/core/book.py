"""The netting book: per-strategy targets and virtual positions over one venue account.

Pure: every method takes the time (`now`, ns) and returns a `Decision` (data), never calls out.
Invariant after every call: for each symbol, the sum of strategy positions (including the
pseudo-strategy `_unattributed`) equals the venue position the book has seen.

The shell's loop: decode a message -> call the book -> store `snapshot()` (NATS KV) -> act on
the Decision (cancels, then `mark_submitted` + submit, publish fills/updates/events) -> ack.
On start: `restore`, replay venue fills since the last one seen (`on_venue_fill` drops
duplicates), then `reconcile` with the venue's positions and open orders, then trade.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from decimal import Decimal
from typing import Any

from proto import OrderStyle, OrderType, OrderUpdate, Quotes, Side, TargetPosition
from services.execution.core.decision import Decision
from services.execution.core.netting import NET, UNATTRIBUTED, ZERO, Netting, to_decimal
from services.execution.core.orders import OrderRecord, OrderTable
from services.execution.core.positions import Slot
from services.execution.core.risk import RiskKind, RiskLimits
from tradebus.venues.base import Instrument, VenueOrder

__all__ = ["NET", "UNATTRIBUTED", "NettingBook"]

DAY_NS = 86_400 * 1_000_000_000
SNAPSHOT_FORMAT = 1


class NettingBook(Netting):
    """State and rules of the execution core. Build with `NettingBook(...)` or `restore(...)`."""

    # ----------------------------------------------------------------- reads
    def position(self, strategy: str, symbol: str) -> Decimal:
        slot = self._slots.get((strategy, symbol))
        return ZERO if slot is None else slot.position

    def target(self, strategy: str, symbol: str) -> Decimal:
        slot = self._slots.get((strategy, symbol))
        return ZERO if slot is None else slot.target

    def strategy_positions(self, symbol: str) -> dict[str, Decimal]:
        return {st: s.position for (st, sy), s in sorted(self._slots.items()) if sy == symbol}

    def open_orders(self, now: int) -> list[OrderUpdate]:
        return [r.update(now) for r in self._orders.values() if not r.terminal]

    def has_open_orders(self) -> bool:
        """`bool(open_orders(now))` without building the updates."""
        return any(not r.terminal for r in self._orders.values())

    def positions_view(self) -> dict[str, dict[str, object]]:
        """The gateway's `/api/positions` shape, decimals as strings."""
        strategies: dict[str, dict[str, str]] = {}
        net_target: dict[str, Decimal] = {}
        for (st, sy), s in sorted(self._slots.items()):
            strategies.setdefault(st, {})[sy] = format(s.position, "f")
            net_target[sy] = net_target.get(sy, ZERO) + s.target
        return {
            "venue": {sy: format(q, "f") for sy, q in sorted(self._venue_pos.items())},
            "net_target": {sy: format(q, "f") for sy, q in sorted(net_target.items())},
            "strategies": dict(strategies),
        }

    @property
    def killed(self) -> bool:
        return self._killed

    @property
    def reduce_only(self) -> bool:
        return self._reduce_only

    def enabled(self, strategy: str) -> bool:
        return strategy not in self._disabled

    # ----------------------------------------------------------------- intents
    def on_intent(self, intent: TargetPosition | Quotes, mid: Decimal | None, now: int) -> Decision:
        out = Decision()
        if self._take_intent(intent, mid, now, out):
            self._replan(intent.symbol, now, out)
        return out

    def on_intents(
        self,
        intents: Sequence[tuple[TargetPosition | Quotes, Decimal | None]],
        now: int,
        delivery: Sequence[tuple[int, bool]] | None = None,
    ) -> Decision:
        """A batch of intents (with their mids, or None) in stream order, netted as one: every
        target of the batch is set first, then each symbol whose targets changed is planned
        once (in the order the batch first touched it). So a burst of targets for a symbol
        becomes one order for the net change, and opposite targets in one batch cross before
        anything is sent. Quotes are applied where they stand, as in `on_intent`.

        `delivery`: each intent's stream sequence and whether it was delivered before. A
        redelivered intent behind the last one applied for its strategy and symbol is refused
        (`stale_intent`): one a crashed instance took and never stored comes back only after
        the ack wait, when newer ones are applied, and would move the target back."""
        out = Decision()
        touched: dict[str, None] = {}
        for i, (intent, mid) in enumerate(intents):
            seq, again = delivery[i] if delivery is not None else (None, False)
            if self._take_intent(intent, mid, now, out, seq, again):
                touched[intent.symbol] = None
        with self._planning():
            for sy in touched:
                self._replan(sy, now, out)
        return out

    def _take_intent(
        self,
        intent: TargetPosition | Quotes,
        mid: Decimal | None,
        now: int,
        out: Decision,
        seq: int | None = None,
        redelivered: bool = False,
    ) -> bool:
        """Check and apply one intent; True if a target changed (its symbol needs a plan)."""
        st, sy = intent.strategy, intent.symbol
        if mid is not None:
            self._mids[sy] = (mid, now)
            self._pnl_stale.add(sy)
        if intent.intent_id in self._seen_intents:
            self._event(out, RiskKind.DUPLICATE_INTENT, f"intent {intent.intent_id} seen", now, st, sy)
            return False
        self._remember(self._seen_intents, intent.intent_id)
        self._fresh_intents.append(intent.intent_id)
        problem = self._intent_problem(intent)
        if problem is not None:
            self._event(out, problem[0], problem[1], now, st, sy)
            return False
        if seq is not None:
            slot = self._slot(st, sy)
            if redelivered and slot.intent_seq is not None and seq < slot.intent_seq:
                why = f"intent {intent.intent_id} came again behind a newer one ({seq} < {slot.intent_seq})"
                self._event(out, RiskKind.STALE_INTENT, why, now, st, sy)
                return False
            slot.intent_seq = seq  # in stream order (a first delivery sets it even lower: a new stream)
        if isinstance(intent, Quotes):
            self._apply_quotes(intent, now, out)
            return False
        slot = self._slot(st, sy)
        slot.target = intent.qty
        slot.bracket = intent.bracket if intent.qty != 0 else None
        slot.style = intent.style
        self._pos_update(st, sy, now, out)
        return True

    def _intent_problem(self, intent: TargetPosition | Quotes) -> tuple[RiskKind, str] | None:
        if intent.dry_run:
            return RiskKind.DRY_RUN, "dry-run intents are not traded by execution"
        if intent.venue != self.venue:
            return RiskKind.INVALID_INTENT, f"venue {intent.venue!r} is not {self.venue!r}"
        if intent.strategy in (NET, UNATTRIBUTED) or not intent.strategy:
            return RiskKind.INVALID_INTENT, f"strategy name {intent.strategy!r} is reserved"
        if self._killed:
            return RiskKind.KILL_SWITCH, "kill switch is active; intents are ignored"
        if intent.strategy in self._disabled:
            return RiskKind.STRATEGY_DISABLED, f"strategy {intent.strategy} is disabled"
        if isinstance(intent, TargetPosition):
            s = intent.style
            if s.type is not OrderType.MARKET and s.limit_price is None:
                return RiskKind.INVALID_INTENT, f"style.limit_price is required for {s.type.value}"
        elif intent.bid and intent.ask and intent.bid.price >= intent.ask.price:
            return RiskKind.INVALID_INTENT, f"bid {intent.bid.price} >= ask {intent.ask.price}"
        return None

    def _apply_quotes(self, q: Quotes, now: int, out: Decision) -> None:
        self._slot(q.strategy, q.symbol)
        for side, want in ((Side.BUY, q.bid), (Side.SELL, q.ask)):
            key = f"{q.strategy}|{q.symbol}|{side.value}"
            old = self._orders.get(self._quotes.get(key, ""))
            live = old if old is not None and not old.terminal and not old.cancel_requested else None
            if live is not None and want is not None:
                same_price = live.price == self._price(q.symbol, side, want.price)
                if same_price and live.qty == self._tradable(q.symbol, want.qty):
                    continue  # unchanged: the resting order stays
            if live is not None:
                self._cancel(live, out)
            self._quotes.pop(key, None)
            if want is None:
                continue
            qty = self._tradable(q.symbol, want.qty)
            if qty > 0:
                rec = self._create(
                    q.strategy,
                    q.symbol,
                    side,
                    qty,
                    OrderType.LIMIT,
                    want.price,
                    [],
                    None,
                    q.strategy,
                    now,
                    out,
                )
                if rec is not None:
                    self._quotes[key] = rec.client_order_id

    # ----------------------------------------------------------------- ticks, clock, pnl
    def on_tick(self, symbol: str, bid: Decimal | float, ask: Decimal | float, now: int) -> Decision:
        """New best bid/ask: brackets, retries of price-blocked symbols, expiry, loss limits."""
        out = Decision()
        self._tick(symbol, bid, ask, now, out)
        self._clock(now, out)
        return out

    def on_ticks(self, ticks: Sequence[tuple[str, Decimal | float, Decimal | float, int]]) -> Decision:
        """Ticks `(symbol, bid, ask, now)` in arrival order, as one input: brackets and retries on
        every tick, timers and loss limits once, at the newest time (the shell's batch of ticks;
        `on_tick` of each would check the PnL of every slot per tick)."""
        out = Decision()
        newest: int | None = None
        for symbol, bid, ask, now in ticks:
            self._tick(symbol, bid, ask, now, out)
            newest = now if newest is None else max(newest, now)
        if newest is not None:
            self._clock(newest, out)
        return out

    def _tick(self, symbol: str, bid: Decimal | float, ask: Decimal | float, now: int, out: Decision) -> None:
        b, a = to_decimal(bid), to_decimal(ask)
        if not (0 < b <= a):
            raise ValueError(f"tick {symbol}: need 0 < bid <= ask, got bid={b} ask={a}")
        self._mids[symbol] = ((b + a) / 2, now)
        self._pnl_stale.add(symbol)
        fired = False
        for st, slot in sorted(self._ix.of_symbol(self._slots, symbol), key=lambda x: x[0]):
            why = slot.bracket_trigger(b, a, now)
            if why is not None:
                self._fire(st, symbol, why, now, out)
                fired = True
        if fired or symbol in self._retry:
            self._replan(symbol, now, out)

    def on_clock(self, now: int) -> Decision:
        """Periodic timer: time stops, order expiry, loss limits."""
        out = Decision()
        self._clock(now, out)
        return out

    def _clock(self, now: int, out: Decision) -> None:
        fired: set[str] = set()
        for (st, sy), slot in self._ix.sorted(self._slots):
            why = slot.time_stop_trigger(now)
            if why is not None:
                self._fire(st, sy, why, now, out)
                fired.add(sy)
        for sy in sorted(fired):
            self._replan(sy, now, out)
        for rec in list(self._orders.values()):
            if rec.expired(now) and not rec.cancel_requested:
                rec.expiring = True
                self._cancel(rec, out)
        self._check_pnl(now, out)

    def _fire(self, strategy: str, symbol: str, why: str, now: int, out: Decision) -> None:
        slot = self._slots[(strategy, symbol)]
        slot.target, slot.bracket = ZERO, None
        self._event(out, RiskKind.BRACKET, f"{why}; target set to 0", now, strategy, symbol)
        self._pos_update(strategy, symbol, now, out)

    def pnl(self) -> dict[str, Decimal]:
        """Each strategy's PnL (realized - fees + unrealized at the last mark), all symbols.

        A slot's own PnL is recomputed only when its symbol's mark or slots changed since the
        last call (`_pnl_stale`); the sums are taken in the same order every time."""
        pnl: dict[str, Decimal] = {}
        stale, cache = self._pnl_stale, self._slot_pnl
        for key, slot in self._ix.sorted(self._slots):
            st, sy = key
            if st == UNATTRIBUTED:
                continue
            v = None if sy in stale else cache.get(key)
            if v is None:
                v = cache[key] = slot.pnl(self._mark(sy))
            pnl[st] = pnl.get(st, ZERO) + v
        stale.clear()
        return pnl

    def pnl_fresh(self) -> dict[str, Decimal]:
        """`pnl()` computed from scratch, without the cache (what the tests compare it with)."""
        pnl: dict[str, Decimal] = {}
        for (st, sy), slot in self._ix.sorted(self._slots):
            if st != UNATTRIBUTED:
                pnl[st] = pnl.get(st, ZERO) + slot.pnl(self._mark(sy))
        return pnl

    def _check_pnl(self, now: int, out: Decision) -> None:
        pnl = self.pnl()
        day = now // DAY_NS
        if self._day is None or day > self._day:
            self._day, self._day_base = day, dict(pnl)
        for st in sorted(pnl):
            loss = self._day_base.get(st, ZERO) - pnl[st]
            if st not in self._disabled and loss >= self.limits.daily_loss_limit:
                self._event(
                    out,
                    RiskKind.DAILY_LOSS,
                    f"daily loss {loss} >= {self.limits.daily_loss_limit}; strategy disabled",
                    now,
                    st,
                    None,
                )
                self._disable(st, now, out)
        account = sum(pnl.values(), ZERO)
        self._peak = max(self._peak, account)
        if not self._reduce_only and self._peak - account >= self.limits.max_drawdown:
            self._reduce_only = True
            self._event(
                out,
                RiskKind.DRAWDOWN,
                f"account PnL {account} is {self._peak - account} below its peak {self._peak}; reduce-only",
                now,
                None,
                None,
            )

    # ----------------------------------------------------------------- control
    def set_enabled(self, strategy: str, enabled: bool, now: int) -> Decision:
        """Enable, or disable: withdraw its quotes and set its targets to 0 (they net out)."""
        out = Decision()
        if enabled:
            self._disabled.discard(strategy)
        elif strategy not in self._disabled:
            self._disable(strategy, now, out)
        return out

    def _disable(self, strategy: str, now: int, out: Decision) -> None:
        self._disabled.add(strategy)
        self._withdraw(strategy, out)
        for (st, sy), slot in sorted(self._slots.items()):
            if st == strategy:
                slot.target, slot.bracket = ZERO, None
                self._pos_update(st, sy, now, out)
                self._replan(sy, now, out)

    def _withdraw(self, strategy: str | None, out: Decision) -> None:
        for rec in list(self._orders.values()):
            if rec.owner != NET and (strategy is None or rec.owner == strategy):
                self._cancel(rec, out)

    def withdraw_quotes(self, strategy: str | None = None) -> Decision:
        """Cancel resting quotes of one strategy, or of all (shutdown)."""
        out = Decision()
        self._withdraw(strategy, out)
        return out

    def kill(self, flatten: bool, now: int, reason: str = "") -> Decision:
        """Cancel every order; block new ones. With `flatten`, every target goes to 0 (traded at
        market) and only orders that reduce a position pass the gate."""
        out = Decision()
        self._killed, self._flatten = True, flatten
        why = f"kill switch on (flatten={flatten}) {reason}".strip()
        self._event(out, RiskKind.KILL_SWITCH, why, now, None, None)
        for rec in list(self._orders.values()):
            self._cancel(rec, out)
        if flatten:
            for (st, sy), slot in sorted(self._slots.items()):
                # flatten at market: a strategy's resting-limit style could leave the exit unfilled
                slot.target, slot.bracket, slot.style = ZERO, None, OrderStyle()
                self._pos_update(st, sy, now, out)
            for sy in self.symbols():
                self._replan(sy, now, out)
        return out

    def release_kill(self, now: int) -> Decision:
        """Lift the kill switch and trade towards the targets again."""
        out = Decision()
        self._killed = self._flatten = False
        for sy in self.symbols():
            self._replan(sy, now, out)
        return out

    def clear_reduce_only(self) -> None:
        """An operator's decision after a drawdown; the peak restarts from the current PnL."""
        self._reduce_only = False
        self._peak = sum(self.pnl().values(), ZERO)

    # ----------------------------------------------------------------- reconcile
    def reconcile(
        self, venue_positions: Mapping[str, Decimal], open_orders: Sequence[VenueOrder], now: int
    ) -> Decision:
        """Align with the venue on start (after replaying fills).

        - known open orders: applied as order updates;
        - open orders that are not ours: canceled (event `foreign_order`);
        - our live orders the venue does not list: looked up by client order id (`lookup`);
        - a position the fills do not explain: booked to `_unattributed`, whose target follows
          it (held, not traded) until an operator flattens it (kill with flatten) -- event
          `reconcile_drift`.
        """
        out = Decision()
        listed = {vo.client_order_id for vo in open_orders}
        for vo in open_orders:
            out.merge(self.on_order_update(vo, now))
        for rec in list(self._orders.values()):
            if not rec.terminal and rec.client_order_id not in listed:
                out.lookup.append(rec.client_order_id)
        for sy in sorted(set(venue_positions) | set(self._venue_pos)):
            drift = to_decimal(venue_positions.get(sy, ZERO)) - self.venue_position(sy)
            if drift == 0:
                continue
            slot = self._slot(UNATTRIBUTED, sy)
            mark = self._mark(sy)
            slot.apply_fill(drift, mark if mark is not None else slot.avg_price, ZERO, now)
            self._pnl_stale.add(sy)
            slot.target += drift
            self._venue_pos[sy] = self.venue_position(sy) + drift
            self._event(
                out,
                RiskKind.RECONCILE_DRIFT,
                f"venue position differs by {drift}; booked to {UNATTRIBUTED}",
                now,
                UNATTRIBUTED,
                sy,
            )
            self._pos_update(UNATTRIBUTED, sy, now, out)
            self._net_update(sy, now, out)
        return out

    # ----------------------------------------------------------------- snapshot
    def snapshot(self, dedupe: bool = True) -> dict[str, Any]:
        """The whole state, JSON-safe (decimals as strings). `restore` gives the same book.

        `dedupe=False` leaves out the remembered intent and venue fill ids (`seen_intents`,
        `seen_fills`): the shell stores those incrementally (`take_remembered`) and puts them
        back into the snapshot before `restore`."""
        snap = {
            "format": SNAPSHOT_FORMAT,
            "venue": self.venue,
            "account": self.account,
            "seq": self._seq,
            "slots": [[st, sy, s.to_dict()] for (st, sy), s in self._ix.sorted(self._slots)],
            "venue_pos": {sy: str(q) for sy, q in sorted(self._venue_pos.items())},
            "orders": [r.to_dict() for r in self._orders.values()],
            "quotes": dict(sorted(self._quotes.items())),
            "disabled": sorted(self._disabled),
            "killed": self._killed,
            "flatten": self._flatten,
            "reduce_only": self._reduce_only,
            "mids": {sy: self._mid_json(sy, mid) for sy, mid in sorted(self._mids.items())},
            "last_px": {sy: str(p) for sy, p in sorted(self._last_px.items())},
            "retry": sorted(self._retry),
            "day": self._day,
            "day_base": {st: str(v) for st, v in sorted(self._day_base.items())},
            "peak": str(self._peak),
            "gate": self._gate.snapshot(),
        }
        if dedupe:
            snap["seen_intents"] = list(self._seen_intents)
            snap["seen_fills"] = list(self._seen_fills)
        return snap

    def _mid_json(self, symbol: str, mid: tuple[Decimal, int]) -> list[Any]:
        """`[str(mid), ts]`, made again only when the symbol's mid changed (a new tuple)."""
        hit = self._mid_dumps.get(symbol)
        if hit is None or hit[0] is not mid:
            hit = self._mid_dumps[symbol] = (mid, [str(mid[0]), mid[1]])
        return hit[1]

    def remembered(self) -> tuple[list[str], list[str]]:
        """The remembered intent ids and venue fill ids, oldest first."""
        return list(self._seen_intents), list(self._seen_fills)

    def take_remembered(self) -> tuple[list[str], list[str]]:
        """Intent ids and venue fill ids remembered since the last call, in order (then forgotten
        here: the caller stores them)."""
        taken = self._fresh_intents, self._fresh_fills
        self._fresh_intents, self._fresh_fills = [], []
        return taken

    @classmethod
    def restore(
        cls,
        data: Mapping[str, Any],
        limits: RiskLimits,
        instruments: Mapping[str, Instrument] | None = None,
    ) -> NettingBook:
        """Rebuild a book from `snapshot()`. Limits and instruments are configuration, not state."""
        try:
            if data["format"] != SNAPSHOT_FORMAT:
                raise ValueError(f"snapshot format {data['format']!r} is not {SNAPSHOT_FORMAT}")
            book = cls(data["venue"], limits, account=data["account"], instruments=instruments)
            book._seq = int(data["seq"])
            book._slots = {(st, sy): Slot.from_dict(d) for st, sy, d in data["slots"]}
            book._venue_pos = {sy: Decimal(q) for sy, q in data["venue_pos"].items()}
            orders = [OrderRecord.from_dict(d) for d in data["orders"]]
            book._orders = OrderTable(orders)
            book._quotes = {str(k): str(v) for k, v in data["quotes"].items()}
            book._disabled = set(data["disabled"])
            book._killed = bool(data["killed"])
            book._flatten = bool(data["flatten"])
            book._reduce_only = bool(data["reduce_only"])
            book._mids = {sy: (Decimal(m), int(ts)) for sy, (m, ts) in data["mids"].items()}
            book._last_px = {sy: Decimal(p) for sy, p in data["last_px"].items()}
            memory = limits.dedupe_memory
            book._seen_intents = dict.fromkeys(list(data["seen_intents"])[-memory:])
            book._seen_fills = dict.fromkeys(list(data["seen_fills"])[-memory:])
            book._retry = set(data["retry"])
            book._day = None if data["day"] is None else int(data["day"])
            book._day_base = {st: Decimal(v) for st, v in data["day_base"].items()}
            book._peak = Decimal(data["peak"])
            book._gate.restore(data["gate"])
        except KeyError as e:
            raise ValueError(f"execution snapshot is missing key {e.args[0]!r}") from None
        return book
