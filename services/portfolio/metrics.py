"""The portfolio's Prometheus series: every figure of every book, and the ledger's own counters.

Figures are exported by a collector that reads the latest :class:`Figures` the service computed
(the service refreshes them every ``metrics_every_s``), so a scrape never sees half an update and
a series exists exactly for the books and symbols the ledger knows. Money is in the quote
currency (USD on the sim exchange); the account's book has ``strategy="net"``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from decimal import Decimal

from prometheus_client import CollectorRegistry, Counter, Histogram
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from services.portfolio.core import ACCOUNT, Figures
from tradebus.metrics import LATENCY_BUCKETS

#: figure attribute -> (gauge name, help). Every money figure of a book, one series per book.
MONEY_GAUGES: dict[str, tuple[str, str]] = {
    "cash": ("tradebus_strategy_cash_usd", "Cash: starting cash (account only) minus cost of fills and fees"),
    "realized": ("tradebus_strategy_realized_pnl_usd", "Realized PnL, gross of fees (average cost)"),
    "unrealized": ("tradebus_strategy_unrealized_pnl_usd", "Unrealized PnL of open positions at last price"),
    "fees": ("tradebus_strategy_fees_usd", "Fees paid (negative: rebates earned)"),
    "pnl": ("tradebus_strategy_pnl_usd", "PnL: realized + unrealized - fees"),
    "total_value": ("tradebus_strategy_total_value_usd", "Cash plus positions at last price"),
    "exposure": ("tradebus_strategy_exposure_usd", "Sum of |position| x last price over symbols"),
    "turnover": ("tradebus_strategy_turnover_usd", "Sum of |qty| x price over every fill"),
    "max_drawdown": ("tradebus_strategy_max_drawdown_usd", "Largest fall of PnL from its running peak"),
    "current_drawdown": ("tradebus_strategy_current_drawdown_usd", "PnL's distance below its peak now"),
}

#: figure attribute -> (counter name without _total, help)
COUNT_FIGURES: dict[str, tuple[str, str]] = {
    "trade_count": ("tradebus_strategy_trades", "Closed trades (fills that reduce a position)"),
    "wins": ("tradebus_strategy_wins", "Closed trades with PnL net of their fee share > 0"),
    "losses": ("tradebus_strategy_losses", "Closed trades with PnL net of their fee share < 0"),
}


def _f(value: Decimal) -> float:
    return float(value)


class FiguresCollector(Collector):
    """Yields the figures of the last :meth:`update` on every scrape."""

    def __init__(self) -> None:
        self._figures: dict[str, Figures] = {}
        self._prices: dict[str, Decimal] = {}

    def update(self, figures: Mapping[str, Figures], last_prices: Mapping[str, Decimal]) -> None:
        self._figures = dict(figures)
        self._prices = dict(last_prices)

    def describe(self) -> list[Metric]:
        return []  # families depend on the books present; registered without a name check

    def collect(self) -> Iterator[Metric]:
        books = sorted(self._figures.items())
        for attr, (name, doc) in MONEY_GAUGES.items():
            g = GaugeMetricFamily(name, f"{doc} (strategy={ACCOUNT} is the account)", labels=["strategy"])
            for strategy, f in books:
                g.add_metric([strategy], _f(getattr(f, attr)))
            yield g
        for attr, (name, doc) in COUNT_FIGURES.items():
            c = CounterMetricFamily(name, doc, labels=["strategy"])
            for strategy, f in books:
                c.add_metric([strategy], float(getattr(f, attr)))
            yield c
        yield self._optional(
            "tradebus_strategy_win_ratio", "Wins / closed trades", books, lambda f: f.win_rate
        )
        yield self._optional(
            "tradebus_strategy_sharpe_ratio",
            "Annualized Sharpe ratio of the PnL snapshots' changes",
            books,
            lambda f: f.sharpe,
        )
        position = GaugeMetricFamily(
            "tradebus_strategy_position", "Position in base units per symbol", labels=["strategy", "symbol"]
        )
        avg = GaugeMetricFamily(
            "tradebus_strategy_avg_price_usd",
            "Average entry price of the position",
            labels=["strategy", "symbol"],
        )
        for strategy, f in books:
            for symbol, s in sorted(f.symbols.items()):
                position.add_metric([strategy, symbol], _f(s.qty))
                avg.add_metric([strategy, symbol], _f(s.avg_price))
        yield position
        yield avg
        last = GaugeMetricFamily(
            "tradebus_portfolio_last_price_usd",
            "Last price the ledger values positions at",
            labels=["symbol"],
        )
        for symbol, price in sorted(self._prices.items()):
            last.add_metric([symbol], _f(price))
        yield last

    @staticmethod
    def _optional(
        name: str, doc: str, books: list[tuple[str, Figures]], value: Callable[[Figures], float | None]
    ) -> Metric:
        """A gauge with a series only for books where the figure is defined."""
        g = GaugeMetricFamily(name, f"{doc}; absent while undefined", labels=["strategy"])
        for strategy, f in books:
            v = value(f)
            if v is not None:
                g.add_metric([strategy], v)
        return g


class PortfolioMetrics:
    """Every series the portfolio service adds to its registry."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self.figures = FiguresCollector()
        registry.register(self.figures)
        self.fills = Counter(
            "tradebus_portfolio_fills_total",
            "Fills stored in the ledger",
            ["strategy", "liquidity"],
            registry=registry,
        )
        self.duplicates = Counter(
            "tradebus_portfolio_duplicate_fills_total",
            "Redelivered fills found already stored (no effect)",
            registry=registry,
        )
        self.write_seconds = Histogram(
            "tradebus_portfolio_fill_write_seconds",
            "Time to store one batch of fills in Postgres",
            buckets=LATENCY_BUCKETS,
            registry=registry,
        )
