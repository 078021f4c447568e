"""The `tradebus` command: `up` runs the platform on one machine; `run <service>` runs one service."""

from __future__ import annotations

import argparse
import asyncio
import importlib
import sys
from collections.abc import Callable

from tradebus import pnl_cli

#: every `tradebus run` target -> the module whose `main()` starts it
TARGETS: dict[str, str] = {
    "marketdata": "services.marketdata.service",
    "signals": "services.signals.service",
    "execution": "services.execution.service",
    "portfolio": "services.portfolio.service",
    "gateway": "services.gateway.service",
    "sim": "tradebus.venues.sim.__main__",
    "backtest": "services.backtest.service",
}


def _run(args: argparse.Namespace) -> int:
    from tradebus.config_check import check_settings

    check_settings(args.service)
    module = importlib.import_module(TARGETS[args.service])
    entry: Callable[[], None] = module.main
    entry()
    return 0


def _up(args: argparse.Namespace) -> int:
    from tradebus import logs
    from tradebus.config_check import check_strategies
    from tradebus.settings import load
    from tradebus.stack import StackSettings, up

    logs.configure("INFO", json=False)
    cfg = load(StackSettings)
    cfg.secure = cfg.secure or args.secure  # type: ignore[attr-defined]
    check_strategies(cfg.strategies_file)  # type: ignore[attr-defined]
    asyncio.run(up(cfg))  # type: ignore[arg-type]
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="tradebus", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    p_up = sub.add_parser("up", help="run the whole platform on this machine")
    p_up.add_argument("--secure", action="store_true", help="NATS users with allow lists per service")
    p_up.set_defaults(func=_up)
    p_run = sub.add_parser("run", help="run one service (joins NATS_URL / DATABASE_URL)")
    p_run.add_argument("service", choices=sorted(TARGETS))
    p_run.set_defaults(func=_run)
    from services.backtest.cli_args import add_parser as add_backtest
    from tradebus import backfill

    add_backtest(sub)
    pnl_cli.add_parser(sub)
    backfill.add_parser(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    func: Callable[[argparse.Namespace], int] = args.func
    return func(args)


if __name__ == "__main__":
    sys.exit(main())
