"""The portfolio's pure core: fills in, every PnL figure out. Decimal money, no I/O, no clock.

Books
    There is one book per strategy, fed with every fill attributed to it (venue and internal),
    and one book for the account (key :data:`ACCOUNT`), fed with venue fills only. Internal
    crosses move a position from one strategy to another at one price with no fee; on the
    venue nothing happened, so the account ignores them. Consequence: the sum over strategies
    of ``pnl``, ``cash``, positions and fees equals the account's (once both legs of every cross
    have arrived), but the split between realized and unrealized may differ, because each book
    runs its own average cost.

Average cost (per book and symbol)
    * A fill that opens or increases a position keeps the quantity-weighted average entry price.
    * A fill that reduces a position realizes ``(price - avg) * closed_qty * sign(position)`` and
      leaves the average unchanged (partial close).
    * A fill larger than the position flips it: the old position is closed in full (realizing as
      above) and the rest opens a new position at the fill price.
    Realized PnL is gross; fees are kept apart. ``pnl = realized + unrealized - fees``.

Cash and value
    A strategy starts with no cash: ``cash = -sum(signed qty * price) - fees``. The account
    starts with ``starting_cash``. ``total_value = cash + sum(position * last price)``; for a
    strategy that is its PnL. ``pnl`` is reported as ``total_value - starting cash`` (exact: no
    division), and equals ``realized + unrealized - fees`` up to the rounding of the average
    price (28 significant digits).

Trades (round trips)
    Every fill that reduces a position counts as one closed trade (a flip counts once, for its
    closing part). It is a *win* if its realized PnL minus its share of the fill's fee (fee times
    closed qty over fill qty) is > 0, a *loss* if < 0, neither if exactly 0.
    ``win_rate = wins / trade_count`` (``None`` without trades).

Positions are keyed by symbol: a Ledger holds one account, on one venue.

Prices
    ``mark(symbol, price, ts_event)`` sets the last price of a symbol for every book. A fill also
    sets it, unless a newer mark is already known. Without any price, a position is valued at its
    average entry price (unrealized 0).

History, Sharpe, drawdown
    ``snapshot(ts_event)`` appends one point (the PnL) per book; the shell calls it every period
    (say each minute) and stores the returned rows. Sharpe is computed over those points (see
    :mod:`services.portfolio.series`, ``periods_per_year`` is the Ledger's parameter). Drawdowns
    are in money, over the snapshot points and the current value, from a peak of at least 0:
    every book's PnL curve starts at 0 (no fills, no PnL), so a book that only ever lost is in
    drawdown by all it lost.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from decimal import Decimal

from pydantic import BaseModel, ConfigDict

from proto.base import Money, Nanos
from proto.trading import Fill
from services.portfolio import series

#: The book key of the account as a whole (the venue's view), as in proto's `net` owner.
ACCOUNT = "net"

ZERO = Decimal(0)


class SymbolFigures(BaseModel):
    """One book's position in one symbol."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    symbol: str
    qty: Money
    avg_price: Money
    last_price: Money | None
    unrealized: Money
    realized: Money
    fees: Money
    exposure: Money


class PnlPoint(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    ts_event: Nanos
    pnl: Money


class Figures(BaseModel):
    """Every figure of one strategy, or of the account (``strategy`` = :data:`ACCOUNT`)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    strategy: str
    cash: Money
    symbols: dict[str, SymbolFigures]
    realized: Money
    unrealized: Money
    fees: Money
    pnl: Money
    total_value: Money
    trade_count: int
    wins: int
    losses: int
    win_rate: float | None
    sharpe: float | None
    max_drawdown: Money
    current_drawdown: Money
    exposure: Money
    turnover: Money
    history: tuple[PnlPoint, ...] = ()

    @property
    def positions(self) -> dict[str, Decimal]:
        return {s: f.qty for s, f in self.symbols.items()}


class EquitySnapshot(BaseModel):
    """A book's figures at one instant: a row of ``equity_snapshots``."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    strategy: str
    ts_event: Nanos
    cash: Money
    realized: Money
    unrealized: Money
    fees: Money
    pnl: Money
    total_value: Money
    exposure: Money


@dataclass(slots=True)
class Position:
    """Average-cost position of one book in one symbol."""

    qty: Decimal = ZERO
    avg_price: Decimal = ZERO
    realized: Decimal = ZERO
    fees: Decimal = ZERO
    cash: Decimal = ZERO
    turnover: Decimal = ZERO
    trades: int = 0
    wins: int = 0
    losses: int = 0

    def apply(self, signed_qty: Decimal, price: Decimal, fee: Decimal) -> None:
        if signed_qty == 0:
            raise ValueError("qty: a fill must have a non-zero quantity")
        qty = abs(signed_qty)
        self.cash -= signed_qty * price + fee
        self.fees += fee
        self.turnover += abs(qty * price)
        same_way = self.qty == 0 or (self.qty > 0) == (signed_qty > 0)
        if same_way:
            held = abs(self.qty)
            self.avg_price = (held * self.avg_price + qty * price) / (held + qty)
            self.qty += signed_qty
            return
        held = abs(self.qty)
        closed = min(qty, held)
        direction = 1 if self.qty > 0 else -1
        gross = (price - self.avg_price) * closed * direction
        self.realized += gross
        net = gross - fee * closed / qty
        self.trades += 1
        if net > 0:
            self.wins += 1
        elif net < 0:
            self.losses += 1
        if qty < held:
            self.qty += signed_qty
        elif qty == held:
            self.qty, self.avg_price = ZERO, ZERO
        else:
            self.qty = signed_qty + self.qty  # the rest, on the other side
            self.avg_price = price


@dataclass(slots=True)
class _Book:
    positions: dict[str, Position] = field(default_factory=dict)
    history: list[PnlPoint] = field(default_factory=list)
    history_f: list[float] = field(default_factory=list)
    peak: Decimal = ZERO  # the curve starts at 0
    max_dd: Decimal = ZERO

    def record(self, point: PnlPoint) -> None:
        if self.history and point.ts_event <= self.history[-1].ts_event:
            raise ValueError(
                f"ts_event: {point.ts_event} is not after the last point ({self.history[-1].ts_event})"
            )
        self.history.append(point)
        self.history_f.append(float(point.pnl))
        self.peak = max(self.peak, point.pnl)
        self.max_dd = max(self.max_dd, self.peak - point.pnl)


class Ledger:
    """In-memory books of every strategy and of the account; idempotent by fill id."""

    def __init__(self, starting_cash: Decimal = ZERO, periods_per_year: float = 525_600) -> None:
        if not isinstance(starting_cash, Decimal):
            raise TypeError("starting_cash: must be a Decimal")
        if not periods_per_year > 0:
            raise ValueError(f"periods_per_year: must be > 0, got {periods_per_year}")
        self.starting_cash = starting_cash
        self.periods_per_year = periods_per_year
        self._books: dict[str, _Book] = {ACCOUNT: _Book()}
        self._seen: set[tuple[str, str]] = set()
        self._last: dict[str, tuple[Decimal, Nanos | None]] = {}

    # -- input ---------------------------------------------------------------------------------

    def apply(self, fill: Fill) -> bool:
        """Book a fill; False (and nothing changes) if this venue's fill id was seen before."""
        key = (fill.venue, fill.fill_id)
        if key in self._seen:
            return False
        if fill.strategy == ACCOUNT:
            raise ValueError(f"strategy: {ACCOUNT!r} is the account's book, not a strategy")
        books = [self._book(fill.strategy)]
        if not fill.internal:
            books.append(self._books[ACCOUNT])
        for book in books:
            pos = book.positions.setdefault(fill.symbol, Position())
            pos.apply(fill.signed_qty, fill.price, fill.fee)
        self._seen.add(key)
        self._set_price(fill.symbol, fill.price, fill.ts_event)
        return True

    def apply_all(self, fills: Iterable[Fill]) -> int:
        """Book fills in order; returns how many were new."""
        return sum(self.apply(f) for f in fills)

    def mark(self, symbol: str, price: Decimal, ts_event: Nanos | None = None) -> None:
        """Set the last price of `symbol`; ignored if older than the price already known."""
        if not isinstance(price, Decimal):
            raise TypeError(f"price: must be a Decimal, got {type(price).__name__}")
        self._set_price(symbol, price, ts_event)

    def load_history(self, snapshots: Iterable[EquitySnapshot]) -> None:
        """Restore stored snapshot points (oldest first), e.g. after a restart."""
        for s in snapshots:
            self._book(s.strategy).record(PnlPoint(ts_event=s.ts_event, pnl=s.pnl))

    def snapshot(self, ts_event: Nanos) -> list[EquitySnapshot]:
        """Append a PnL point to every book's history; returns the rows to store."""
        for name, book in self._books.items():
            if book.history and ts_event <= book.history[-1].ts_event:
                raise ValueError(
                    f"ts_event: {ts_event} is not after {name}'s last snapshot ({book.history[-1].ts_event})"
                )
        rows = []
        for name in self._books:
            fig = self.figures(name)
            self._books[name].record(PnlPoint(ts_event=ts_event, pnl=fig.pnl))
            rows.append(
                EquitySnapshot(
                    strategy=name,
                    ts_event=ts_event,
                    cash=fig.cash,
                    realized=fig.realized,
                    unrealized=fig.unrealized,
                    fees=fig.fees,
                    pnl=fig.pnl,
                    total_value=fig.total_value,
                    exposure=fig.exposure,
                )
            )
        return rows

    # -- output --------------------------------------------------------------------------------

    def strategies(self) -> list[str]:
        return sorted(k for k in self._books if k != ACCOUNT)

    def last_price(self, symbol: str) -> Decimal | None:
        known = self._last.get(symbol)
        return known[0] if known else None

    def last_prices(self) -> dict[str, Decimal]:
        """The last price of every symbol with one (a mark or a fill)."""
        return {symbol: known[0] for symbol, known in sorted(self._last.items())}

    def figures(self, strategy: str | None = None, *, with_history: bool = False) -> Figures:
        """The figures of a strategy, or of the account when `strategy` is None or ACCOUNT.

        An unknown strategy has all-zero figures.
        """
        name = ACCOUNT if strategy is None else strategy
        book = self._books.get(name) or _Book()
        start = self.starting_cash if name == ACCOUNT else ZERO
        symbols: dict[str, SymbolFigures] = {}
        cash, market_value = start, ZERO
        realized = unrealized = fees = exposure = turnover = ZERO
        trades = wins = losses = 0
        for sym, pos in sorted(book.positions.items()):
            last = self.last_price(sym)
            mark = pos.avg_price if last is None else last
            sym_unrealized = (mark - pos.avg_price) * pos.qty
            sym_exposure = abs(pos.qty * mark)
            symbols[sym] = SymbolFigures(
                symbol=sym,
                qty=pos.qty,
                avg_price=pos.avg_price,
                last_price=last,
                unrealized=sym_unrealized,
                realized=pos.realized,
                fees=pos.fees,
                exposure=sym_exposure,
            )
            cash += pos.cash
            market_value += pos.qty * mark
            realized += pos.realized
            unrealized += sym_unrealized
            fees += pos.fees
            exposure += sym_exposure
            turnover += pos.turnover
            trades += pos.trades
            wins += pos.wins
            losses += pos.losses
        total_value = cash + market_value
        pnl = total_value - start
        peak = max(book.peak, pnl)
        current_dd = peak - pnl
        return Figures(
            strategy=name,
            cash=cash,
            symbols=symbols,
            realized=realized,
            unrealized=unrealized,
            fees=fees,
            pnl=pnl,
            total_value=total_value,
            trade_count=trades,
            wins=wins,
            losses=losses,
            win_rate=wins / trades if trades else None,
            sharpe=series.sharpe(book.history_f, self.periods_per_year),
            max_drawdown=max(book.max_dd, current_dd),
            current_drawdown=current_dd,
            exposure=exposure,
            turnover=turnover,
            history=tuple(book.history) if with_history else (),
        )

    def all_figures(self) -> dict[str, Figures]:
        """The account's figures (key ACCOUNT) and every strategy's."""
        return {name: self.figures(name) for name in [ACCOUNT, *self.strategies()]}

    # -- internals -----------------------------------------------------------------------------

    def _book(self, name: str) -> _Book:
        book = self._books.get(name)
        if book is None:
            book = self._books[name] = _Book()
        return book

    def _set_price(self, symbol: str, price: Decimal, ts_event: Nanos | None) -> None:
        known = self._last.get(symbol)
        if known is not None:
            known_ts = known[1]
            if ts_event is not None and known_ts is not None and ts_event < known_ts:
                return
            if ts_event is None:
                ts_event = known_ts
        self._last[symbol] = (price, ts_event)
