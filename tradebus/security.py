"""Who may say what on the bus: one table of grants per service, compiled to nats-server users.

`GRANTS` is the only place the permissions are written. Each row says, in the platform's own
words, what a service does on the bus (publishes, subscribes, answers or sends requests, consumes
a durable, reads or writes a KV key); `role()` turns a row into NATS publish/subscribe allow lists,
including the JetStream API subjects that nats-py uses for each of those operations. Everything not
allowed is refused by the server. `{strategy}` in a row stands for the strategy a signals process
hosts, so one signals user may publish only its own `sig.intent.<strategy>`.

The generated config is used by docker compose and Kubernetes (passwords by environment reference,
`$NATS_PASSWORD_<USER>`) and by `tradebus up --secure` (random passwords under `var/`).
Command line: `python -m tradebus.security --help`.
"""

from __future__ import annotations

import json
import re
import secrets
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from proto.backtest import BACKTEST_JOB
from proto.subjects import (
    EXEC_QUERY,
    KILL_SWITCH_KEY,
    KV_CONTROL,
    KV_EXECUTION,
    KV_STRATEGIES,
    MD_HISTORY,
    PORTFOLIO_QUERY,
    STREAMS,
    TRADING,
)

API = "$JS.API"
POSITIONS = "POSITIONS"
#: the streams every service creates or updates at start (`Bus.ensure_streams`)
PLATFORM_STREAMS: tuple[str, ...] = tuple(s.name for s in STREAMS)


@dataclass(frozen=True)
class Grants:
    """What one service does on the bus, in the platform's terms."""

    publish: tuple[str, ...] = ()  # core or JetStream publish
    subscribe: tuple[str, ...] = ()  # core subscriptions
    serve: tuple[str, ...] = ()  # request subjects it answers (replies allowed to the asker)
    request: tuple[str, ...] = ()  # request subjects it asks
    consume: tuple[tuple[str, str], ...] = ()  # durable pull consumers: (stream, durable)
    last_msg: tuple[str, ...] = ()  # streams it reads the last message of a subject from
    kv_read: tuple[tuple[str, str], ...] = ()  # (bucket, key or pattern): get, watch, keys
    kv_write: tuple[tuple[str, str], ...] = ()  # (bucket, key or pattern): put, create, update, delete


#: THE table. Keys are service names as `tradebus run` knows them; "signals" is a template for
#: one user per strategy. Change a service's bus use -> change its row (tests/deploy checks both).
GRANTS: dict[str, Grants] = {
    "marketdata": Grants(
        publish=("md.tick.>", "md.candle.>", "md.forming.>", "md.book.>"),
        serve=(MD_HISTORY,),
        # feed status (stale / live) per symbol; the kill switch stays the gateway's alone
        kv_read=((KV_CONTROL, "feed.>"),),
        kv_write=((KV_CONTROL, "feed.>"),),
    ),
    "signals": Grants(
        publish=("sig.intent.{strategy}",),
        subscribe=("md.tick.>", "md.candle.>", "exec.position.{strategy}.*", "exec.fill.{strategy}"),
        request=(MD_HISTORY,),
        last_msg=(POSITIONS,),
        kv_read=((KV_STRATEGIES, "{strategy}"), (KV_CONTROL, "feed.>")),
        kv_write=((KV_STRATEGIES, "{strategy}"),),  # seeds its own entry on a first start
    ),
    "execution": Grants(
        publish=("exec.order.>", "exec.fill.>", "exec.position.>", "exec.risk.>", "dlq.sig.intent.>"),
        subscribe=("md.tick.>",),
        serve=(f"{EXEC_QUERY}.>",),
        consume=((TRADING, "execution-intents"),),
        kv_read=((KV_STRATEGIES, ">"), (KV_CONTROL, KILL_SWITCH_KEY), (KV_EXECUTION, ">")),
        kv_write=((KV_EXECUTION, ">"),),
    ),
    "portfolio": Grants(
        publish=("dlq.exec.>",),
        subscribe=("md.tick.>",),
        serve=(f"{PORTFOLIO_QUERY}.>",),
        consume=(
            (TRADING, "portfolio-fills"),
            (TRADING, "portfolio-orders"),
            (TRADING, "portfolio-risk"),
            (POSITIONS, "portfolio-positions"),
        ),
    ),
    "gateway": Grants(
        publish=("sig.intent.>",),  # "flatten": target 0 on the strategy's own intent subject
        subscribe=("svc.heartbeat.>", "exec.fill.>", "exec.order.>", "exec.position.>", "exec.risk.>"),
        request=(f"{PORTFOLIO_QUERY}.>", f"{EXEC_QUERY}.>"),
        kv_read=((KV_STRATEGIES, ">"), (KV_CONTROL, ">")),
        kv_write=((KV_STRATEGIES, ">"), (KV_CONTROL, ">")),
    ),
    "backtest": Grants(serve=(BACKTEST_JOB,)),
}

#: an operator's user (nats CLI, debugging): everything. Not used by any service.
ADMIN = "admin"
_NAME = re.compile(r"^[A-Za-z0-9_-]+$")


@dataclass(frozen=True)
class Role:
    """One NATS user: its name and its allow lists (deny everything else)."""

    user: str
    publish: tuple[str, ...]
    subscribe: tuple[str, ...]
    allow_responses: bool = False

    @property
    def password_env(self) -> str:
        return password_env(self.user)


def password_env(user: str) -> str:
    """The environment variable that holds `user`'s password in compose and Kubernetes."""
    return "NATS_PASSWORD_" + re.sub(r"[^A-Za-z0-9]", "_", user).upper()


def _kv(bucket: str, key: str, *, write: bool) -> list[str]:
    stream = f"KV_{bucket}"
    subject = f"$KV.{bucket}.{key}"
    out = [f"{API}.STREAM.INFO.{stream}", f"{API}.DIRECT.GET.{stream}.{subject}"]
    if write:
        return [*out, f"{API}.STREAM.CREATE.{stream}", subject]
    # a watch (or keys()) is an ordered push consumer whose filter is the key
    return [
        *out,
        f"{API}.STREAM.MSG.GET.{stream}",
        f"{API}.CONSUMER.CREATE.{stream}",
        f"{API}.CONSUMER.CREATE.{stream}.*.{subject}",
        f"{API}.CONSUMER.INFO.{stream}.*",
        f"{API}.CONSUMER.DELETE.{stream}.*",
        f"$JS.FC.{stream}.>",
        f"{API}.STREAM.CREATE.{stream}",  # the first service to use a bucket creates it
    ]


def _consumer(stream: str, durable: str) -> list[str]:
    return [
        f"{API}.CONSUMER.INFO.{stream}.{durable}",
        f"{API}.CONSUMER.CREATE.{stream}.{durable}",
        f"{API}.CONSUMER.CREATE.{stream}.{durable}.>",
        f"{API}.CONSUMER.DURABLE.CREATE.{stream}.{durable}",
        f"{API}.CONSUMER.MSG.NEXT.{stream}.{durable}",
        f"$JS.ACK.{stream}.{durable}.>",
    ]


def _dedupe(items: Iterable[str]) -> tuple[str, ...]:
    return tuple(dict.fromkeys(items))


def role(service: str, strategy: str | None = None) -> Role:
    """The NATS user of one service (of one strategy's signals process if `strategy` is given)."""
    if service not in GRANTS:
        raise ValueError(f"no grants for service {service!r}; known: {', '.join(sorted(GRANTS))}")
    g = GRANTS[service]
    user = service
    if service == "signals":
        if not strategy or not _NAME.match(strategy):
            raise ValueError(f"signals needs a strategy name of letters, digits, _ or -: {strategy!r}")
        user = f"signals-{strategy}"

    def fill(s: str) -> str:
        return s.replace("{strategy}", strategy or "")

    pub: list[str] = [
        f"svc.heartbeat.{user}",
        f"{API}.INFO",
        # every service ensures the platform's streams at start; none may delete or purge them
        *(f"{API}.STREAM.{op}.{s}" for s in PLATFORM_STREAMS for op in ("INFO", "CREATE", "UPDATE")),
        *map(fill, g.publish),
        *map(fill, g.request),
    ]
    sub: list[str] = ["_INBOX.>", *map(fill, g.subscribe), *map(fill, g.serve)]
    for stream, durable in g.consume:
        pub += _consumer(stream, durable)
    pub += [f"{API}.STREAM.MSG.GET.{s}" for s in g.last_msg]
    for bucket, key in g.kv_read:
        pub += _kv(bucket, fill(key), write=False)
    for bucket, key in g.kv_write:
        pub += _kv(bucket, fill(key), write=True)
    return Role(user, _dedupe(pub), _dedupe(sub), allow_responses=bool(g.serve))


def roles(strategies: Sequence[str], *, admin: bool = True) -> list[Role]:
    """Every user of a deployment: each service, one signals user per strategy, and the admin."""
    out = [role(s) for s in GRANTS if s != "signals"]
    out += [role("signals", name) for name in strategies]
    if admin:
        out.append(Role(ADMIN, (">",), (">",)))
    users = [r.user for r in out]
    if len(set(users)) != len(users):
        raise ValueError(f"duplicate NATS users: {users}")
    return out


def _quote(s: str) -> str:
    return '"' + s.replace("\\", "\\\\").replace('"', '\\"') + '"'


def authorization(rs: Sequence[Role], passwords: Mapping[str, str] | None = None) -> str:
    """The `authorization { users = [...] }` block of a nats-server config.

    Without `passwords`, each password is the environment reference `$NATS_PASSWORD_<USER>`, so the
    file itself holds no secret (nats-server resolves it from its environment at start).
    """
    lines = [
        "# generated by `python -m tradebus.envfiles nats-auth`; edit GRANTS in tradebus/security.py",
        "",
    ]
    lines.append("authorization {")
    lines.append("  users = [")
    for r in rs:
        pw = _quote(passwords[r.user]) if passwords is not None else "$" + r.password_env
        lines.append(f"    {{ user: {_quote(r.user)}, password: {pw}, permissions: {{")
        lines.append(f"      publish: {{ allow: [{', '.join(map(_quote, r.publish))}] }}")
        lines.append(f"      subscribe: {{ allow: [{', '.join(map(_quote, r.subscribe))}] }}")
        if r.allow_responses:
            lines.append("      allow_responses: true")
        lines.append("    } }")
    lines.append("  ]")
    lines.append("}")
    return "\n".join(lines) + "\n"


def server_config(
    auth: str, *, host: str, port: int, store_dir: str, sync_always: bool = False, http_port: int = 0
) -> str:
    """A whole single-node nats-server config: listen address, JetStream with file storage, users."""
    js = f"jetstream {{ store_dir: {_quote(store_dir)}" + (", sync_interval: always" if sync_always else "")
    monitor = f"http: {_quote(host)}:{http_port}\n" if http_port else ""
    return f"listen: {_quote(f'{host}:{port}')}\n{monitor}{js} }}\n\n{auth}"


def random_passwords(rs: Sequence[Role]) -> dict[str, str]:
    return {r.user: secrets.token_urlsafe(24) for r in rs}


__all__ = [
    "ADMIN",
    "GRANTS",
    "Grants",
    "Role",
    "authorization",
    "credentials",
    "password_env",
    "random_passwords",
    "role",
    "roles",
    "secure_stack_files",
    "server_config",
]


def secure_stack_files(var_dir: Path, strategies: Sequence[str], *, port: int) -> tuple[Path, dict[str, str]]:
    """For `tradebus up --secure`: the nats-server config under `var_dir/nats` with every user.

    Passwords are made once and kept in `var_dir/nats/passwords.json` (mode 0600); a strategy added
    later gets a new one. Returns the config's path and user -> password.
    """
    nats_dir = (var_dir / "nats").resolve()
    nats_dir.mkdir(parents=True, exist_ok=True)
    store = nats_dir / "passwords.json"
    rs = roles(strategies)
    known: dict[str, str] = json.loads(store.read_text()) if store.exists() else {}
    passwords = {**random_passwords(rs), **{k: v for k, v in known.items() if k in {r.user for r in rs}}}
    store.write_text(json.dumps(passwords, indent=2))
    store.chmod(0o600)
    conf = nats_dir / "server.conf"
    conf.write_text(
        server_config(authorization(rs, passwords), host="127.0.0.1", port=port, store_dir=str(nats_dir))
    )
    conf.chmod(0o600)
    return conf, passwords


def credentials(user: str, passwords: Mapping[str, str]) -> dict[str, str]:
    """The environment a service needs to connect as `user`."""
    return {"TRADEBUS_NATS_USER": user, "TRADEBUS_NATS_PASSWORD": passwords[user]}
