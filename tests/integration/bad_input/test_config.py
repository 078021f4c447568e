"""A typo in any settings variable or strategy file stops the start at once, with a message that
names the key: every service's own `TRADEBUS_<SERVICE>_*` variables, the execution risk limits,
config/strategies.yaml (entries and params) and YAML rule files."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from pydantic import AliasChoices, Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from tradebus.config_check import SETTINGS, check_strategies
from tradebus.settings import unknown_env

ROOT = Path(__file__).resolve().parents[3]
NOWHERE = "nats://127.0.0.1:9"  # nothing listens: a service that got past its settings would hang


def start(args: list[str], env: dict[str, str], cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("TRADEBUS_")}
    full = {**clean, "PYTHONPATH": str(ROOT), "TRADEBUS_NATS_URL": NOWHERE, **env}
    return subprocess.run(
        [sys.executable, "-m", "tradebus", *args],
        env=full,
        cwd=cwd or ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )


def prefix_of(target: str) -> str:
    return "TRADEBUS_SIM_" if target == "sim" else f"TRADEBUS_{target.upper()}_"


@pytest.mark.parametrize("target", sorted(SETTINGS))
def test_unknown_variable_of_a_service_stops_its_start_naming_it(target: str) -> None:
    typo = prefix_of(target) + "VENUE_ULR"
    done = start(["run", target], {typo: "http://127.0.0.1:1"})
    assert done.returncode != 0
    assert typo in done.stderr
    assert "unknown setting" in done.stderr


@pytest.mark.parametrize(
    ("key", "value"),
    [
        ("TRADEBUS_EXECUTION_RISK__MAX_POSITON", "5"),  # the nested limits refuse unknown keys
        ("TRADEBUS_EXECUTION_RISKS__MAX_POSITION", "5"),  # an unknown top-level name before `__`
        ("TRADEBUS_EXECUTION_RISK__MAX_POSITION", "lots"),  # a bad value
        ("TRADEBUS_PORTFOLIO_BATCH_SIZE", "0"),
    ],
)
def test_bad_value_or_nested_typo_names_the_key(key: str, value: str) -> None:
    target = key.split("_")[1].lower()
    done = start(["run", target], {key: value})
    assert done.returncode != 0
    assert key in done.stderr


class Demo(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="DEMO_", env_nested_delimiter="__")

    port: int = 1
    limits: dict[str, int] = Field(default_factory=dict)
    token: str = Field(default="", validation_alias=AliasChoices("OTHER_TOKEN", "DEMO_SECRET"))


def test_unknown_env_flags_only_unknown_names_under_the_own_prefix() -> None:
    environ = {
        "DEMO_PORT": "1",
        "demo_port": "1",  # names are case-insensitive, like pydantic-settings reads them
        "DEMO_LIMITS__A": "2",
        "DEMO_SECRET": "s",  # an alias
        "OTHER_TOKEN": "t",
        "DEMOX_PORT": "1",  # another prefix
        "DEMO_PROT": "1",
        "DEMO_LIMIT__A": "1",
    }
    assert unknown_env(Demo, environ) == ["DEMO_LIMIT__A", "DEMO_PROT"]


def test_the_shared_prefix_is_not_checked() -> None:
    class Shared(BaseSettings):
        model_config = SettingsConfigDict(env_prefix="TRADEBUS_")
        port: int = 1

    assert unknown_env(Shared, {"TRADEBUS_ANYTHING": "1"}) == []


def strategies_file(tmp_path: Path, body: str) -> Path:
    path = tmp_path / "strategies.yaml"
    path.write_text(body)
    return path


@pytest.mark.parametrize(
    ("body", "named"),
    [
        ("strategies:\n  - name: a\n    kind: bb_rsi_scalper\n    symbls: [BTC-USD]\n", "symbls"),
        ("strategies:\n  - name: a\n    kind: bb_rsi_scalper\n    params: {intervall: 5s}\n", "intervall"),
        ("strategies:\n  - name: a\n    kind: no_such_strategy\n", "no_such_strategy"),
        ("stratgies:\n  - name: a\n", "stratgies"),
    ],
)
def test_strategies_file_typo_is_refused_naming_the_key(tmp_path: Path, body: str, named: str) -> None:
    with pytest.raises(SystemExit) as info:
        check_strategies(strategies_file(tmp_path, body))
    assert named in str(info.value)


def test_rules_file_typo_is_refused_naming_the_key(tmp_path: Path) -> None:
    rules = (ROOT / "examples" / "rsi_rules.yaml").read_text().replace("oversold: 30", "oversld: 30", 1)
    (tmp_path / "rules.yaml").write_text(rules)
    path = strategies_file(
        tmp_path, f"strategies:\n  - name: r\n    kind: 'rules:{tmp_path / 'rules.yaml'}'\n"
    )
    with pytest.raises(SystemExit) as info:
        check_strategies(path)
    assert "oversld" in str(info.value)


def test_the_shipped_strategies_and_rules_pass(tmp_path: Path) -> None:
    check_strategies(ROOT / "config" / "strategies.yaml")
    path = strategies_file(
        tmp_path, f"strategies:\n  - name: r\n    kind: 'rules:{ROOT / 'examples/rsi_rules.yaml'}'\n"
    )
    check_strategies(path)


def test_up_stops_before_starting_anything_on_a_params_typo(tmp_path: Path) -> None:
    path = strategies_file(
        tmp_path, "strategies:\n  - name: a\n    kind: bb_rsi_scalper\n    params: {sise: 1}\n"
    )
    done = start(["up"], {"TRADEBUS_STRATEGIES_FILE": str(path), "TRADEBUS_VAR_DIR": str(tmp_path / "var")})
    assert done.returncode != 0
    assert "params.sise" in done.stderr
    assert not (tmp_path / "var" / "stack.json").exists()
