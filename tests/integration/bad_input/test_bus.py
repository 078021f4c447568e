"""10,000+ malformed messages at every consumer of a running stack (bad JSON, a wrong schema
version, missing fields, wrong types, unknown fields, huge payloads, unknown subjects): every
service keeps running and counts each one as bad, the money-path ones are in the dead-letter
stream, and trading goes on with the money invariants intact."""

from __future__ import annotations

import json
import random
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import nats
import pytest
from prometheus_client.parser import text_string_to_metric_families

from chaos import stack as stacks
from chaos.observe import down, venue_fill_count
from chaos.runner import settle, wait_trading
from proto import Message
from proto.queries import FillsQuery, OrdersQuery, PnlQuery, PositionsQuery
from proto.subjects import DEADLETTER, KV_STRATEGIES, model_for
from tradebus.testing.servers import eventually

pytestmark = pytest.mark.e2e
TOTAL = 10_500
HUGE = 3  # per subject, ~512 KiB each (under the server's 1 MiB max_payload)

#: subject -> the services (names in stack.json) that must count what arrives there, and whether
#: it is on the money path (JetStream, durable consumer: dead-lettered)
TARGETS: dict[str, tuple[tuple[str, ...], bool]] = {
    "sig.intent.flip_a": (("execution",), True),
    "exec.fill.flip_a": (("portfolio", "gateway", "signals-flip_a"), True),
    "exec.order.flip_a": (("portfolio", "gateway"), True),
    "exec.risk.chaos": (("portfolio", "gateway"), True),
    # POSITIONS keeps the last message per subject: a symbol nobody trades, so no real one is lost
    "exec.position.flip_a.DOGE-USD": (("gateway", "signals-flip_a"), True),
    "md.tick.sim.BTC-USD": (("execution", "portfolio", "signals-flip_a", "signals-flip_b"), False),
    "md.candle.sim.BTC-USD.1s": (("signals-flip_a", "signals-flip_b", "signals-flip_c"), False),
    "svc.heartbeat.chaos": (("gateway",), False),
    "md.history": (("marketdata",), False),
    "exec.query.positions": (("execution",), False),
    "exec.query.orders": (("execution",), False),
    "portfolio.query.pnl": (("portfolio",), False),
    "portfolio.query.fills": (("portfolio",), False),
    "chaos.unknown.subject": ((), False),
    "exec.bogus.thing": ((), False),
    "md.nothing.here": ((), False),
}
#: where a real message of each subject's kind is captured from (to send it back with one defect)
CAPTURE = {
    "sig.intent.": "sig.intent.>",
    "exec.fill.": "exec.fill.>",
    "exec.order.": "exec.order.>",
    "exec.position.": "exec.position.>",
    "md.tick.": "md.tick.>",
    "md.candle.": "md.candle.>",
    "svc.heartbeat.": "svc.heartbeat.>",
}
QUERIES: dict[str, type[Message]] = {
    "exec.query.positions": PositionsQuery,
    "exec.query.orders": OrdersQuery,
    "portfolio.query.pnl": PnlQuery,
    "portfolio.query.fills": FillsQuery,
}
GARBAGE = [b"", b"{", b"not json", b"\xff\xfe\x00\x01", b"null", b"[]", b'"text"', b"{}", b"1e999999"]


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[stacks.Stack]:
    s = stacks.start(Path(tmp_path_factory.mktemp("badbus")))
    try:
        yield s
    finally:
        stacks.stop(s)


def invalid_for(subject: str, payloads: list[bytes]) -> list[bytes]:
    """Only the payloads the subject's model really refuses (`{}` is a valid query, a missing
    optional field leaves a valid message): nothing sent here may be acted upon."""
    model = QUERIES.get(subject) or model_for(subject)
    if model is None:
        return payloads
    out = []
    for p in payloads:
        try:
            model.model_validate_json(p)
        except ValueError:  # pydantic's ValidationError is a ValueError
            out.append(p)
    return out


def defects(real: dict[str, Any] | None, rng: random.Random) -> list[bytes]:
    """Payloads that are each wrong in one way, from a real message where there is one."""
    out = list(GARBAGE)
    base = real or {"schema_version": 1}
    out.append(json.dumps({**base, "schema_version": 99}).encode())  # a version nobody speaks
    out.append(json.dumps({**base, "bogus_field": 1}).encode())  # unknown fields are refused
    for key in [k for k in base if k != "schema_version"][:4]:
        out.append(json.dumps({k: v for k, v in base.items() if k != key}).encode())  # missing
        out.append(json.dumps({**base, key: {"nested": [rng.random()]}}).encode())  # wrong type
    return out


async def capture(nc: Any) -> dict[str, dict[str, Any]]:
    seen: dict[str, dict[str, Any]] = {}

    def keep(prefix: str) -> Any:
        async def cb(msg: Any) -> None:
            seen.setdefault(prefix, json.loads(msg.data))

        return cb

    subs = [await nc.subscribe(pattern, cb=keep(prefix)) for prefix, pattern in CAPTURE.items()]
    try:
        await eventually(
            lambda: len(seen) == len(CAPTURE) or None, timeout=30, interval=0.1, what="one of each"
        )
    finally:
        for sub in subs:
            await sub.unsubscribe()
    return seen


def bad_counts(text: str) -> float:
    total = 0.0
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name == "tradebus_bus_messages_total" and sample.labels.get("result") == "bad":
                total += sample.value
    return total


async def counted(stack: stacks.Stack) -> dict[str, float]:
    out = {}
    async with httpx.AsyncClient(timeout=5) as c:
        for p in stack.children():
            if "metrics" in p:
                out[p["name"]] = bad_counts((await c.get(p["metrics"])).text)
    return out


async def dead_letters(js: Any) -> dict[str, int]:
    info = await js.stream_info(DEADLETTER, subjects_filter="dlq.>")
    return dict(info.state.subjects or {})


async def test_malformed_messages_everywhere_are_counted_dead_lettered_and_survived(
    stack: stacks.Stack,
) -> None:
    await wait_trading(stack)
    rng = random.Random(11)
    nc = await nats.connect(stack.nats)
    try:
        real = await capture(nc)
        before = await counted(stack)
        dlq_before = await dead_letters(nc.jetstream())
        per_subject = TOTAL // len(TARGETS)
        sent: dict[str, int] = {}
        huge = json.dumps({"schema_version": 1, "x": "a" * 512 * 1024}).encode()
        for subject in TARGETS:
            kind = next((v for k, v in real.items() if subject.startswith(k)), None)
            payloads = invalid_for(subject, defects(kind, rng))
            assert len(payloads) >= len(GARBAGE)
            for n in range(per_subject):
                await nc.publish(subject, payloads[n % len(payloads)])
            for _ in range(HUGE):
                await nc.publish(subject, huge)
            sent[subject] = per_subject + HUGE
            await nc.flush()
        assert sum(sent.values()) >= 10_000
        # a bad value in a watched KV bucket is skipped too (execution and the gateway watch it)
        await (await nc.jetstream().key_value(KV_STRATEGIES)).put("chaos_bad", b"{not json")

        expected: dict[str, int] = {}
        for subject, (services, _) in TARGETS.items():
            for service in services:
                expected[service] = expected.get(service, 0) + sent[subject]

        last: list[dict[str, float]] = []

        async def all_counted() -> dict[str, float] | None:
            now = await counted(stack)
            grown = {s: now.get(s, 0) - before.get(s, 0) for s in expected}
            last.append(grown)
            return grown if all(grown[s] >= expected[s] for s in expected) else None

        try:
            grown = await eventually(all_counted, timeout=60, interval=0.5, what="every bad message counted")
        finally:
            print(f"\nsent={sum(sent.values())} expected={expected} counted={last[-1:]}")  # noqa: T201
        assert set(grown) >= {"execution", "portfolio", "gateway", "marketdata", "signals-flip_a"}

        js = nc.jetstream()

        async def all_dead_lettered() -> dict[str, int] | None:
            now = await dead_letters(js)
            got = {
                s: now.get(f"dlq.{s}", 0) - dlq_before.get(f"dlq.{s}", 0) for s, t in TARGETS.items() if t[1]
            }
            # POSITIONS keeps one message per subject: at least the last one is dead-lettered
            need = {s: 1 if s.startswith("exec.position.") else sent[s] for s in got}
            return got if all(got[s] >= need[s] for s in got) else None

        await eventually(all_dead_lettered, timeout=60, interval=0.5, what="the money path dead-lettered")
        assert [k for k in await dead_letters(js) if k.startswith("dlq.md.")] == []  # not money

        # everything still runs, nothing restarted, and trading goes on with the books agreeing
        assert await down(stack) == []
        assert all(p["restarts"] == 0 for p in stack.children())
        fills = await venue_fill_count(stack)

        async def more() -> bool:
            return await venue_fill_count(stack) > fills

        await eventually(more, timeout=30, interval=0.2, what="a new venue fill")  # type: ignore[arg-type]
        verdict = await settle(stack, nc, timeout=30)
        assert verdict.clean, verdict
    finally:
        await nc.close()
