"""marketdata shell: venue feed -> ticks and candles on NATS; answers history requests."""

from __future__ import annotations

import asyncio
import time

import structlog
from prometheus_client import Counter, Gauge

from proto import Candle, HistoryReply, HistoryRequest, Tick, interval_ns
from proto.marketdata import FeedStatus
from proto.subjects import KV_CONTROL, MD_HISTORY, feed_status_key, md_candle, md_forming, md_tick
from services.marketdata.core import CandleAggregator
from services.marketdata.history import StaleTracker, finer_intervals, with_fallback
from services.marketdata.settings import MarketdataSettings
from services.marketdata.store import ParquetHistory
from tradebus.service import Runtime
from tradebus.settings import load
from tradebus.venues.registry import open_feed

log = structlog.get_logger()


async def run(rt: Runtime) -> None:
    cfg: MarketdataSettings = load(MarketdataSettings)  # type: ignore[assignment]
    feed = open_feed(
        cfg.venue,
        cfg.venue_url,
        cfg.venue_api_key,
        sandbox=cfg.venue_sandbox,
        credentials=cfg.venue_credentials,
        options=cfg.venue_options,
    )
    store = ParquetHistory(cfg.history_dir) if cfg.history_dir else None
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

    stale_now = Gauge(
        "tradebus_marketdata_stale_symbols", "Symbols whose feed is stale", registry=rt.registry
    )
    stale_total = Counter(
        "tradebus_marketdata_stale_total", "Times a symbol's feed went stale", registry=rt.registry
    )

    symbols = list(cfg.symbols) or [i.symbol for i in await feed.instruments()]
    agg = CandleAggregator(cfg.intervals, history=cfg.history_size)
    log.info("marketdata ready", venue=cfg.venue, symbols=symbols, intervals=cfg.intervals)
    seen = {"at": 0.0}
    rt.checks["feed"] = lambda: time.monotonic() - seen["at"] < 30
    # observability: connected = the feed delivered lately; 0 from the start and after a silence
    venue_up.labels(cfg.venue).set_function(lambda: 1.0 if seen["at"] and rt.checks["feed"]() else 0.0)
    late_seen = {"n": 0}
    stale = StaleTracker(after_ns=int(cfg.stale_after_s * 1e9))
    stale.watch(symbols, time.monotonic_ns())
    to_store: list[Candle] = []

    async def publish_closed(candles: list[Candle]) -> None:
        if store is not None:  # kept even when the bus is away
            to_store.extend(candles)
        for c in candles:
            subject = md_candle(c.venue, c.symbol, c.interval)
            await rt.bus.publish_durable(subject, c, f"{subject}:{c.ts_open}")
            candles_total.labels(c.interval).inc()

    async def set_stale(symbol: str, is_stale: bool) -> None:
        status = FeedStatus(
            venue=cfg.venue,
            symbol=symbol,
            stale=is_stale,
            last_data_ts=last_data.get(symbol, 0),
            ts_event=time.time_ns(),
        )
        try:
            await rt.bus.kv_put(KV_CONTROL, feed_status_key(cfg.venue, symbol), status)
        except Exception as exc:  # the flag is advisory; never let it stop the feed
            log.warning("feed status not written", symbol=symbol, error=str(exc))
        stale_now.set(len(stale.stale))
        log.warning("feed stale" if is_stale else "feed back", venue=cfg.venue, symbol=symbol)

    last_data: dict[str, int] = {}

    async def watch_stale() -> None:
        while cfg.stale_after_s > 0:
            await asyncio.sleep(min(1.0, cfg.stale_after_s / 4))
            for symbol in stale.check(time.monotonic_ns()):
                stale_total.inc()
                await set_stale(symbol, True)

    async def flush_store() -> None:
        while store is not None:
            await asyncio.sleep(1.0)
            if to_store:
                batch = to_store[:]
                del to_store[: len(batch)]
                try:
                    await asyncio.to_thread(store.write, batch)
                except Exception as exc:
                    log.error("history store write failed", error=str(exc), candles=len(batch))

    async def pump() -> None:
        async for tick in feed.ticks(symbols):
            seen["at"] = time.monotonic()
            last_data[tick.symbol] = tick.ts_event
            if stale.seen(tick.symbol, time.monotonic_ns()):
                await set_stale(tick.symbol, False)
            ticks_total.inc()
            last_tick.set(time.time())
            await rt.bus.publish(md_tick(tick.venue, tick.symbol), tick)
            closed = agg.on_tick(tick)
            if closed:
                try:
                    await publish_closed(closed)
                except Exception as exc:  # JetStream away (a nats-server restart): never stop the feed
                    log.warning("closed candles not published", error=str(exc), candles=len(closed))
                late_total.inc(agg.late - late_seen["n"])
                late_seen["n"] = agg.late

    async def partials() -> None:
        """The forming candles, every `partial_every_s`, on core NATS (`md.forming`, which no
        stream stores), yielding every few candles so the feed is never held up for long."""
        while cfg.partial_every_s > 0:
            await asyncio.sleep(cfg.partial_every_s)
            for i, c in enumerate(agg.partials(), 1):
                await rt.bus.publish(md_forming(c.venue, c.symbol, c.interval), c)
                if i % 10 == 0:
                    await asyncio.sleep(0)

    async def stored(req: HistoryRequest) -> list[Candle]:
        """Kept candles of the interval, with missing buckets aggregated from finer ones."""
        now = req.end if req.end is not None else last_data.get(req.symbol) or time.time_ns()
        exact = agg.history_of(req.symbol, req.interval, req.limit, req.end)
        finer = {iv: agg.history_of(req.symbol, iv, 10**9, req.end) for iv in finer_intervals(req.interval)}
        if store is not None:
            on_disk = await asyncio.to_thread(
                store.read, req.venue, req.symbol, req.interval, limit=req.limit, end=req.end
            )
            exact = on_disk + [c for c in exact if not on_disk or c.ts_open > on_disk[-1].ts_open]
            if len(exact) < req.limit:
                for iv in finer:
                    ratio = interval_ns(req.interval) // interval_ns(iv)
                    disk = await asyncio.to_thread(
                        store.read,
                        req.venue,
                        req.symbol,
                        iv,
                        limit=min(req.limit * ratio, 200_000),
                        end=req.end,
                    )
                    finer[iv] = disk + [c for c in finer[iv] if not disk or c.ts_open > disk[-1].ts_open]
        return with_fallback(req.interval, req.limit, exact, finer, now)

    async def history(req: HistoryRequest) -> HistoryReply:
        local = await stored(req)
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
    rt.spawn(watch_stale(), "stale")
    rt.spawn(flush_store(), "history-store")


def main() -> None:
    from tradebus.service import run_service

    asyncio.run(run_service("marketdata", run))


__all__ = ["Tick", "main", "run"]
