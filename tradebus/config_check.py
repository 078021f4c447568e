"""Settings checked before a service connects to anything: `tradebus run <service>` validates the
service's own settings model first, so a typo (an unknown `TRADEBUS_<SERVICE>_*` variable or a bad
value) stops the start at once with a message naming the key, instead of after the NATS
connection (which, with NATS down, could wait forever)."""

from __future__ import annotations

import importlib
from pathlib import Path

from pydantic_settings import BaseSettings

from tradebus.settings import load

#: `tradebus run` target -> "module:SettingsClass" of its own settings model, or "module:function"
#: that loads (and checks) them
SETTINGS: dict[str, str] = {
    "marketdata": "services.marketdata.settings:MarketdataSettings",
    "signals": "services.signals.settings:SignalsSettings",
    "execution": "services.execution.settings:load_settings",
    "portfolio": "services.portfolio.settings:PortfolioSettings",
    "gateway": "services.gateway.settings:GatewaySettings",
    "sim": "tradebus.venues.sim.settings:SimSettings",
}


def check_settings(target: str) -> None:
    """Raise SystemExit naming the key if `target`'s settings are not valid (no-op if it has none)."""
    spec = SETTINGS.get(target)
    if spec is None:
        return
    module, name = spec.split(":")
    found = getattr(importlib.import_module(module), name)
    if isinstance(found, type) and issubclass(found, BaseSettings):
        load(found)
    else:
        found()


def check_strategies(path: Path) -> None:
    """Every strategy of the strategies file resolves (class, rules file) and its params are valid;
    else SystemExit naming the file, the strategy and the key. `tradebus up` calls it before it
    starts anything: a signals process would only fail later, and be restarted forever."""
    from services.signals.service import ParamsError, parse_params
    from services.signals.strategies import load_strategy_class
    from services.signals.strategies.loader import StrategyLoadError
    from tradebus.stack import read_strategies

    for i, entry in enumerate(read_strategies(path)):
        where = f"{path}: strategies.{i} ({entry.name})"
        try:
            cls = load_strategy_class(entry.kind or entry.name)
        except StrategyLoadError as exc:
            raise SystemExit(f"{where}: kind: {exc}") from None
        try:
            parse_params(cls.Params, entry.params)
        except ParamsError as exc:
            raise SystemExit(f"{where}: params.{exc}") from None
