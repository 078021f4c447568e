"""The simulated exchange's core: price path, quotes, synthetic book, matching, accounts.

Pure: no I/O, no clock, no asyncio. Time is passed in (`advance(now_ns)`); every method that
changes state returns the account events it caused, so a shell can publish them.

Fill rules (see docs/venues.md):
- Market orders take synthetic book levels from the touch outwards (one fill per level) and
  cancel whatever is left after `book_levels` levels. Liquidity taken within one path step is
  gone for the rest of that step; the book refills on the next step.
- A limit order that crosses takes like a market order up to its limit price; the rest rests.
  A post-only order that would cross is rejected.
- A resting buy at price p fills (maker, at p) on each step where the ask is at or below p; a
  sell where the bid is at or above p. Per step it fills at most the top level's size times
  (1 + whole levels the market went through p), so large orders fill partially over steps.
- Accounts' orders never match each other; they trade only against the synthetic market.
"""

from __future__ import annotations

import math
import zlib
from dataclasses import dataclass, field
from decimal import Decimal

import numpy as np

from proto import OrderStatus, OrderType, Side
from tradebus.venues.base import Instrument, OrderNotFound, OrderRequest, VenueFill, VenueOrder
from tradebus.venues.sim.accounts import ZERO, Account, Order, Position, fee_of
from tradebus.venues.sim.bars import SECOND_NS, BarStore, CandleRow
from tradebus.venues.sim.config import EngineConfig, SymbolSpec
from tradebus.venues.sim.prices import BLOCK_SECONDS, Block, PricePath
from tradebus.venues.sim.replay import ReplayPath

AccountEvent = tuple[str, VenueOrder | VenueFill]
MAX_CLIENT_ORDER_ID = 64


class OrderRejected(ValueError):
    """A request the exchange refuses outright (bad symbol, size, price...): nothing is stored."""


@dataclass(frozen=True, slots=True)
class MarketQuote:
    symbol: str
    bid: float
    ask: float
    last: float
    last_qty: float
    ts: int


@dataclass(frozen=True, slots=True)
class MarketTrade:
    symbol: str
    price: float
    qty: float
    side: Side  # the aggressor's side
    trades: int  # prints aggregated into this step's trade
    ts: int


@dataclass(frozen=True, slots=True)
class BookView:
    symbol: str
    bids: list[tuple[Decimal, Decimal]]
    asks: list[tuple[Decimal, Decimal]]
    ts: int


@dataclass(frozen=True, slots=True)
class AccountView:
    cash: Decimal
    equity: Decimal
    positions: dict[str, tuple[Decimal, Decimal]]  # symbol -> (qty, avg_price)


@dataclass(slots=True)
class Events:
    trades: list[MarketTrade] = field(default_factory=list)
    account: list[AccountEvent] = field(default_factory=list)


class _Market:
    """Per-symbol live state. Prices of the quote are kept as integer counts of increments."""

    __slots__ = (
        "ask_t", "bars", "best_buy_t", "best_sell_t", "bid_t", "block", "consumed_ask",
        "consumed_bid", "half_spread", "inc", "inc_f", "instrument", "last", "last_qty", "mid",
        "path", "resting", "size_inc_f", "spec",
    )  # fmt: skip

    def __init__(self, spec: SymbolSpec, path: PricePath | ReplayPath, bars: BarStore) -> None:
        self.spec = spec
        self.instrument = spec.instrument
        self.inc = spec.instrument.price_increment
        self.inc_f = float(self.inc)
        self.size_inc_f = float(spec.instrument.size_increment)
        self.half_spread = spec.spread_bps / 2e4
        self.path = path
        self.bars = bars
        self.block: Block | None = None
        self.resting: list[Order] = []
        self.best_buy_t = -1  # highest resting buy (ticks); -1 when none
        self.best_sell_t = 1 << 62  # lowest resting sell (ticks)
        self.consumed_bid = ZERO
        self.consumed_ask = ZERO
        self.mid = spec.process.start_price
        self.last = self.mid
        self.last_qty = 0.0
        self.bid_t = 0
        self.ask_t = 0
        self.set_mid(self.mid)

    def set_mid(self, mid: float) -> None:
        self.mid = mid
        half = mid * self.half_spread
        self.bid_t = math.floor((mid - half) / self.inc_f)
        ask_t = math.ceil((mid + half) / self.inc_f)
        self.ask_t = ask_t if ask_t > self.bid_t else self.bid_t + 1

    def reindex(self) -> None:
        """Recompute the best resting prices, so a step can skip the orders in one compare."""
        buys = [o.price_ticks for o in self.resting if o.side is Side.BUY]
        sells = [o.price_ticks for o in self.resting if o.side is Side.SELL]
        self.best_buy_t = max(buys, default=-1)
        self.best_sell_t = min(sells, default=1 << 62)

    def gap_ticks(self) -> int:
        return max(1, round(self.mid * self.spec.level_bps / 1e4 / self.inc_f))

    def level_unit(self) -> Decimal:
        """Size of the top synthetic level (level k holds k + 1 units)."""
        inst = self.instrument
        units = int(self.spec.level_notional / self.mid / self.size_inc_f)
        min_units = int(inst.min_size / inst.size_increment)
        return Decimal(max(units, min_units, 1)) * inst.size_increment


class SimEngine:
    """The exchange. `advance(now_ns)` moves the path forward; orders act at the current time."""

    def __init__(self, config: EngineConfig, start_ns: int) -> None:
        self.config = config
        self.step_ns = config.step_ms * 1_000_000
        block_s = BLOCK_SECONDS
        history_blocks = -(-config.history_s // block_s)
        start = (start_ns // SECOND_NS) * SECOND_NS
        self.t0_ns = start - history_blocks * block_s * SECOND_NS
        self._k = 0  # index of the next path step to happen, at t0 + k * step
        self._block_steps = block_s * SECOND_NS // self.step_ns
        self.now_ns = self.t0_ns
        self._markets: dict[str, _Market] = {}
        for spec in config.symbols:
            symbol = spec.instrument.symbol
            if symbol in self._markets:
                raise ValueError(f"symbol {symbol} is configured twice")
            rng = np.random.default_rng([config.seed, zlib.crc32(symbol.encode())])
            recorded = config.replay.get(symbol)
            path: PricePath | ReplayPath = (
                ReplayPath(recorded, self.step_ns / SECOND_NS, self.t0_ns)
                if recorded
                else PricePath(spec.process, self.step_ns / SECOND_NS, rng)
            )
            market = _Market(spec, path, BarStore(self.t0_ns))
            for _ in range(history_blocks):
                market.block = path.next_block()
                market.bars.append(market.block)
            if market.block is not None:
                market.set_mid(market.block.mids[-1])
            market.last = round(market.mid / market.inc_f) * market.inc_f
            self._markets[symbol] = market
        self._k = history_blocks * self._block_steps
        self._accounts = {a: Account(a, config.starting_cash) for a in config.accounts}
        self._order_seq = 0
        self._fill_seq = 0
        self.advance(start)

    # --- time -------------------------------------------------------------------------------

    def advance(self, now_ns: int) -> Events:
        """Run every path step due at or before `now_ns`; fills of resting orders happen here."""
        events = Events()
        step_ns, t0, bs = self.step_ns, self.t0_ns, self._block_steps
        markets = self._markets.values()
        while t0 + self._k * step_ns <= now_ns:
            t = t0 + self._k * step_ns
            j = self._k % bs
            for m in markets:
                if j == 0 or m.block is None:
                    m.block = m.path.next_block()
                    m.bars.append(m.block)
                self._step(m, m.block, j, t, events)
            self._k += 1
        self.now_ns = max(self.now_ns, now_ns)
        return events

    def _step(self, m: _Market, block: Block, j: int, t: int, events: Events) -> None:
        prev = m.mid
        m.set_mid(block.mids[j])
        if m.consumed_bid or m.consumed_ask:
            m.consumed_bid = m.consumed_ask = ZERO
        if block.prints[j]:
            side = Side.BUY if m.mid >= prev else Side.SELL
            m.last = (m.ask_t if side is Side.BUY else m.bid_t) * m.inc_f
            m.last_qty = block.volumes[j]
            events.trades.append(
                MarketTrade(m.instrument.symbol, m.last, m.last_qty, side, block.prints[j], t)
            )
        if m.ask_t <= m.best_buy_t or m.bid_t >= m.best_sell_t:
            self._fill_resting(m, t, events)

    def _fill_resting(self, m: _Market, t: int, events: Events) -> None:
        unit: Decimal | None = None
        for order in list(m.resting):
            if order.side is Side.BUY:
                through = order.price_ticks - m.ask_t
            else:
                through = m.bid_t - order.price_ticks
            if through < 0:
                continue
            if unit is None:
                unit = m.level_unit()
            cap = unit * (1 + through // m.gap_ticks())
            qty = min(order.remaining, cap)
            price = order.price if order.price is not None else Decimal(order.price_ticks) * m.inc
            self._fill(order, qty, price, "maker", t, events.account)
            if order.remaining == ZERO:
                order.status = OrderStatus.FILLED
                m.resting.remove(order)
            else:
                order.status = OrderStatus.PARTIALLY_FILLED
            order.ts_event = t
            events.account.append((order.account, order.snapshot()))
        m.reindex()

    # --- orders -----------------------------------------------------------------------------

    def submit(self, account: str, req: OrderRequest) -> tuple[VenueOrder, list[AccountEvent]]:
        """Place an order. A repeated client_order_id returns the existing order and no events.
        Raises OrderRejected (nothing stored) for malformed requests."""
        acct = self._account(account)
        existing = acct.orders.get(req.client_order_id)
        if existing is not None:
            return existing.snapshot(), []
        m = self._validate(req)
        self._order_seq += 1
        price_ticks = int(req.price / m.inc) if req.price is not None else 0
        order = Order(
            account=acct.id,
            client_order_id=req.client_order_id,
            venue_order_id=f"S{self._order_seq}",
            symbol=req.symbol,
            side=req.side,
            type=req.type,
            qty=req.qty,
            price=req.price,
            price_ticks=price_ticks,
            ts_event=self.now_ns,
        )
        acct.orders[order.client_order_id] = order
        events: list[AccountEvent] = []
        buy = req.side is Side.BUY
        crosses = req.type is OrderType.MARKET or (price_ticks >= m.ask_t if buy else price_ticks <= m.bid_t)
        if req.type is OrderType.POST_ONLY and crosses:
            order.status = OrderStatus.REJECTED
            order.reason = "post-only order would cross the book"
        else:
            if crosses:
                limit = None if req.type is OrderType.MARKET else price_ticks
                self._take(m, order, limit, events)
            if order.remaining == ZERO:
                order.status = OrderStatus.FILLED
            elif req.type is OrderType.MARKET:
                order.status = OrderStatus.CANCELED
                order.reason = "book exhausted: unfilled remainder canceled"
            else:
                filled = order.filled_qty > ZERO
                order.status = OrderStatus.PARTIALLY_FILLED if filled else OrderStatus.ACKED
                m.resting.append(order)
                m.reindex()
        snap = order.snapshot()
        events.append((acct.id, snap))
        return snap, events

    def _validate(self, req: OrderRequest) -> _Market:
        cid = req.client_order_id
        if not cid or len(cid) > MAX_CLIENT_ORDER_ID:
            raise OrderRejected(f"client_order_id must be 1..{MAX_CLIENT_ORDER_ID} characters")
        m = self._markets.get(req.symbol)
        if m is None:
            raise OrderRejected(f"symbol {req.symbol!r} is unknown; known: {', '.join(self._markets)}")
        inst = m.instrument
        if not req.qty.is_finite() or req.qty <= ZERO:
            raise OrderRejected(f"qty must be > 0, got {req.qty}")
        if req.qty < inst.min_size:
            raise OrderRejected(f"qty {req.qty} is below min_size {inst.min_size} of {inst.symbol}")
        if req.qty % inst.size_increment:
            raise OrderRejected(f"qty {req.qty} is not a multiple of size_increment {inst.size_increment}")
        if req.type is OrderType.MARKET:
            if req.price is not None:
                raise OrderRejected("price must not be set for market orders")
        elif req.price is None:
            raise OrderRejected(f"price is required for {req.type.value} orders")
        elif not req.price.is_finite() or req.price <= ZERO:
            raise OrderRejected(f"price must be > 0, got {req.price}")
        elif req.price % inst.price_increment:
            raise OrderRejected(
                f"price {req.price} is not a multiple of price_increment {inst.price_increment}"
            )
        return m

    def _take(self, m: _Market, order: Order, limit_ticks: int | None, out: list[AccountEvent]) -> None:
        """Walk the synthetic levels on the far side, taker fills, up to `limit_ticks`."""
        buy = order.side is Side.BUY
        gap = m.gap_ticks()
        unit = m.level_unit()
        skip = m.consumed_ask if buy else m.consumed_bid
        taken = ZERO
        best = m.ask_t if buy else m.bid_t
        for lvl in range(self.config.book_levels):
            price_t = best + lvl * gap if buy else best - lvl * gap
            if price_t <= 0:
                break
            if limit_ticks is not None and (price_t > limit_ticks if buy else price_t < limit_ticks):
                break
            avail = unit * (lvl + 1)
            if skip >= avail:
                skip -= avail
                continue
            avail -= skip
            skip = ZERO
            qty = min(avail, order.remaining)
            self._fill(order, qty, Decimal(price_t) * m.inc, "taker", self.now_ns, out)
            taken += qty
            if order.remaining == ZERO:
                break
        if buy:
            m.consumed_ask += taken
        else:
            m.consumed_bid += taken

    def _fill(
        self, order: Order, qty: Decimal, price: Decimal, liquidity: str, t: int,
        out: list[AccountEvent],
    ) -> None:  # fmt: skip
        rate = self.config.maker_fee if liquidity == "maker" else self.config.taker_fee
        self._fill_seq += 1
        fill = VenueFill(
            venue_fill_id=f"F{self._fill_seq}",
            venue_order_id=order.venue_order_id,
            client_order_id=order.client_order_id,
            symbol=order.symbol,
            side=order.side,
            qty=qty,
            price=price,
            fee=fee_of(qty, price, rate),
            liquidity=liquidity,
            ts_event=t,
        )
        order.filled_qty += qty
        order.notional += qty * price
        self._accounts[order.account].book_fill(fill)
        out.append((order.account, fill))

    def cancel(self, account: str, client_order_id: str) -> tuple[VenueOrder, list[AccountEvent]]:
        """Cancel a resting order. Cancelling a finished order returns it unchanged, no events."""
        order = self._order(account, client_order_id)
        if order.status.terminal:
            return order.snapshot(), []
        order.status = OrderStatus.CANCELED
        order.ts_event = self.now_ns
        market = self._markets[order.symbol]
        market.resting.remove(order)
        market.reindex()
        snap = order.snapshot()
        return snap, [(account, snap)]

    # --- queries ----------------------------------------------------------------------------

    @property
    def instruments(self) -> list[Instrument]:
        return [m.instrument for m in self._markets.values()]

    @property
    def accounts(self) -> list[str]:
        return list(self._accounts)

    def order(self, account: str, client_order_id: str) -> VenueOrder:
        return self._order(account, client_order_id).snapshot()

    def open_orders(self, account: str) -> list[VenueOrder]:
        orders = self._account(account).orders.values()
        return [o.snapshot() for o in orders if not o.status.terminal]

    def fills(self, account: str, since: int = 0) -> list[VenueFill]:
        return self._account(account).fills_since(since)

    def account(self, account: str) -> AccountView:
        acct = self._account(account)
        equity = acct.cash
        positions: dict[str, tuple[Decimal, Decimal]] = {}
        for symbol, pos in acct.positions.items():
            equity += pos.qty * self.mark(symbol)
            positions[symbol] = (pos.qty, pos.avg_price)
        return AccountView(cash=acct.cash, equity=equity, positions=positions)

    def position(self, account: str, symbol: str) -> Position:
        pos = self._account(account).positions.get(symbol, Position())
        return Position(pos.qty, pos.avg_price)

    def mark(self, symbol: str) -> Decimal:
        """Mid of the quote, exact in increments."""
        m = self._market(symbol)
        return Decimal(m.bid_t + m.ask_t) * m.inc / 2

    def quote(self, symbol: str) -> MarketQuote:
        m = self._market(symbol)
        return MarketQuote(symbol, m.bid_t * m.inc_f, m.ask_t * m.inc_f, m.last, m.last_qty, self.now_ns)

    def quotes(self) -> list[MarketQuote]:
        now = self.now_ns
        return [
            MarketQuote(s, m.bid_t * m.inc_f, m.ask_t * m.inc_f, m.last, m.last_qty, now)
            for s, m in self._markets.items()
        ]

    def regime_vol(self, symbol: str) -> float:
        return self._market(symbol).path.regime_vol

    def book(self, symbol: str, depth: int = 10) -> BookView:
        """Synthetic levels (less what was taken this step) plus the accounts' resting orders."""
        if depth < 1:
            raise OrderRejected(f"depth must be >= 1, got {depth}")
        m = self._market(symbol)
        gap, unit = m.gap_ticks(), m.level_unit()
        sides: list[list[tuple[Decimal, Decimal]]] = []
        for buy in (True, False):
            levels: dict[int, Decimal] = {}
            skip = m.consumed_bid if buy else m.consumed_ask
            best = m.bid_t if buy else m.ask_t
            for lvl in range(self.config.book_levels):
                price_t = best - lvl * gap if buy else best + lvl * gap
                avail = unit * (lvl + 1)
                used = min(skip, avail)
                skip -= used
                if avail > used and price_t > 0:
                    levels[price_t] = avail - used
                    if len(levels) >= depth:
                        break
            for o in m.resting:
                if (o.side is Side.BUY) == buy:
                    levels[o.price_ticks] = levels.get(o.price_ticks, ZERO) + o.remaining
            ordered = sorted(levels.items(), reverse=buy)[:depth]
            sides.append([(Decimal(t) * m.inc, q) for t, q in ordered])
        return BookView(symbol, sides[0], sides[1], self.now_ns)

    def candles(
        self, symbol: str, interval_ns: int, limit: int, end_ns: int | None = None
    ) -> list[CandleRow]:
        return self._market(symbol).bars.candles(interval_ns, limit, self.now_ns, end_ns)

    def _market(self, symbol: str) -> _Market:
        m = self._markets.get(symbol)
        if m is None:
            raise OrderRejected(f"symbol {symbol!r} is unknown; known: {', '.join(self._markets)}")
        return m

    def _account(self, account: str) -> Account:
        acct = self._accounts.get(account)
        if acct is None:
            raise KeyError(f"account {account!r} does not exist")
        return acct

    def _order(self, account: str, client_order_id: str) -> Order:
        order = self._account(account).orders.get(client_order_id)
        if order is None:
            raise OrderNotFound(f"order {client_order_id!r} not found")
        return order
