"""The ledger as a report for people and scripts (`tradebus pnl`). Pure: fills and figures in,
rows, text tables and JSON-ready dicts out.

A window ("since N hours") is the change between two states of the same ledger: the figures now
minus the figures at the window's start (every fill before it, valued at the prices known then).
Realized PnL, fees, PnL, turnover and the trade counts are those changes; cash, value, positions
and exposure are as they are now; Sharpe and the drawdowns are over the window's snapshots.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import MAX_PREC, Context, Decimal, Inexact, InvalidOperation, localcontext
from typing import Any

from proto.trading import Fill
from services.portfolio.core import ACCOUNT, Figures, Position

#: flows: over a window they are the difference between its end and its start
FLOW_MONEY = ("realized", "fees", "pnl", "turnover")
FLOW_COUNTS = ("trade_count", "wins", "losses")


@dataclass(frozen=True, slots=True)
class TradeRow:
    """One fill of a strategy, with what it did to that strategy's position in its symbol."""

    ts_event: int
    fill_id: str
    strategy: str
    symbol: str
    side: str
    qty: Decimal
    price: Decimal
    fee: Decimal
    liquidity: str
    #: gross PnL the fill realized (None if it only opened or added)
    realized: Decimal | None
    position_after: Decimal

    def as_json(self) -> dict[str, Any]:
        return {
            "ts": iso(self.ts_event),
            "ts_event": self.ts_event,
            "fill_id": self.fill_id,
            "strategy": self.strategy,
            "symbol": self.symbol,
            "side": self.side,
            "qty": _s(self.qty),
            "price": _s(self.price),
            "fee": _s(self.fee),
            "liquidity": self.liquidity,
            "realized": None if self.realized is None else _s(self.realized),
            "position_after": _s(self.position_after),
        }


def trade_rows(fills: Iterable[Fill]) -> list[TradeRow]:
    """Replay fills (in the order given: event order) per strategy and symbol, as the Ledger does."""
    positions: dict[tuple[str, str], Position] = {}
    rows = []
    for f in fills:
        pos = positions.setdefault((f.strategy, f.symbol), Position())
        trades, realized = pos.trades, pos.realized
        pos.apply(f.signed_qty, f.price, f.fee)
        rows.append(
            TradeRow(
                ts_event=f.ts_event,
                fill_id=f.fill_id,
                strategy=f.strategy,
                symbol=f.symbol,
                side=f.side.value,
                qty=f.qty,
                price=f.price,
                fee=f.fee,
                liquidity=f.liquidity.value,
                realized=pos.realized - realized if pos.trades > trades else None,
                position_after=pos.qty,
            )
        )
    return rows


#: a context whose subtraction of two figures is exact (an inexact one raises instead of rounding)
EXACT = Context(prec=MAX_PREC, traps=[Inexact, InvalidOperation])


def window(now: Figures, start: Figures) -> Figures:
    """The figures of the window from `start` to `now` (both of the same book)."""
    if now.strategy != start.strategy:
        raise ValueError(f"strategy: {now.strategy!r} and {start.strategy!r} are not the same book")
    # exact differences: `start` + the window must give back `now` to the last digit, and a
    # difference of two 28-digit figures (average costs divide) can need more digits than that
    with localcontext(EXACT):
        update: dict[str, Any] = {k: getattr(now, k) - getattr(start, k) for k in (*FLOW_MONEY, *FLOW_COUNTS)}
    update["win_rate"] = update["wins"] / update["trade_count"] if update["trade_count"] else None
    return now.model_copy(update=update)


def iso(ts_event: int) -> str:
    return datetime.fromtimestamp(ts_event / 1e9, UTC).strftime("%Y-%m-%d %H:%M:%S")


def _s(d: Decimal) -> str:
    return format(d, "f")


def _money(d: Decimal) -> str:
    return f"{d:,.2f}"


def _ratio(x: float | None) -> str:
    return "-" if x is None else f"{x:.2f}"


def _pct(x: float | None) -> str:
    return "-" if x is None else f"{x:.1%}"


#: table rows: label -> how to show it from a book's figures
ROWS: tuple[tuple[str, Callable[[Figures], str]], ...] = (
    ("trades", lambda f: str(f.trade_count)),
    ("wins", lambda f: str(f.wins)),
    ("losses", lambda f: str(f.losses)),
    ("win rate", lambda f: _pct(f.win_rate)),
    ("realized PnL", lambda f: _money(f.realized)),
    ("unrealized PnL", lambda f: _money(f.unrealized)),
    ("fees", lambda f: _money(f.fees)),
    ("PnL", lambda f: _money(f.pnl)),
    ("cash", lambda f: _money(f.cash)),
    ("total value", lambda f: _money(f.total_value)),
    ("exposure", lambda f: _money(f.exposure)),
    ("turnover", lambda f: _money(f.turnover)),
    ("Sharpe", lambda f: _ratio(f.sharpe)),
    ("max drawdown", lambda f: _money(f.max_drawdown)),
    ("drawdown now", lambda f: _money(f.current_drawdown)),
)


def table(header: Sequence[str], rows: Sequence[Sequence[str]], right_from: int = 1) -> str:
    """Plain text columns; the columns from `right_from` on are right-aligned."""
    widths = [max(len(str(r[i])) for r in [header, *rows]) for i in range(len(header))]

    def line(cells: Sequence[str]) -> str:
        pairs = enumerate(zip(cells, widths, strict=True))
        out = [c.rjust(w) if i >= right_from else c.ljust(w) for i, (c, w) in pairs]
        return "  ".join(out).rstrip()

    return "\n".join([line(header), line(["-" * w for w in widths]), *(line(r) for r in rows)])


def book_order(books: Mapping[str, Figures]) -> list[str]:
    """Strategies by name, then the account."""
    return [*sorted(k for k in books if k != ACCOUNT), *([ACCOUNT] if ACCOUNT in books else [])]


def figures_table(books: Mapping[str, Figures]) -> str:
    """One column per book (the account last, titled `account`), one row per figure."""
    names = book_order(books)
    header = ["", *("account" if n == ACCOUNT else n for n in names)]
    return table(header, [[label, *(show(books[n]) for n in names)] for label, show in ROWS])


def positions_table(books: Mapping[str, Figures]) -> str:
    rows = []
    for name in book_order(books):
        for sym, s in books[name].symbols.items():
            if s.qty == 0:
                continue
            last = "-" if s.last_price is None else _s(s.last_price)
            book = "account" if name == ACCOUNT else name
            rows.append([book, sym, _s(s.qty), _s(s.avg_price), last, _money(s.unrealized)])
    return table(["book", "symbol", "position", "avg price", "last price", "unrealized"], rows, right_from=2)


def trades_table(rows: Sequence[TradeRow]) -> str:
    body = [
        [
            iso(r.ts_event), r.strategy, r.symbol, r.side, _s(r.qty), _s(r.price), _s(r.fee), r.liquidity,
            "-" if r.realized is None else _money(r.realized), _s(r.position_after),
        ]
        for r in rows
    ]  # fmt: skip
    header = [
        "time (UTC)",
        "strategy",
        "symbol",
        "side",
        "qty",
        "price",
        "fee",
        "liquidity",
        "realized",
        "position",
    ]
    return table(header, body, right_from=4)


def figures_json(f: Figures) -> dict[str, Any]:
    """Money as decimal strings, counts as ints, ratios as floats (None when undefined)."""
    out: dict[str, Any] = f.model_dump(mode="json", exclude={"history", "strategy"})
    return out
