"""The generated NATS users against a real nats-server: each service role can do what its service
does on the bus (through the same `Bus` helpers the services use), and is refused what it must not.
"""

from __future__ import annotations

import asyncio
import subprocess
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import TypeVar

import nats
import pytest
from nats.aio.msg import Msg
from nats.js.errors import NotFoundError
from prometheus_client import CollectorRegistry

from proto import Fill, Heartbeat, IntentEnvelope, KillSwitch, StrategyConfig, TargetPosition
from proto.base import Message
from proto.marketdata import FeedStatus, HistoryReply, HistoryRequest, Tick
from proto.queries import PnlQuery, PnlReply, PositionsQuery, PositionsReply
from proto.subjects import (
    EXEC_POSITIONS,
    KILL_SWITCH_KEY,
    KV_CONTROL,
    KV_EXECUTION,
    KV_STRATEGIES,
    MD_HISTORY,
    PORTFOLIO_PNL,
    TRADING,
    exec_fill,
    exec_position,
    feed_status_key,
    heartbeat,
    md_tick,
    sig_intent,
)
from proto.trading import Liquidity, Side
from tradebus import security
from tradebus.bus import Bus
from tradebus.testing.servers import eventually, free_port, nats_server_binary, wait_port

STRATEGIES = ("alpha", "beta")
M = TypeVar("M", bound=Message)


@dataclass
class Server:
    url: str
    passwords: dict[str, str]


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    tmp = tmp_path_factory.mktemp("nats-secure")
    rs = security.roles(STRATEGIES)
    passwords = security.random_passwords(rs)
    port = free_port()
    conf = tmp / "server.conf"
    auth = security.authorization(rs, passwords)
    conf.write_text(security.server_config(auth, host="127.0.0.1", port=port, store_dir=str(tmp / "js")))
    proc = subprocess.Popen(
        [nats_server_binary(), "-c", str(conf)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    try:
        wait_port("127.0.0.1", port)
        yield Server(f"nats://127.0.0.1:{port}", passwords)
    finally:
        proc.terminate()
        proc.wait(10)


@dataclass
class Conn:
    bus: Bus
    errors: list[str] = field(default_factory=list)

    def refused(self, subject: str) -> bool:
        # nats-py lower-cases the server's message
        return any("permissions violation" in e and f'"{subject.lower()}"' in e for e in self.errors)


@asynccontextmanager
async def connect(server: Server, user: str) -> AsyncIterator[Conn]:
    errors: list[str] = []

    async def on_error(exc: Exception) -> None:
        errors.append(str(exc))

    nc = await nats.connect(
        server.url, user=user, password=server.passwords[user], error_cb=on_error, max_reconnect_attempts=0
    )
    conn = Conn(Bus(nc, CollectorRegistry(), user), errors)
    try:
        yield conn
    finally:
        await conn.bus.close()


def intent(strategy: str, n: int) -> IntentEnvelope:
    target = TargetPosition(
        intent_id=f"{strategy}-{n}",
        strategy=strategy,
        venue="sim",
        symbol="BTC-USD",
        qty=Decimal("0.5"),
        ts_event=n,
    )
    return IntentEnvelope(intent=target)


def fill(strategy: str, n: int) -> Fill:
    return Fill(
        fill_id=f"f-{strategy}-{n}",
        strategy=strategy,
        venue="sim",
        symbol="BTC-USD",
        side=Side.BUY,
        qty=Decimal("0.5"),
        price=Decimal("100"),
        liquidity=Liquidity.TAKER,
        ts_event=n,
    )


def _beat(service: str) -> Heartbeat:
    return Heartbeat(service=service, instance="test", ts_event=1)


def _tick() -> Tick:
    return Tick(venue="sim", symbol="BTC-USD", bid=99.0, ask=101.0, last=100.0, ts_event=1)


def _feed() -> FeedStatus:
    return FeedStatus(venue="sim", symbol="BTC-USD", stale=True)


def _config(name: str, enabled: bool = True) -> StrategyConfig:
    return StrategyConfig(name=name, kind=name, enabled=enabled, ts_event=1)


def _into(out: list[M]) -> Callable[[M], Awaitable[None]]:
    async def handler(msg: M) -> None:
        out.append(msg)

    return handler


async def _watch(bus: Bus, bucket: str, key: str, model: type[M], keys: list[str]) -> None:
    async for k, _value in bus.kv_watch(bucket, key, model):
        keys.append(k)


async def _watch_values(bus: Bus, bucket: str, key: str, model: type[M], values: list[M | None]) -> None:
    async for _k, value in bus.kv_watch(bucket, key, model):
        values.append(value)


async def _try_connect(server: Server, **auth: str) -> None:
    async def quiet(exc: Exception) -> None:
        pass

    nc = await asyncio.wait_for(
        nats.connect(server.url, allow_reconnect=False, max_reconnect_attempts=0, error_cb=quiet, **auth), 5
    )
    await nc.close()


async def test_unknown_user_and_wrong_password_are_refused(server: Server) -> None:
    await _try_connect(server, user="gateway", password=server.passwords["gateway"])  # the right one works
    with pytest.raises(nats.errors.Error, match="Authorization Violation"):
        await _try_connect(server, user="signals-alpha", password="wrong")
    with pytest.raises(nats.errors.Error, match="Authorization Violation"):
        await _try_connect(server)


async def test_every_role_does_its_services_work_and_no_more(server: Server) -> None:
    async with (
        connect(server, "marketdata") as md,
        connect(server, "signals-alpha") as sig,
        connect(server, "execution") as ex,
        connect(server, "portfolio") as pf,
        connect(server, "gateway") as gw,
    ):
        conns = {"marketdata": md, "signals-alpha": sig, "execution": ex, "portfolio": pf, "gateway": gw}
        # every service ensures the streams at start
        for c in conns.values():
            await c.bus.ensure_streams()

        # gateway: heartbeats of everyone; the strategies KV and the kill switch
        beats: list[Heartbeat] = []
        await gw.bus.subscribe("svc.heartbeat.>", Heartbeat, _into(beats))
        await gw.bus.nc.flush()

        # marketdata answers history requests and publishes ticks and candles
        async def history(req: HistoryRequest) -> HistoryReply:
            return HistoryReply(candles=())

        await md.bus.serve(MD_HISTORY, HistoryRequest, history, queue="marketdata")
        # execution consumes every intent, watches strategies and the kill switch
        got_intents: list[IntentEnvelope] = []
        await ex.bus.consume(TRADING, "execution-intents", "sig.intent.>", IntentEnvelope, _into(got_intents))
        ex_strategies: list[str] = []
        kill: list[KillSwitch | None] = []
        ex_watch = asyncio.create_task(_watch(ex.bus, KV_STRATEGIES, ">", StrategyConfig, ex_strategies))
        kill_watch = asyncio.create_task(_watch_values(ex.bus, KV_CONTROL, KILL_SWITCH_KEY, KillSwitch, kill))
        # portfolio consumes fills, answers PnL queries
        got_fills: list[Fill] = []
        await pf.bus.consume(TRADING, "portfolio-fills", "exec.fill.>", Fill, _into(got_fills))

        async def pnl(q: PnlQuery) -> PnlReply:
            return PnlReply(account={"equity": "1"})

        await pf.bus.serve(PORTFOLIO_PNL, PnlQuery, pnl, queue="portfolio")

        async def positions_view(q: PositionsQuery) -> PositionsReply:
            return PositionsReply(venue={"BTC-USD": Decimal("0.5")})

        await ex.bus.serve(EXEC_POSITIONS, PositionsQuery, positions_view)
        # signals: seed its own config, watch it, hear its own fills, warm up, read its last position
        assert await sig.bus.kv_get(KV_STRATEGIES, "alpha", StrategyConfig) is None
        await sig.bus.kv_put(KV_STRATEGIES, "alpha", _config("alpha"))
        sig_cfg: list[StrategyConfig | None] = []
        sig_watch = asyncio.create_task(
            _watch_values(sig.bus, KV_STRATEGIES, "alpha", StrategyConfig, sig_cfg)
        )
        sig_fills: list[Fill] = []
        await sig.bus.subscribe(exec_fill("alpha"), Fill, _into(sig_fills))
        await sig.bus.subscribe(md_tick("sim", "BTC-USD"), Tick, _into([]))
        reply = await sig.bus.request(
            MD_HISTORY, HistoryRequest(venue="sim", symbol="BTC-USD", interval="5s", limit=5), HistoryReply
        )
        assert reply.error is None
        with pytest.raises(NotFoundError):
            await sig.bus.js.get_last_msg("POSITIONS", exec_position("alpha", "BTC-USD"))

        await md.bus.publish(md_tick("sim", "BTC-USD"), _tick())
        # marketdata flags a feed's state in the control KV; signals watch it
        feeds: list[str] = []
        feed_watch = asyncio.create_task(_watch(sig.bus, KV_CONTROL, "feed.sim.*", FeedStatus, feeds))
        await md.bus.kv_put(KV_CONTROL, feed_status_key("sim", "BTC-USD"), _feed())
        await eventually(lambda: feeds, what="signals saw the feed status")
        assert await sig.bus.publish_durable(sig_intent("alpha"), intent("alpha", 1), "alpha-1")
        await eventually(lambda: got_intents, what="execution consumed the intent")
        await eventually(lambda: "alpha" in ex_strategies, what="execution saw the strategy config")

        # execution: fills and positions, its own KV (snapshot and lease), the positions query
        assert await ex.bus.publish_durable(exec_fill("alpha"), fill("alpha", 1), "f-alpha-1")
        await eventually(lambda: got_fills, what="portfolio consumed the fill")
        await eventually(lambda: sig_fills, what="signals heard its own fill")
        kv = await ex.bus.kv(KV_EXECUTION)
        rev = await kv.create("lease", b"me")
        await kv.update("lease", b"me", last=rev)
        assert (await kv.get("lease")).value == b"me"
        await kv.delete("lease")

        # gateway: lists strategies, flips one, sets the kill switch, asks portfolio
        kv_s = await gw.bus.kv(KV_STRATEGIES)
        assert set(await kv_s.keys()) == {"alpha"}
        await gw.bus.kv_put(KV_STRATEGIES, "alpha", _config("alpha", enabled=False))
        await eventually(lambda: sig_cfg and sig_cfg[-1] and not sig_cfg[-1].enabled, what="signals saw it")
        await gw.bus.kv_put(KV_CONTROL, KILL_SWITCH_KEY, KillSwitch(active=True, reason="test", ts_event=1))
        await eventually(lambda: kill and kill[-1] and kill[-1].active, what="execution saw the kill switch")
        answer = await gw.bus.request(PORTFOLIO_PNL, PnlQuery(), PnlReply)
        positions = await gw.bus.request(EXEC_POSITIONS, PositionsQuery(), PositionsReply)
        assert positions.venue == {"BTC-USD": Decimal("0.5")}
        # the rest of the money path: every durable publish and consumer, and both dead letters
        for name, subject in (("portfolio-orders", "exec.order.>"), ("portfolio-risk", "exec.risk.>")):
            await pf.bus.consume(TRADING, name, subject, Fill, _into([]))
        await pf.bus.consume("POSITIONS", "portfolio-positions", "exec.position.>", Fill, _into([]))
        await md.bus.publish_durable("md.candle.sim.BTC-USD.5s", _tick(), "c-1")
        for subject in ("exec.order.alpha", "exec.position.alpha.BTC-USD", "exec.risk.limit"):
            assert await ex.bus.publish_durable(subject, _tick(), subject)
        assert await ex.bus.js.publish("dlq.sig.intent.alpha", b"{}")
        assert await pf.bus.js.publish("dlq.exec.fill.alpha", b"{}")
        assert answer.account == {"equity": "1"}
        for c in conns.values():
            await c.bus.publish(heartbeat(c.bus.service), _beat(c.bus.service))
        await eventually(
            lambda: set(conns) <= {b.service for b in beats}, what="every heartbeat at the gateway"
        )

        for t in (ex_watch, kill_watch, sig_watch, feed_watch):
            t.cancel()
        await asyncio.gather(ex_watch, kill_watch, sig_watch, feed_watch, return_exceptions=True)
        for name, c in conns.items():
            assert [e for e in c.errors if "permissions violation" in e] == [], name


async def test_signals_user_is_refused_what_is_not_its_own(server: Server) -> None:
    async with connect(server, "signals-beta") as sig, connect(server, "admin") as admin:
        await sig.bus.ensure_streams()
        spy: list[bytes] = []

        async def on_msg(msg: Msg) -> None:
            spy.append(msg.data)

        await admin.bus.nc.subscribe("exec.>", cb=on_msg)
        await admin.bus.nc.subscribe("sig.intent.>", cb=on_msg)
        await admin.bus.nc.subscribe("$KV.>", cb=on_msg)
        await admin.bus.nc.flush()

        # a fill, someone else's intent, the control KV, someone else's config: all refused
        forged = fill("beta", 99)
        await sig.bus.publish(exec_fill("beta"), forged)
        await sig.bus.publish(sig_intent("alpha"), intent("alpha", 99))
        await sig.bus.nc.publish(f"$KV.{KV_CONTROL}.{KILL_SWITCH_KEY}", b"{}")
        await sig.bus.nc.publish(f"$KV.{KV_STRATEGIES}.alpha", b"{}")
        await sig.bus.nc.subscribe(exec_fill("alpha"))
        await sig.bus.nc.flush()
        for subject in (
            exec_fill("beta"),
            sig_intent("alpha"),
            f"$KV.{KV_CONTROL}.{KILL_SWITCH_KEY}",
            f"$KV.{KV_STRATEGIES}.alpha",
            exec_fill("alpha"),
        ):
            await eventually(lambda s=subject: sig.refused(s), timeout=5, what=f"refusal of {subject}")
        # its own intent passes; published after the forged ones on the same connection, it arrives
        # after them, so the spy holding only it shows that none of them got through
        await sig.bus.publish(sig_intent("beta"), intent("beta", 2))
        await eventually(lambda: spy, what="the allowed intent")
        assert len(spy) == 1
        assert b"beta-2" in spy[0]
        # nor may it delete or purge a stream: the server drops the request, so it times out
        for op in ("DELETE", "PURGE"):
            with pytest.raises(nats.errors.TimeoutError):
                await sig.bus.nc.request(f"$JS.API.STREAM.{op}.{TRADING}", b"", timeout=0.5)
            await eventually(lambda o=op: sig.refused(f"$JS.API.STREAM.{o}.{TRADING}"), what=f"{op} refused")
        assert (await admin.bus.js.stream_info(TRADING)).config.name == TRADING


async def test_only_execution_may_publish_exec_subjects(server: Server) -> None:
    for user in ("marketdata", "portfolio", "gateway", "signals-alpha", "backtest"):
        async with connect(server, user) as c:
            await c.bus.nc.publish(exec_fill("alpha"), b"{}")
            await c.bus.nc.publish("exec.order.alpha", b"{}")
            await c.bus.nc.flush()
            await eventually(lambda c=c: c.refused(exec_fill("alpha")), what=f"{user} refused a fill")
            await eventually(lambda c=c: c.refused("exec.order.alpha"), what=f"{user} refused an order")


async def test_only_gateway_may_write_the_control_kv(server: Server) -> None:
    for user in ("marketdata", "portfolio", "execution", "signals-alpha", "backtest"):
        async with connect(server, user) as c:
            subject = f"$KV.{KV_CONTROL}.{KILL_SWITCH_KEY}"
            await c.bus.nc.publish(subject, b"{}")
            await c.bus.nc.flush()
            await eventually(lambda c=c, s=subject: c.refused(s), what=f"{user} refused the kill switch")


def test_generated_config_passes_nats_server_check(tmp_path: Path) -> None:
    rs = security.roles(STRATEGIES)
    conf = tmp_path / "s.conf"
    conf.write_text(
        security.server_config(
            security.authorization(rs),
            host="127.0.0.1",
            port=free_port(),
            store_dir=str(tmp_path),
            sync_always=True,
        )
    )
    env = {security.password_env(r.user): "x" for r in rs}
    out = subprocess.run(
        [nats_server_binary(), "-t", "-c", str(conf)], capture_output=True, text=True, env=env
    )
    assert out.returncode == 0, out.stderr
