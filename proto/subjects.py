"""Every subject, stream, consumer and KV bucket name in one place, and the subject -> model registry."""

from __future__ import annotations

from dataclasses import dataclass

from proto.base import Message
from proto.control import Heartbeat
from proto.marketdata import Book, Candle, HistoryRequest, Tick
from proto.trading import Fill, IntentEnvelope, OrderUpdate, PositionUpdate, RiskEvent

# Streams (JetStream)
MARKET = "MARKET"
TRADING = "TRADING"
DEADLETTER = "DEADLETTER"

# KV buckets
KV_STRATEGIES = "strategies"
KV_CONTROL = "control"
KV_EXECUTION = "execution"
KILL_SWITCH_KEY = "kill_switch"

# request/reply
MD_HISTORY = "md.history"
PORTFOLIO_QUERY = "portfolio.query"  # .pnl .fills .positions
EXEC_QUERY = "exec.query"  # .positions .orders .risk


def _token(part: str) -> str:
    if not part or any(c in part for c in ". *>\t\r\n"):
        raise ValueError(f"invalid subject token {part!r}")
    return part


def md_tick(venue: str, symbol: str) -> str:
    return f"md.tick.{_token(venue)}.{_token(symbol)}"


def md_candle(venue: str, symbol: str, interval: str) -> str:
    return f"md.candle.{_token(venue)}.{_token(symbol)}.{_token(interval)}"


def md_forming(venue: str, symbol: str, interval: str) -> str:
    """The candle still forming (core NATS only: outside the `MARKET` stream, never stored)."""
    return f"md.forming.{_token(venue)}.{_token(symbol)}.{_token(interval)}"


def md_book(venue: str, symbol: str) -> str:
    return f"md.book.{_token(venue)}.{_token(symbol)}"


def sig_intent(strategy: str) -> str:
    return f"sig.intent.{_token(strategy)}"


def exec_order(owner: str) -> str:
    return f"exec.order.{_token(owner)}"


def exec_fill(strategy: str) -> str:
    return f"exec.fill.{_token(strategy)}"


def exec_position(strategy: str, symbol: str) -> str:
    return f"exec.position.{_token(strategy)}.{_token(symbol)}"


def exec_risk(kind: str) -> str:
    return f"exec.risk.{_token(kind)}"


def heartbeat(service: str) -> str:
    return f"svc.heartbeat.{_token(service)}"


def deadletter(subject: str) -> str:
    return f"dlq.{subject}"


@dataclass(frozen=True)
class StreamSpec:
    name: str
    subjects: tuple[str, ...]
    max_age_s: float | None = None
    max_msgs_per_subject: int | None = None
    duplicate_window_s: float = 120.0


STREAMS: tuple[StreamSpec, ...] = (
    StreamSpec(MARKET, ("md.candle.>",), max_age_s=6 * 3600),
    StreamSpec(TRADING, ("sig.intent.>", "exec.order.>", "exec.fill.>", "exec.risk.>"), max_age_s=7 * 86400),
    # last position per (strategy, symbol)
    StreamSpec("POSITIONS", ("exec.position.>",), max_msgs_per_subject=1),
    StreamSpec(DEADLETTER, ("dlq.>",), max_age_s=30 * 86400),
)

#: subject prefix -> the model its messages must parse as
REGISTRY: dict[str, type[Message]] = {
    "md.tick.": Tick,
    "md.candle.": Candle,
    "md.book.": Book,
    MD_HISTORY: HistoryRequest,
    "sig.intent.": IntentEnvelope,
    "exec.order.": OrderUpdate,
    "exec.fill.": Fill,
    "exec.position.": PositionUpdate,
    "exec.risk.": RiskEvent,
    "svc.heartbeat.": Heartbeat,
}


def model_for(subject: str) -> type[Message] | None:
    """The model registered for a subject, or None for a subject nobody owns."""
    for prefix, model in REGISTRY.items():
        if subject.startswith(prefix):
            return model
    return None


PORTFOLIO_FILLS = f"{PORTFOLIO_QUERY}.fills"
PORTFOLIO_PNL = f"{PORTFOLIO_QUERY}.pnl"
EXEC_POSITIONS = f"{EXEC_QUERY}.positions"
EXEC_ORDERS = f"{EXEC_QUERY}.orders"
PORTFOLIO_RISK = f"{PORTFOLIO_QUERY}.risk"
PORTFOLIO_EQUITY = f"{PORTFOLIO_QUERY}.equity"


# wildcard patterns for subscribers
def md_ticks(venue: str) -> str:
    return f"md.tick.{_token(venue)}.*"


def exec_positions(strategy: str) -> str:
    return f"exec.position.{_token(strategy)}.*"


def feed_status_key(venue: str, symbol: str) -> str:
    """Key of a symbol's `FeedStatus` in KV `control`."""
    return f"feed.{_token(venue)}.{_token(symbol)}"
