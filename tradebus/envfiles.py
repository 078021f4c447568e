"""Secrets for docker compose and Kubernetes, made on the operator's machine, never committed.

    python -m tradebus.envfiles compose deploy/env        # deploy/env/<process>.env for compose
    python -m tradebus.envfiles k8s deploy/k8s            # base/secrets/*.env + overlays/dev/secrets
    python -m tradebus.envfiles nats-auth > deploy/nats/auth.conf   # the committed NATS users

Each process gets only its own secrets (its NATS user and password, the database URL for portfolio,
the API token for the gateway, the venue key for execution); nats gets every NATS password.
Existing files are kept (a second run adds what is missing), so re-running is safe.
"""

from __future__ import annotations

import argparse
import secrets
import sys
from collections.abc import Sequence
from pathlib import Path

from tradebus import security
from tradebus.stack import read_strategies

DB_USER = "tradebus"
DB_NAME = "tradebus"


def _pw() -> str:
    return secrets.token_urlsafe(24)


def env_files(strategies: Sequence[str], *, db_host: str = "postgres") -> dict[str, dict[str, str]]:
    """file stem -> variables, with fresh random secrets that agree with each other."""
    rs = security.roles(strategies)
    nats_pw = security.random_passwords(rs)
    db_pw, sim_key = _pw(), _pw()

    def nats(user: str) -> dict[str, str]:
        return security.credentials(user, nats_pw)

    out: dict[str, dict[str, str]] = {
        "nats": {security.password_env(r.user): nats_pw[r.user] for r in rs},
        "postgres": {"POSTGRES_USER": DB_USER, "POSTGRES_PASSWORD": db_pw, "POSTGRES_DB": DB_NAME},
        "sim": {"TRADEBUS_SIM_API_KEYS": sim_key},
        "marketdata": nats("marketdata"),
        "execution": {**nats("execution"), "TRADEBUS_EXECUTION_API_KEY": sim_key},
        "portfolio": {
            **nats("portfolio"),
            "DATABASE_URL": f"postgresql://{DB_USER}:{db_pw}@{db_host}:5432/{DB_NAME}",
        },
        "gateway": {**nats("gateway"), "TRADEBUS_API_TOKEN": _pw()},
        "backtest": nats("backtest"),
        "grafana": {"GF_SECURITY_ADMIN_USER": "admin", "GF_SECURITY_ADMIN_PASSWORD": _pw()},
    }
    for name in strategies:
        out[f"signals-{name}"] = nats(f"signals-{name}")
    return out


def write(directory: Path, files: dict[str, dict[str, str]], only: Sequence[str] | None = None) -> list[Path]:
    """Write `<stem>.env` files (mode 0600) that do not exist yet; return the ones written."""
    directory.mkdir(parents=True, exist_ok=True)
    written = []
    for stem, variables in files.items():
        if only is not None and stem not in only:
            continue
        path = directory / f"{stem}.env"
        if path.exists():
            continue
        path.write_text("".join(f"{k}={v}\n" for k, v in variables.items()))
        path.chmod(0o600)
        written.append(path)
    return written


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tradebus.envfiles", description=__doc__.split("\n")[0])
    parser.add_argument("--strategies", type=Path, default=Path("config/strategies.yaml"))
    sub = parser.add_subparsers(dest="what", required=True)
    sub.add_parser("nats-auth", help="print the NATS users config (passwords by $ENV reference)")
    p_compose = sub.add_parser("compose", help="write the env files of docker-compose.yml")
    p_compose.add_argument("dir", type=Path, nargs="?", default=Path("deploy/env"))
    p_k8s = sub.add_parser("k8s", help="write the secretGenerator env files of deploy/k8s")
    p_k8s.add_argument("dir", type=Path, nargs="?", default=Path("deploy/k8s"))
    args = parser.parse_args(argv)
    names = [s.name for s in read_strategies(args.strategies)]
    if args.what == "nats-auth":
        sys.stdout.write(security.authorization(security.roles(names)))
        return 0
    files = env_files(names)
    if args.what == "compose":
        written = write(args.dir, files)
    else:
        written = write(args.dir / "base" / "secrets", files, only=[k for k in files if k != "postgres"])
        written += write(args.dir / "overlays" / "dev" / "secrets", files, only=["postgres"])
    for path in written:
        sys.stderr.write(f"wrote {path}\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
