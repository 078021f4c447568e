"""docker-compose.yml parses and holds together: every Tradebus container runs a real `tradebus run`
target, one signals container per strategy, every mounted file exists, every secret comes from an
env file that `tradebus.envfiles` makes, health checks gate every dependency. Prometheus config:
`promtool check config` where promtool exists."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from tradebus import envfiles
from tradebus.cli import TARGETS
from tradebus.stack import read_strategies

ROOT = Path(__file__).resolve().parents[2]
COMPOSE = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
SERVICES: dict[str, dict[str, Any]] = COMPOSE["services"]
STRATEGIES = read_strategies(ROOT / "config" / "strategies.yaml")
SECRET = re.compile(r"PASSWORD|TOKEN|SECRET|API_KEY|DATABASE_URL", re.I)


def tradebus_services() -> dict[str, dict[str, Any]]:
    return {n: s for n, s in SERVICES.items() if s.get("image", "").startswith("tradebus")}


def test_every_tradebus_container_names_a_real_target_and_every_target_runs() -> None:
    commands = {n: s["command"] for n, s in tradebus_services().items()}
    for name, cmd in commands.items():
        assert len(cmd) == 1 and cmd[0] in TARGETS, f"{name}: {cmd}"
    assert {c[0] for c in commands.values()} == set(TARGETS)


def test_one_signals_container_per_strategy() -> None:
    signals = {n: s for n, s in tradebus_services().items() if s["command"] == ["signals"]}
    named = {s["environment"]["TRADEBUS_SIGNALS_NAME"]: n for n, s in signals.items()}
    assert set(named) == {s.name for s in STRATEGIES}
    assert len(named) == len(signals)
    for s in STRATEGIES:
        env = signals[named[s.name]]["environment"]
        assert env["TRADEBUS_SIGNALS_KIND"] == (s.kind or s.name)
        assert yaml.safe_load(env["TRADEBUS_SIGNALS_SYMBOLS"]) == s.symbols
        assert yaml.safe_load(env.get("TRADEBUS_SIGNALS_PARAMS", "{}")) == s.params
        assert named[s.name] == "signals-" + s.name.replace("_", "-")  # a DNS name: Prometheus target


def test_prometheus_scrapes_every_tradebus_container() -> None:
    prom = yaml.safe_load((ROOT / "deploy" / "prometheus" / "prometheus.yml").read_text())
    static = [sc for job in prom["scrape_configs"] for sc in job.get("static_configs", [])]
    scraped = {t.split(":")[0] for sc in static for t in sc["targets"]}
    assert set(tradebus_services()) - {"sim"} <= scraped


def test_every_mounted_file_exists() -> None:
    mounts = [(n, v.split(":")[0]) for n, s in SERVICES.items() for v in s.get("volumes", [])]
    binds = [(n, src) for n, src in mounts if src.startswith((".", "/"))]
    assert binds, "no bind mounts found"
    for name, src in binds:
        assert (ROOT / src).exists(), f"{name}: {src} does not exist"
    named = {src for _, src in mounts if not src.startswith((".", "/"))}
    assert named <= set(COMPOSE["volumes"])


def test_secrets_only_through_env_files_that_envfiles_makes() -> None:
    made = envfiles.env_files([s.name for s in STRATEGIES])
    for name, s in SERVICES.items():
        for key in s.get("environment") or {}:
            assert not SECRET.search(key), f"{name}: secret {key} in the compose file"
        for path in s.get("env_file", []):
            assert path.startswith("deploy/env/") and path.endswith(".env"), path
            assert Path(path).stem in made, f"{name}: {path} is not made by tradebus.envfiles"
    assert "*.env" in (ROOT / "deploy/env/.gitignore").read_text()


def test_depends_on_waits_for_health() -> None:
    for name, s in SERVICES.items():
        for dep, cond in (s.get("depends_on") or {}).items():
            assert dep in SERVICES, f"{name} depends on unknown {dep}"
            assert cond["condition"] == "service_healthy", f"{name} -> {dep}"
            assert "healthcheck" in SERVICES[dep], f"{dep} has no health check"
        assert "healthcheck" in s or name in ("prometheus",), f"{name} has no health check"
        assert s.get("restart") == "unless-stopped", name


def test_nats_runs_jetstream_on_disk_synced_with_users() -> None:
    nats = SERVICES["nats"]
    assert nats["image"].startswith("nats:")
    conf = (ROOT / "deploy/nats/nats.conf").read_text()
    assert "jetstream" in conf
    assert "sync_interval: always" in conf
    assert "include ./auth.conf" in conf
    assert "nats-data:/data" in nats["volumes"]
    assert "pg-data:/var/lib/postgresql/data" in SERVICES["postgres"]["volumes"]


def test_env_files_are_private_and_agree(tmp_path: Path) -> None:
    assert (
        envfiles.main(["--strategies", str(ROOT / "config/strategies.yaml"), "compose", str(tmp_path)]) == 0
    )
    files = {
        p.stem: dict(line.split("=", 1) for line in p.read_text().splitlines())
        for p in tmp_path.glob("*.env")
    }
    assert all(p.stat().st_mode & 0o077 == 0 for p in tmp_path.glob("*.env"))
    pw = files["postgres"]["POSTGRES_PASSWORD"]
    assert f":{pw}@postgres:5432/" in files["portfolio"]["DATABASE_URL"]
    assert files["sim"]["TRADEBUS_SIM_API_KEYS"] == files["execution"]["TRADEBUS_EXECUTION_API_KEY"]
    for stem, env in files.items():
        if "TRADEBUS_NATS_USER" in env:
            user = env["TRADEBUS_NATS_USER"]
            key = "NATS_PASSWORD_" + re.sub(r"[^A-Za-z0-9]", "_", user).upper()
            assert files["nats"][key] == env["TRADEBUS_NATS_PASSWORD"], stem
    # a second run keeps what exists
    before = (tmp_path / "gateway.env").read_text()
    envfiles.main(["--strategies", str(ROOT / "config/strategies.yaml"), "compose", str(tmp_path)])
    assert (tmp_path / "gateway.env").read_text() == before


@pytest.mark.skipif(shutil.which("promtool") is None, reason="promtool not installed")
def test_prometheus_config_passes_promtool() -> None:
    for name in ("prometheus.yml", "prometheus-k8s.yml"):
        path = ROOT / "deploy/prometheus" / name
        if path.exists():
            out = subprocess.run(
                ["promtool", "check", "config", "--syntax-only", str(path)], capture_output=True, text=True
            )
            assert out.returncode == 0, out.stdout + out.stderr
