"""The `tradebus backtest` arguments, kept apart from the command so `tradebus` starts fast
(the backtest's numpy/polars imports load only when a backtest runs)."""

from __future__ import annotations

import argparse
from typing import Any


def _main(args: argparse.Namespace) -> int:
    from services.backtest.cli import main

    return main(args)


def add_parser(sub: Any) -> None:
    p: argparse.ArgumentParser = sub.add_parser("backtest", help="backtest strategies over history")
    p.add_argument(
        "--strategy",
        action="append",
        required=True,
        metavar="KIND[@NAME]",
        help="strategy class spec (builtin, file.py:Class, rules:x.yaml); repeat for several",
    )
    p.add_argument(
        "--params",
        nargs="*",
        action="extend",
        default=[],
        metavar="K=V",
        help="strategy params; with several strategies prefix with NAME. (NAME.k=v)",
    )
    p.add_argument("--data", action="append", default=[], metavar="FILE", help="CSV or Parquet bars")
    p.add_argument("--venue", default="sim")
    p.add_argument("--symbol", action="append", default=[])
    p.add_argument("--from", dest="start", help="ISO time or epoch seconds")
    p.add_argument("--to", dest="end", help="ISO time or epoch seconds")
    p.add_argument("--timeframe", help="bar interval (1m, 1h, 1d...); inferred from files")
    p.add_argument("--nats-url", default=None, help="for --workers nats and md.history (default NATS_URL)")
    p.add_argument("--cash", default="100000")
    p.add_argument("--maker-fee", default="0.0002")
    p.add_argument("--taker-fee", default="0.0005")
    p.add_argument("--spread-bps", type=float, default=1.0)
    p.add_argument("--depth", type=float, default=1_000_000.0, help="notional of the top book level")
    p.add_argument("--latency-ms", type=float, default=0.0)
    p.add_argument("--intrabar", choices=["auto", "ohlc", "olhc"], default="auto")
    p.add_argument("--price-increment", default=None)
    p.add_argument("--size-increment", default=None)
    p.add_argument("--grid", action="append", default=[], metavar="K=A,B,C")
    p.add_argument("--workers", default="1", help="processes for a sweep, or 'nats'")
    p.add_argument("--out", default=None, help="report directory (default var/backtest/<time>)")
    p.add_argument("--trades-format", choices=["csv", "parquet"], default="csv")
    p.add_argument("--no-progress", action="store_true")
    p.set_defaults(func=_main)
