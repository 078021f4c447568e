"""`python -m tradebus.venues.sim`: run the sim exchange (settings from TRADEBUS_SIM_* env)."""

from __future__ import annotations

import asyncio
import contextlib

from tradebus.settings import load
from tradebus.venues.sim.server import serve
from tradebus.venues.sim.settings import SimSettings


def main() -> None:
    settings: SimSettings = load(SimSettings)  # type: ignore[assignment]
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(serve(settings))


if __name__ == "__main__":
    main()
