"""marketdata shell: venue feed -> ticks and candles on NATS; answers history requests."""

from __future__ import annotations

import asyncio
import time

import structlog
from prometheus_client import Counter, Gauge

from proto import Candle, HistoryReply, HistoryRequest, Tick
from proto.subjects import MD_HISTORY, md_candle, md_tick
from services.marketdata.core import CandleAggregator
from services.marketdata.settings import MarketdataSettings
from tradebus.service import Runtime
from tradebus.settings import load
from tradebus.venues.registry import open_feed

log = structlog.get_logger()


async def run(rt: Runtime) -> None:
    cfg: MarketdataSettings = load(MarketdataSettings)  # type: ignore[assignment]
    feed = open_feed(cfg.venue, cfg.venue_url, cfg.venue_api_key)
    ticks_total = Counter("tradebus_marketdata_ticks_total", "Ticks received", registry=rt.registry)
    candles_total = Counter(
        "tradebus_marketdata_candles_total",
        "Closed candles published",
        ["interval"],
        registry=rt.registry,
    )
    late_total = Counter(
        "tradebus_marketdata_late_ticks_total", "Ticks dropped as late", registry=rt.registry
    )
    last_tick = Gauge(
        "tradebus_marketdata_last_tick_timestamp_seconds",
        "Wall time of the last tick",
        registry=rt.registry,
    )
    venue_up = Gauge(
        "tradebus_venue_connected",
        "1 while the venue feed delivers (a tick within the last 30 s)",
        ["venue"],
        registry=rt.registry,
    )

    symbols = list(cfg.symbols) or [i.symbol for i in await feed.instruments()]
    agg = CandleAggregator(cfg.intervals, history=cfg.history_size)
    log.info("marketdata ready", venue=cfg.venue, symbols=symbols, intervals=cfg.intervals)
    seen = {"at": 0.0}
    rt.checks["feed"] = lambda: time.monotonic() - seen["at"] < 30
    # observability: connected = the feed delivered lately; 0 from the start and after a silence
    venue_up.labels(cfg.venue).set_function(lambda: 1.0 if seen["at"] and rt.checks["feed"]() else 0.0)
    late_seen = {"n": 0}

    async def publish_closed(candles: list[Candle]) -> None:
        for c in candles:
            subject = md_candle(c.venue, c.symbol, c.interval)
            await rt.bus.publish_durable(subject, c, f"{subject}:{c.ts_open}")
            candles_total.labels(c.interval).inc()

    async def pump() -> None:
        async for tick in feed.ticks(symbols):
            seen["at"] = time.monotonic()
            ticks_total.inc()
            last_tick.set(time.time())
            await rt.bus.publish(md_tick(tick.venue, tick.symbol), tick)
            closed = agg.on_tick(tick)
            if closed:
                await publish_closed(closed)
                late_total.inc(agg.late - late_seen["n"])
                late_seen["n"] = agg.late

    async def partials() -> None:
        while cfg.partial_every_s > 0:
            await asyncio.sleep(cfg.partial_every_s)
            for c in agg.partials():
                await rt.bus.publish(md_candle(c.venue, c.symbol, c.interval), c)

    async def history(req: HistoryRequest) -> HistoryReply:
        local = agg.history_of(req.symbol, req.interval, req.limit, req.end)
        if len(local) >= req.limit:
            return HistoryReply(candles=tuple(local))
        try:
            remote = await feed.candles(req.symbol, req.interval, limit=req.limit, end=req.end)
        except Exception as exc:
            log.warning("history from venue failed", symbol=req.symbol, error=str(exc))
            return HistoryReply(candles=tuple(local), error=f"venue: {exc}")
        first_local = local[0].ts_open if local else None
        merged = [c for c in remote if first_local is None or c.ts_open < first_local] + local
        return HistoryReply(candles=tuple(merged[-req.limit :]))

    await rt.bus.serve(
        MD_HISTORY,
        HistoryRequest,
        history,
        queue="marketdata",
        error_reply=lambda e: HistoryReply(error=e),
    )
    rt.spawn(pump(), "feed")
    rt.spawn(partials(), "partials")


def main() -> None:
    from tradebus.service import run_service

    asyncio.run(run_service("marketdata", run))


__all__ = ["Tick", "main", "run"]
