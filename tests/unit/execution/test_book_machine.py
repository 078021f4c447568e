"""A Hypothesis state machine over the netting book and a tiny simulated venue.

Random intents (3 strategies, 2 symbols, quotes included), full and partial fills, requested and
venue-initiated cancels, rejections, ticks, expiry, kill switch, disable/enable, restarts
(snapshot -> JSON -> restore -> reconcile) and crashes between creating and sending an order.
After every step: per symbol, the sum of strategy positions equals the book's venue position,
which equals the simulated venue's; no client order id and no fill id is ever reused.
`settle` fills everything and checks that each strategy's position converges to its target.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from decimal import Decimal

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule

from proto import OrderStatus, OrderStyle, Quote, Quotes, TargetPosition
from services.execution.core import NET, Decision, NettingBook
from services.execution.core.risk import RiskContext
from tests.unit.execution.factory import NS, T0, limits
from tradebus.venues.base import Instrument, OrderRequest, VenueFill, VenueOrder

D = Decimal
TENTH = D("0.1")
STRATEGIES = ("A", "B", "C")
SYMBOLS = ("BTC", "ETH")
INSTRUMENTS = {s: Instrument(s, s, "USD", D("0.01"), TENTH, TENTH) for s in SYMBOLS}
LIMITS = limits()


@dataclass
class SimOrder:
    request: OrderRequest
    filled: Decimal = Decimal(0)
    open: bool = True
    cancel_requested: bool = False
    acked: bool = False

    def view(self, status: OrderStatus) -> VenueOrder:
        r = self.request
        if status is OrderStatus.ACKED:
            self.acked = True
            if self.filled > 0:
                status = OrderStatus.PARTIALLY_FILLED
        return VenueOrder(
            r.client_order_id, f"v-{r.client_order_id}", r.symbol, r.side, r.type, r.qty,
            r.price, status, self.filled, None,
        )  # fmt: skip


class CheckedBook(NettingBook):
    """The book, checking at each risk check of a planned batch that the sums `_create` kept
    up to date are what a fresh scan of the orders finds."""

    def _risk_context(self, symbol: str, strategy: str | None, now: int) -> RiskContext:
        if self._risk_base is not None:
            assert self._risk_base == self._risk_sums(), "a batch's risk sums drifted from the book"
        return super()._risk_context(symbol, strategy, now)


class BookMachine(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.book: NettingBook = CheckedBook("sim", LIMITS, instruments=INSTRUMENTS)
        self.now = T0
        self.mids = {"BTC": D(100), "ETH": D(20)}
        self.orders: dict[str, SimOrder] = {}
        self.venue_pos = dict.fromkeys(SYMBOLS, D(0))
        self.coids: set[str] = set()
        self.fill_ids: set[str] = set()
        self.n = 0
        for sy in SYMBOLS:
            self.apply(self.book.on_tick(sy, self.mids[sy] - 1, self.mids[sy] + 1, self.now))

    # ------------------------------------------------------------ plumbing
    def next_id(self) -> str:
        self.n += 1
        return str(self.n)

    def apply(self, d: Decision) -> None:
        for f in d.fills:
            assert f.fill_id not in self.fill_ids, f"fill id reused: {f.fill_id}"
            self.fill_ids.add(f.fill_id)
        for coid in d.cancel:
            if coid in self.orders:
                self.orders[coid].cancel_requested = True
        for new in d.submit:
            coid = new.request.client_order_id
            assert coid not in self.coids, f"client order id reused: {coid}"
            self.coids.add(coid)
            self.orders[coid] = SimOrder(new.request)
            self.apply(self.book.mark_submitted(coid, self.now))
        for coid in d.lookup:
            self.resolve(coid)

    def resolve(self, coid: str) -> None:
        o = self.orders.get(coid)
        if o is None:
            self.apply(self.book.on_order_not_found(coid, self.now))
        else:
            status = OrderStatus.ACKED if o.open else OrderStatus.CANCELED
            if o.filled >= o.request.qty:
                status = OrderStatus.FILLED
            self.apply(self.book.on_order_update(o.view(status), self.now))

    def open_orders(self) -> list[SimOrder]:
        return [o for _, o in sorted(self.orders.items()) if o.open]

    def fill(self, o: SimOrder, qty: Decimal) -> None:
        r = o.request
        price = r.price if r.price is not None else self.mids[r.symbol]
        o.filled += qty
        self.venue_pos[r.symbol] += qty * r.side.sign
        vf = VenueFill(
            f"f{self.next_id()}", f"v-{r.client_order_id}", r.client_order_id, r.symbol, r.side,
            qty, price, qty * price / 10_000, "taker", self.now,
        )  # fmt: skip
        self.apply(self.book.on_venue_fill(vf, self.now))
        done = o.filled >= r.qty
        o.open = not done
        status = OrderStatus.FILLED if done else OrderStatus.PARTIALLY_FILLED
        self.apply(self.book.on_order_update(o.view(status), self.now))

    def close(self, o: SimOrder, status: OrderStatus) -> None:
        o.open = False
        self.apply(self.book.on_order_update(o.view(status), self.now))

    def restart(self, snapshot: dict[str, object]) -> None:
        data = json.loads(json.dumps(snapshot))
        self.book = CheckedBook.restore(data, LIMITS, INSTRUMENTS)
        open_views = [o.view(OrderStatus.ACKED) for o in self.open_orders()]
        self.apply(self.book.reconcile(dict(self.venue_pos), open_views, self.now))

    # ------------------------------------------------------------ rules
    @rule(
        strategy=st.sampled_from(STRATEGIES),
        symbol=st.sampled_from(SYMBOLS),
        tenths=st.integers(-20, 20),
        expire=st.sampled_from([None, None, 3.0]),
    )
    def intent(self, strategy: str, symbol: str, tenths: int, expire: float | None) -> None:
        self.now += NS
        t = TargetPosition(
            intent_id=self.next_id(), strategy=strategy, venue="sim", symbol=symbol,
            qty=tenths * TENTH, style=OrderStyle(expire_after_s=expire), ts_event=self.now,
        )  # fmt: skip
        self.apply(self.book.on_intent(t, self.mids[symbol], self.now))

    @rule(
        batch=st.lists(
            st.tuples(st.sampled_from(STRATEGIES), st.sampled_from(SYMBOLS), st.integers(-20, 20)),
            min_size=1,
            max_size=6,
        )
    )
    def intents(self, batch: list[tuple[str, str, int]]) -> None:
        """One fetch of intents, netted as one batch (the shell's path)."""
        self.now += NS
        ts = [
            TargetPosition(
                intent_id=self.next_id(),
                strategy=strategy,
                venue="sim",
                symbol=symbol,
                qty=tenths * TENTH,
                ts_event=self.now,
            )
            for strategy, symbol, tenths in batch
        ]
        self.apply(self.book.on_intents([(t, self.mids[t.symbol]) for t in ts], self.now))

    @rule(symbol=st.sampled_from(SYMBOLS), bid=st.booleans(), ask=st.booleans(), q=st.integers(1, 5))
    def quote(self, symbol: str, bid: bool, ask: bool, q: int) -> None:
        self.now += NS
        m = self.mids[symbol]
        qs = Quotes(
            intent_id=self.next_id(), strategy="C", venue="sim", symbol=symbol,
            bid=Quote(price=m - 1, qty=q * TENTH) if bid else None,
            ask=Quote(price=m + 1, qty=q * TENTH) if ask else None, ts_event=self.now,
        )  # fmt: skip
        self.apply(self.book.on_intent(qs, m, self.now))

    @rule(symbol=st.sampled_from(SYMBOLS), move=st.integers(-3, 3), secs=st.integers(0, 4))
    def tick(self, symbol: str, move: int, secs: int) -> None:
        self.now += secs * NS
        self.mids[symbol] = max(self.mids[symbol] + move, D(5))
        m = self.mids[symbol]
        self.apply(self.book.on_tick(symbol, m - TENTH, m + TENTH, self.now))

    @precondition(lambda self: self.open_orders())
    @rule(data=st.data(), full=st.booleans())
    def venue_fill(self, data: st.DataObject, full: bool) -> None:
        o = data.draw(st.sampled_from(self.open_orders()))
        rest = o.request.qty - o.filled
        tenths = int(rest / TENTH)
        qty = rest if full or tenths <= 1 else data.draw(st.integers(1, tenths - 1)) * TENTH
        self.fill(o, qty)

    @precondition(lambda self: any(o.cancel_requested for o in self.open_orders()))
    @rule(data=st.data())
    def confirm_cancel(self, data: st.DataObject) -> None:
        o = data.draw(st.sampled_from([o for o in self.open_orders() if o.cancel_requested]))
        self.close(o, OrderStatus.CANCELED)

    @precondition(lambda self: self.open_orders())
    @rule(data=st.data(), reject=st.booleans())
    def venue_drops(self, data: st.DataObject, reject: bool) -> None:
        """The venue cancels an order on its own, or rejects one that has not filled."""
        o = data.draw(st.sampled_from(self.open_orders()))
        fresh = o.filled == 0 and not o.acked
        status = OrderStatus.REJECTED if reject and fresh else OrderStatus.CANCELED
        self.close(o, status)

    @rule(strategy=st.sampled_from(STRATEGIES), enabled=st.booleans())
    def enable(self, strategy: str, enabled: bool) -> None:
        self.apply(self.book.set_enabled(strategy, enabled, self.now))

    @rule(flatten=st.booleans())
    def kill_and_release(self, flatten: bool) -> None:
        self.apply(self.book.kill(flatten, self.now, "test"))
        for o in self.open_orders():
            if o.cancel_requested:
                self.close(o, OrderStatus.CANCELED)
        self.apply(self.book.release_kill(self.now))

    @rule()
    def restart_now(self) -> None:
        self.restart(self.book.snapshot())

    @rule(strategy=st.sampled_from(STRATEGIES), symbol=st.sampled_from(SYMBOLS))
    def crash_before_send(self, strategy: str, symbol: str) -> None:
        """Orders are created (NEW) and stored, then the process dies before sending them."""
        self.now += NS
        t = TargetPosition(
            intent_id=self.next_id(), strategy=strategy, venue="sim", symbol=symbol,
            qty=self.book.target(strategy, symbol) + TENTH * 3, ts_event=self.now,
        )  # fmt: skip
        d = self.book.on_intent(t, self.mids[symbol], self.now)
        for new in d.submit:
            self.coids.add(new.request.client_order_id)  # created, never reaches the venue
        self.fill_ids.update(f.fill_id for f in d.fills)
        self.restart(self.book.snapshot())

    @rule()
    def settle(self) -> None:
        """Fill everything, confirm every cancel, withdraw quotes: positions reach targets."""
        self.apply(self.book.withdraw_quotes())
        for strategy in STRATEGIES:
            self.apply(self.book.set_enabled(strategy, True, self.now))
        for _ in range(50):
            self.now += NS
            for sy in SYMBOLS:
                m = self.mids[sy]
                self.apply(self.book.on_tick(sy, m - TENTH, m + TENTH, self.now))
            live = self.open_orders()
            if not live and not self.book.open_orders(self.now):
                break
            for o in live:
                if o.cancel_requested:
                    self.close(o, OrderStatus.CANCELED)
                else:
                    self.fill(o, o.request.qty - o.filled)
        assert not self.book.open_orders(self.now)
        for strategy in (*STRATEGIES, "_unattributed"):
            for sy in SYMBOLS:
                pos, tgt = self.book.position(strategy, sy), self.book.target(strategy, sy)
                assert pos == tgt, f"{strategy} {sy}: position {pos} != target {tgt}"

    # ------------------------------------------------------------ invariants
    @invariant()
    def positions_add_up(self) -> None:
        for sy in SYMBOLS:
            total = sum(self.book.strategy_positions(sy).values(), D(0))
            assert total == self.book.venue_position(sy) == self.venue_pos[sy], (
                sy,
                self.book.strategy_positions(sy),
                self.book.venue_position(sy),
                self.venue_pos[sy],
            )

    @invariant()
    def cached_pnl_is_the_fresh_pnl(self) -> None:
        assert self.book.pnl() == self.book.pnl_fresh()

    @invariant()
    def netting_orders_serve_plans(self) -> None:
        for u in self.book.open_orders(self.now):
            assert u.owner in (NET, "C")


TestBookMachine = BookMachine.TestCase
TestBookMachine.settings = settings(
    max_examples=150,
    stateful_step_count=40,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
