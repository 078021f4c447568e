"""The backtest core: strategy hosts -> netting book -> sim matching engine, in one process. Pure.

The same classes as live (`StrategyHost`, `NettingBook`, the sim engine), wired the way the live
shells wire them, with the bus replaced by in-process queues:

- Each bar is a path of four points: open, then low and high (order: `intrabar`), then close,
  at ts, ts + I/3, ts + 2I/3 and ts + I - 1 ns. At every point the engine is moved to that
  price (resting orders fill), then the book gets the tick (brackets, time stops, expiry).
- A bar closes when the first point of the symbol's next bar arrives (as a live candle closes
  on the first tick after it): the book has that tick, then the hosts get the closed candle, so
  an order decided on bar i reaches the market at bar i + 1's open (plus `latency_ms`).
- Hosts see the quote of the latest point before the candle (the bar's close) in `ctx`.
- Decisions are acted on as `services/execution/service.py: Execution.act` does: cancels,
  then `mark_submitted` + submit (the venue's reply applied at once), lookups; venue events
  (fills, order updates) and intents from strategies queue up and are handled one by one after.
- Fills and position updates go back to the host of their strategy (`on_fill`, `on_position`).
"""

from __future__ import annotations

import gc
from collections import deque
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

import numpy as np

from proto import Candle, Fill, IntentEnvelope, OrderStatus, RiskEvent, Tick
from services.backtest.config import BacktestConfig
from services.backtest.data import Bars
from services.backtest.messages import tick as make_tick
from services.backtest.venue import ACCOUNT, ReplayEngine, venue_spec
from services.execution.core import Decision, NettingBook
from services.signals.core import StrategyHost
from tradebus.venues.base import OrderNotFound, OrderRequest, VenueFill, VenueOrder
from tradebus.venues.sim.engine import AccountEvent, OrderRejected

ZERO = Decimal(0)
Progress = Callable[[int, int], None]


@dataclass(frozen=True)
class Stats:
    """The figures of a compiled run's messages, computed from the kernel's integers (exact
    Decimal for money) without building the messages: what `report.summary` needs of them."""

    intents: int
    fills: int
    risk_events: int
    fees: Decimal
    trades: int
    wins: int


@dataclass
class Result:
    """Everything a run produced. `equity` is the account's (cash + positions at the close).

    A compiled run (`fast_build.py`) builds its messages lazily: `intents`, `fills`,
    `venue_fills` and `risk_events` are built on first access of any of them (then kept), and
    `stats` holds their figures meanwhile."""

    ts: np.ndarray
    equity: np.ndarray
    exposed: np.ndarray
    _intents: list[IntentEnvelope] = field(default_factory=list, repr=False)
    _fills: list[Fill] = field(default_factory=list, repr=False)
    _venue_fills: list[VenueFill] = field(default_factory=list, repr=False)
    _risk_events: list[RiskEvent] = field(default_factory=list, repr=False)
    #: intents and orders decided after the last bar (no later price to execute them at)
    unexecuted: int = 0
    bars: int = 0
    cash: Decimal = ZERO
    start_cash: Decimal = ZERO
    interval: str = "1m"
    #: the run took the fast path (`fast.py`); then `exact_steps` bars went through the live objects
    fast_path: bool = False
    exact_steps: int = 0
    #: the fast run was built from the compiled trade sequence (`fast_build.py`)
    compiled: bool = False
    #: the messages' figures, known without building them (compiled runs)
    stats: Stats | None = None
    #: builds the messages into the lists (once, on first access); None when they are built
    pending: Callable[[Result], None] | None = field(default=None, repr=False, compare=False)

    def _built(self) -> None:
        build, self.pending = self.pending, None
        if build is not None:
            with paused_gc():  # as the run itself (`paused_gc`): no cycles among the messages
                build(self)

    @property
    def materialized(self) -> bool:
        return self.pending is None

    @property
    def intents(self) -> list[IntentEnvelope]:
        self._built()
        return self._intents

    @property
    def fills(self) -> list[Fill]:
        self._built()
        return self._fills

    @property
    def venue_fills(self) -> list[VenueFill]:
        self._built()
        return self._venue_fills

    @property
    def risk_events(self) -> list[RiskEvent]:
        self._built()
        return self._risk_events


Input = IntentEnvelope | VenueOrder | VenueFill


class Backtest:
    """One run. `run()` once; the instance holds the live objects for inspection afterwards."""

    def __init__(self, config: BacktestConfig, bars: list[Bars]) -> None:
        if not bars:
            raise ValueError("no bars to backtest")
        symbols = [b.symbol for b in bars]
        if len(set(symbols)) != len(symbols):
            raise ValueError(f"a symbol appears twice: {symbols}")
        self.cfg = config
        self.bars = {b.symbol: b for b in bars}
        specs = tuple(
            venue_spec(
                b.symbol, float(b.open[0]), config.costs,
                config.price_increment, config.size_increment, config.min_size,
            )
            for b in bars
        )  # fmt: skip
        start = int(min(int(b.ts[0]) for b in bars))
        self.engine = ReplayEngine(specs, config.costs, config.cash, start)
        instruments = {s.instrument.symbol: s.instrument for s in specs}
        self.book = NettingBook(config.venue, config.limits, account="bt", instruments=instruments)
        self.hosts: list[StrategyHost] = []
        for spec in config.strategies:
            cls, params, name = spec.load()
            unknown = set(spec.symbols) - set(symbols)
            if unknown:
                raise ValueError(f"strategy {name}: symbols {sorted(unknown)} are not in the data")
            host = StrategyHost(name, cls, params, config.venue, list(spec.symbols or symbols))
            self.hosts.append(host)
        names = [h.name for h in self.hosts]
        if len(set(names)) != len(names):
            raise ValueError(f"strategy names must be unique (use name=...): {names}")
        self.by_name = {h.name: h for h in self.hosts}
        self.now = start
        self.inbox: deque[Input] = deque()
        self.outbox: deque[tuple[int, OrderRequest]] = deque()
        self.latency_ns = int(config.costs.latency_ms * 1_000_000)
        self.open_positions: dict[tuple[str, str], Decimal] = {}
        self.venue_pos: dict[str, Decimal] = {}
        self.cash = config.cash
        #: False after the last bar: nothing more reaches the market
        self.accepting = True
        self.result = Result(np.empty(0, np.int64), np.empty(0), np.empty(0, bool), start_cash=config.cash)

    # ------------------------------------------------------------------ plumbing (the shells)
    def _act(self, first: Decision) -> None:
        if first.empty:
            return
        queue: deque[Decision] = deque([first])
        while queue:
            d = queue.popleft()
            if d.empty:
                continue
            self._publish(d)
            for cid in d.cancel:
                try:
                    vo, events = self.engine.cancel(ACCOUNT, cid)
                except OrderNotFound:
                    queue.append(self.book.on_order_not_found(cid, self.now))
                    continue
                queue.append(self.book.on_order_update(vo, self.now))
                self._venue_events(events)
            for new in d.submit:
                queue.append(self.book.mark_submitted(new.request.client_order_id, self.now))
                self.outbox.append((self.now + self.latency_ns, new.request))
            for cid in d.lookup:
                try:
                    queue.append(self.book.on_order_update(self.engine.order(ACCOUNT, cid), self.now))
                except OrderNotFound:
                    queue.append(self.book.on_order_not_found(cid, self.now))
            if self.accepting and self.outbox and self.outbox[0][0] <= self.now:
                queue.extend(self._send_due())

    def _send_due(self) -> list[Decision]:
        out: list[Decision] = []
        while self.outbox and self.outbox[0][0] <= self.now:
            _, req = self.outbox.popleft()
            try:
                vo, events = self.engine.submit(ACCOUNT, req)
            except OrderRejected as exc:  # the live shell turns a refused request into REJECTED
                vo, events = self._rejected(req, str(exc)), []
            out.append(self.book.on_order_update(vo, self.now))
            self._venue_events(events)
        return out

    def _rejected(self, req: OrderRequest, reason: str) -> VenueOrder:
        return VenueOrder(
            client_order_id=req.client_order_id, venue_order_id="", symbol=req.symbol, side=req.side,
            type=req.type, qty=req.qty, price=req.price, status=OrderStatus.REJECTED,
            filled_qty=ZERO, avg_price=None, reason=reason, ts_event=self.now,
        )  # fmt: skip

    def _venue_events(self, events: list[AccountEvent]) -> None:
        for _, ev in events:
            self.inbox.append(ev)

    def _publish(self, d: Decision) -> None:
        res = self.result
        for f in d.fills:
            res.fills.append(f)
            host = self.by_name.get(f.strategy)
            if host is not None:
                self.inbox.extend(host.on_fill(f))
        for p in d.positions:
            key = (p.strategy, p.symbol)
            if p.qty:
                self.open_positions[key] = p.qty
            else:
                self.open_positions.pop(key, None)
            host = self.by_name.get(p.strategy)
            if host is not None:
                host.on_position(p.symbol, p.qty)
        res.risk_events.extend(d.risk_events)

    def _drain(self) -> None:
        """Handle queued intents and venue events, and send orders that are due, until quiet."""
        while True:
            if self.inbox:
                item = self.inbox.popleft()
                if isinstance(item, IntentEnvelope):
                    self.result.intents.append(item)
                    self._act(self.book.on_intent(item.intent, None, self.now))
                elif isinstance(item, VenueFill):
                    self._account_fill(item)
                    self._act(self.book.on_venue_fill(item, self.now))
                else:
                    self._act(self.book.on_order_update(item, self.now))
            elif self.accepting and self.outbox and self.outbox[0][0] <= self.now:
                for d in self._send_due():
                    self._act(d)
            else:
                return

    def _account_fill(self, f: VenueFill) -> None:
        signed = f.qty if f.side.sign > 0 else -f.qty
        self.cash -= signed * f.price + f.fee
        self.venue_pos[f.symbol] = self.venue_pos.get(f.symbol, ZERO) + signed
        self.result.venue_fills.append(f)

    # ------------------------------------------------------------------ market events
    def point(self, symbol: str, price: float, ts: int, *, book_tick: bool, host_tick: bool) -> None:
        """The market of `symbol` is at `price` at `ts`."""
        self.now = ts
        self._venue_events(self.engine.move(symbol, price, ts).account)
        self._drain()
        if book_tick:
            bid, ask = self.engine.bid_ask(symbol)
            self._act(self.book.on_tick(symbol, bid, ask, ts))
            self._drain()
        if host_tick:
            self.tick_hosts(symbol, ts, wants_only=False)

    def tick_hosts(self, symbol: str, ts: int, *, wants_only: bool) -> None:
        bid, ask = self.engine.bid_ask(symbol)
        tick: Tick | None = None
        for host in self.hosts:
            if symbol in host.contexts and (not wants_only or host.cls.wants_ticks):
                if tick is None:
                    tick = make_tick(self.cfg.venue, symbol, bid, ask, ts)
                self.inbox.extend(host.on_tick(tick))
        self._drain()

    def close_candle(self, candle: Candle) -> None:
        for host in self.hosts:
            if candle.symbol in host.contexts:
                envs = host.on_candle(candle)
                if self.accepting:
                    self.inbox.extend(envs)
                else:  # after the data: recorded, not acted on (no market to act in)
                    self.result.intents.extend(envs)
                    self.result.unexecuted += len(envs)
        self._drain()

    def quiet(self) -> bool:
        """Nothing a tick could change: no position, order or queued order (loss limits off)."""
        return (
            self.cfg.loss_limits_off
            and not self.open_positions
            and not self.outbox
            and not self.engine.has_resting()
            and not self.book.has_open_orders()
        )

    def equity(self, marks: dict[str, float]) -> float:
        eq = float(self.cash)
        for sy, q in self.venue_pos.items():
            if q:
                eq += float(q) * marks[sy]
        return eq

    # ------------------------------------------------------------------ the run
    def run(self, progress: Progress | None = None) -> Result:
        """The fast path where it is proven to give the same result (`fast.eligible`), else the
        general loop. Python's cyclic garbage collector is paused meanwhile (`paused_gc`)."""
        from services.backtest.fast import eligible

        with paused_gc():
            if eligible(self) is None:
                from services.backtest.fast import run_fast

                return run_fast(self, progress)
            from services.backtest.loop import run_general

            return run_general(self, progress)

    def finish(self, ts: np.ndarray, equity: np.ndarray, exposed: np.ndarray, **extra: Any) -> Result:
        """The run's result, handed over: the backtest no longer holds it. (A compiled run's
        lazy message builder holds the backtest; a result held back would be a reference cycle
        that only the cyclic collector frees, and a sweep worker running job after job with
        nothing else allocating could keep hundreds of MB per million bars until it does.)"""
        res = self.result
        del self.result
        res.ts, res.equity, res.exposed = ts, equity, exposed
        res.unexecuted += len(self.outbox)
        res.cash = self.cash
        res.interval = next(iter(self.bars.values())).interval
        for k, v in extra.items():
            setattr(res, k, v)
        return res


@contextmanager
def paused_gc() -> Iterator[None]:
    """No cyclic garbage collection inside (reference counting frees memory as usual).

    A run keeps every intent, fill and order it made (the results, the engine's account), so
    the collector's full passes scan a heap that only grows, and the messages of a run hold no
    reference cycles for it to find: it cost ~15-20% of a 1M-bar run for nothing. The previous
    state is restored after the run; cycles made meanwhile (rare) are collected by the later
    full collections.

    On the way out, what survived the pause goes to the oldest generation at once
    (`gc.freeze()` then `gc.unfreeze()`: two list splices, O(1)); otherwise the first young
    collection after it would traverse every object made meanwhile (~0.1-0.2 s for the ~270k
    messages of a compiled 1M-bar run). Skipped when something in the process has frozen
    objects itself (`gc.get_freeze_count()`), which `unfreeze` would undo.
    """
    was = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was:
            if not gc.get_freeze_count():
                gc.freeze()
                gc.unfreeze()
            gc.enable()
