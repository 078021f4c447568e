"""signals shell: market data in, the strategy host in the middle, intents out on JetStream."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Sequence
from typing import Any

import structlog
from nats.js.errors import NotFoundError
from prometheus_client import Counter, Gauge, Histogram
from pydantic import ValidationError

from proto import (
    Candle,
    Fill,
    HistoryReply,
    HistoryRequest,
    IntentEnvelope,
    PositionUpdate,
    StrategyConfig,
    Tick,
)
from proto.marketdata import FeedStatus
from proto.subjects import (
    KV_CONTROL,
    KV_STRATEGIES,
    MD_HISTORY,
    exec_fill,
    exec_position,
    exec_positions,
    md_candle,
    md_tick,
    sig_intent,
)
from services.signals.api import StrategyParams
from services.signals.core import StrategyHost
from services.signals.settings import SignalsSettings
from services.signals.strategies import load_strategy_class
from tradebus.bus import decode, now_ns
from tradebus.metrics import LATENCY_BUCKETS
from tradebus.service import Runtime
from tradebus.settings import load

log = structlog.get_logger()


class ParamsError(ValueError):
    pass


def parse_params(model: type[StrategyParams], raw: dict[str, Any]) -> StrategyParams:
    try:
        return model.model_validate(raw)
    except ValidationError as exc:
        problems = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors())
        raise ParamsError(problems) from None


async def run(rt: Runtime) -> None:
    cfg: SignalsSettings = load(SignalsSettings)  # type: ignore[assignment]
    cls = load_strategy_class(cfg.kind or cfg.name)
    name = cfg.name
    bus = rt.bus
    structlog.contextvars.bind_contextvars(strategy=name)

    stored = await bus.kv_get(KV_STRATEGIES, name, StrategyConfig)
    if stored is None:
        stored = StrategyConfig(
            name=name,
            kind=cfg.kind or cfg.name,
            enabled=cfg.enabled,
            dry_run=cfg.dry_run,
            venue=cfg.venue,
            symbols=tuple(cfg.symbols),
            params=dict(cfg.params),
            ts_event=now_ns(),
        )
        await bus.kv_put(KV_STRATEGIES, name, stored)
    params = parse_params(cls.Params, stored.params)
    host = StrategyHost(name, cls, params, stored.venue, list(stored.symbols), stored.enabled, stored.dry_run)

    intents_total = Counter(
        "tradebus_signals_intents_total", "Intents published", ["strategy"], registry=rt.registry
    )
    errors_total = Counter(
        "tradebus_strategy_errors_total",
        "Exceptions raised by the strategy",
        ["strategy"],
        registry=rt.registry,
    )
    suppressed_total = Counter(
        "tradebus_signals_suppressed_total",
        "Entries held back because the strategy is disabled or its symbol's feed is stale",
        ["strategy"],
        registry=rt.registry,
    )
    enabled_g = Gauge(
        "tradebus_strategy_enabled",
        "1 when the strategy is enabled",
        ["strategy"],
        registry=rt.registry,
    )
    latency = Histogram(
        "tradebus_tick_to_intent_seconds",
        "From receiving market data to publishing the intents it caused",
        ["strategy"],
        buckets=LATENCY_BUCKETS,
        registry=rt.registry,
    )
    candles_seen = Counter(
        "tradebus_signals_candles_total",
        "Closed candles processed",
        ["strategy"],
        registry=rt.registry,
    )
    stale_g = Gauge(
        "tradebus_signals_stale_symbols", "Symbols whose feed is stale (entries paused)", ["strategy"],
        registry=rt.registry,
    )  # fmt: skip
    enabled_g.labels(name).set(1 if host.enabled else 0)
    seen = {"errors": 0, "suppressed": 0}

    async def emit(envs: Sequence[IntentEnvelope], started: float) -> None:
        for env in envs:
            await bus.publish_durable(sig_intent(name), env, env.intent.intent_id)
        if envs:
            intents_total.labels(name).inc(len(envs))
            latency.labels(name).observe(time.perf_counter() - started)
        if host.stats.errors != seen["errors"]:
            errors_total.labels(name).inc(host.stats.errors - seen["errors"])
            seen["errors"] = host.stats.errors
        if host.stats.suppressed != seen["suppressed"]:
            suppressed_total.labels(name).inc(host.stats.suppressed - seen["suppressed"])
            seen["suppressed"] = host.stats.suppressed

    # positions first, so the strategy knows what it holds before it acts
    for symbol in host.symbols:
        try:
            raw = await bus.js.get_last_msg("POSITIONS", exec_position(name, symbol))
            host.on_position(symbol, decode(PositionUpdate, raw.data or b"").qty)
        except NotFoundError:
            pass
        except Exception as exc:
            log.warning("could not read last position", symbol=symbol, error=str(exc))

    interval = params.interval
    need = cls(params, host.symbols[0]).warmup + cfg.warmup_extra if host.symbols else 0
    for symbol in host.symbols:
        req = HistoryRequest(venue=host.venue, symbol=symbol, interval=interval, limit=max(need, 1))
        try:
            reply = await bus.request(MD_HISTORY, req, HistoryReply, timeout=10)
            host.warm_up(reply.candles)
            log.info("warmed up", symbol=symbol, candles=len(reply.candles), error=reply.error)
        except Exception as exc:
            log.warning("warm-up failed; starting cold", symbol=symbol, error=str(exc))

    async def on_candle(c: Candle) -> None:
        if not c.closed or c.interval != interval:
            return
        started = time.perf_counter()
        candles_seen.labels(name).inc()
        await emit(host.on_candle(c), started)

    async def on_tick(t: Tick) -> None:
        started = time.perf_counter()
        await emit(host.on_tick(t), started)

    async def on_position(p: PositionUpdate) -> None:
        host.on_position(p.symbol, p.qty)

    async def on_fill(f: Fill) -> None:
        started = time.perf_counter()
        await emit(host.on_fill(f), started)

    for symbol in host.symbols:
        await bus.subscribe(md_candle(host.venue, symbol, interval), Candle, on_candle)
        await bus.subscribe(md_tick(host.venue, symbol), Tick, on_tick)
    await bus.subscribe(exec_positions(name), PositionUpdate, on_position)
    await bus.subscribe(exec_fill(name), Fill, on_fill)

    async def watch_config() -> None:
        async for _key, value in bus.kv_watch(KV_STRATEGIES, name, StrategyConfig):
            if value is None:
                continue
            if value.params != host.params.model_dump(mode="json"):
                try:
                    host.set_params(parse_params(cls.Params, value.params))
                    log.info("params applied", params=value.params)
                except ParamsError as exc:
                    log.error("params rejected; keeping the old ones", error=str(exc))
            was = host.enabled
            host.enabled, host.dry_run = value.enabled, value.dry_run
            enabled_g.labels(name).set(1 if host.enabled else 0)
            if was and not host.enabled:
                log.info("strategy disabled")
                await emit(host.withdraw(), time.perf_counter())
            elif host.enabled and not was:
                log.info("strategy enabled")

    async def watch_feeds() -> None:
        """Marketdata's stale-feed flags (KV `control`): no new entries in a stale symbol."""
        async for _key, status in bus.kv_watch(KV_CONTROL, f"feed.{host.venue}.*", FeedStatus):
            if status is not None and status.symbol in host.contexts:
                host.set_stale(status.symbol, status.stale)
                stale_g.labels(name).set(len(host.stale))
                if status.stale:
                    log.warning("feed stale: entries paused", symbol=status.symbol)
                else:
                    log.info("feed back: entries resume", symbol=status.symbol)

    async def on_shutdown() -> None:
        await emit(host.withdraw(), time.perf_counter())

    rt.exit_stack.push_async_callback(on_shutdown)
    rt.spawn(watch_config(), "config-watch")
    rt.spawn(watch_feeds(), "feed-watch")
    log.info("signals ready", kind=cls.name, symbols=host.symbols, interval=interval)


def main() -> None:
    from tradebus.service import run_service

    cfg: SignalsSettings = load(SignalsSettings)  # type: ignore[assignment]
    asyncio.run(run_service(f"signals-{cfg.name}", run))
