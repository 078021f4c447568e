"""A user's strategy file from a temporary directory, run through the real signals service on a
real NATS: intents out, parameters changed live through KV (bad ones refused), errors contained."""

from __future__ import annotations

import asyncio
import json
import textwrap
import uuid
from collections.abc import AsyncIterator
from decimal import Decimal
from pathlib import Path

import pytest
from prometheus_client import CollectorRegistry

from proto import Candle, IntentEnvelope, StrategyConfig, TargetPosition
from proto.marketdata import FeedStatus
from proto.subjects import KV_CONTROL, KV_STRATEGIES, feed_status_key, md_candle, sig_intent
from services.signals.service import run
from tradebus.bus import Bus
from tradebus.service import Runtime, run_service
from tradebus.settings import CommonSettings
from tradebus.testing.servers import eventually

USER_STRATEGY = '''
from decimal import Decimal
from typing import ClassVar
from services.signals.api import Strategy, StrategyParams, Target

class ThresholdParams(StrategyParams):
    threshold: float = 100.0

class Threshold(Strategy[ThresholdParams]):
    """Long `size` above the threshold, flat below; a close of 666 is a bug."""
    name: ClassVar[str] = "threshold"
    Params: ClassVar[type[StrategyParams]] = ThresholdParams

    def on_candle(self, candle, ctx):
        if candle.close == 666:
            raise RuntimeError("user bug")
        return (Target(qty=self.p.size if candle.close > self.p.threshold else Decimal(0)),)
'''


@pytest.fixture
async def bus(nats_url: str) -> AsyncIterator[Bus]:
    b = await Bus.connect(nats_url, service="test-signals", registry=CollectorRegistry())
    await b.ensure_streams()
    yield b
    await b.close()


async def test_user_strategy_runs_through_the_signals_service(
    bus: Bus, nats_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "mine.py").write_text(textwrap.dedent(USER_STRATEGY))
    name = f"user{uuid.uuid4().hex[:6]}"
    monkeypatch.setenv("TRADEBUS_SIGNALS_NAME", name)
    monkeypatch.setenv("TRADEBUS_SIGNALS_KIND", f"{tmp_path / 'mine.py'}:Threshold")
    monkeypatch.setenv("TRADEBUS_SIGNALS_SYMBOLS", '["X-USD"]')
    monkeypatch.setenv("TRADEBUS_SIGNALS_PARAMS", json.dumps({"interval": "1m", "size": "0.5"}))
    monkeypatch.setenv("TRADEBUS_SIGNALS_WARMUP_EXTRA", "0")

    got: list[TargetPosition] = []

    async def on_intent(env: IntentEnvelope) -> None:
        assert isinstance(env.intent, TargetPosition)
        got.append(env.intent)

    await bus.subscribe(sig_intent(name), IntentEnvelope, on_intent)
    runtime: dict[str, Runtime] = {}

    async def run_here(rt: Runtime) -> None:
        runtime["rt"] = rt
        await run(rt)

    stopping = asyncio.Event()
    service = asyncio.create_task(
        run_service(f"signals-{name}", run_here, CommonSettings(nats_url=nats_url, metrics_port=0), stopping)
    )
    try:
        await eventually(lambda: bus.kv_get(KV_STRATEGIES, name, StrategyConfig), what="the KV entry")
        minute = 60_000_000_000
        n = {"i": 1_000}

        async def candle(close: float) -> None:
            n["i"] += 1
            c = Candle(
                venue="sim", symbol="X-USD", interval="1m", ts_open=n["i"] * minute,
                open=close, high=close, low=close, close=close,
            )  # fmt: skip
            await bus.publish(md_candle("sim", "X-USD", "1m"), c)

        async def latest_after(close: float) -> Decimal | None:
            before = len(got)
            await candle(close)
            await eventually(lambda: len(got) > before, timeout=5, what="an intent")
            return got[-1].qty

        # subscriptions are made after the KV entry: poll until the first intent arrives
        async def first() -> bool:
            await candle(105)
            return bool(got)

        await eventually(first, timeout=10, interval=0.2, what="the first intent")
        assert got[-1].qty == Decimal("0.5")
        assert got[-1].strategy == name
        assert await latest_after(95) == Decimal(0)

        # a strategy exception is contained: the next candle works
        await candle(666)
        assert await latest_after(105) == Decimal("0.5")

        # parameters change live through KV
        cfg = await bus.kv_get(KV_STRATEGIES, name, StrategyConfig)
        assert cfg is not None
        await bus.kv_put(
            KV_STRATEGIES, name, cfg.model_copy(update={"params": {**cfg.params, "threshold": 110}})
        )

        async def applied() -> bool:
            return await latest_after(105) == Decimal(0)

        await eventually(applied, timeout=10, what="threshold 110 applied")

        # a bad value is refused: the old parameters stay in force, the service lives on
        await bus.kv_put(
            KV_STRATEGIES, name, cfg.model_copy(update={"params": {**cfg.params, "threshold": "x"}})
        )
        await bus.kv_put(
            KV_STRATEGIES, name, cfg.model_copy(update={"params": {**cfg.params, "threshold": "y"}})
        )
        assert await latest_after(105) == Decimal(0)  # still 110
        assert await latest_after(115) == Decimal("0.5")
        # ... and the watch survived them: a good value afterwards still applies
        await bus.kv_put(
            KV_STRATEGIES, name, cfg.model_copy(update={"params": {**cfg.params, "threshold": 100}})
        )

        async def back_to_100() -> bool:
            return await latest_after(105) == Decimal("0.5")

        await eventually(back_to_100, timeout=10, what="threshold 100 applied after bad values")

        # marketdata flags the feed stale: entries pause in that symbol, then resume. The
        # service's own metrics say when it has seen the flag and when it held an entry back.
        registry = runtime["rt"].registry

        def sample(metric: str) -> float:
            return registry.get_sample_value(metric, {"strategy": name}) or 0.0

        def feed(stale: bool) -> FeedStatus:
            return FeedStatus(venue="sim", symbol="X-USD", stale=stale)

        await bus.kv_put(KV_CONTROL, feed_status_key("sim", "X-USD"), feed(True))
        await eventually(lambda: sample("tradebus_signals_stale_symbols") == 1, what="the stale flag seen")
        held = sample("tradebus_signals_suppressed_total")
        await candle(105)  # an entry while flat: held back
        stale_ts = n["i"] * minute
        await eventually(
            lambda: sample("tradebus_signals_suppressed_total") > held, what="the entry held back"
        )

        await bus.kv_put(KV_CONTROL, feed_status_key("sim", "X-USD"), feed(False))
        await eventually(lambda: sample("tradebus_signals_stale_symbols") == 0, what="the feed back")
        assert await latest_after(105) == Decimal("0.5")
        # intents reach us in the order they were published: none was for the held-back candle
        assert all(i.ts_event != stale_ts for i in got)
        assert not service.done()
    finally:
        stopping.set()
        await asyncio.wait_for(service, 10)
