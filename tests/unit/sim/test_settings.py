from __future__ import annotations

from decimal import Decimal

import pytest
from pydantic import ValidationError

from tradebus.venues.sim.server import SimClock
from tradebus.venues.sim.settings import SimSettings


def test_env_lists_may_be_comma_separated_or_json(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TRADEBUS_SIM_SYMBOLS", "BTC-USD, DOGE-USD")
    monkeypatch.setenv("TRADEBUS_SIM_API_KEYS", '["k1", "k2"]')
    monkeypatch.setenv("TRADEBUS_SIM_START_PRICES", '{"DOGE-USD": 0.15}')
    monkeypatch.setenv("TRADEBUS_SIM_TAKER_FEE", "0.001")
    s = SimSettings()
    assert s.account_keys() == {"k1": "acct-1", "k2": "acct-2"}
    cfg = s.engine_config()
    assert [x.instrument.symbol for x in cfg.symbols] == ["BTC-USD", "DOGE-USD"]
    assert cfg.symbols[1].process.start_price == 0.15
    assert cfg.symbols[0].process.start_price == 65_000.0
    assert cfg.taker_fee == Decimal("0.001")
    assert cfg.accounts == ("acct-1", "acct-2")
    assert "k1" not in repr(s)  # keys are secrets


@pytest.mark.parametrize(
    ("env", "words"),
    [
        ({"TRADEBUS_SIM_STEP_MS": "300"}, "step_ms"),
        ({"TRADEBUS_SIM_SYMBOLS": "BTCUSD"}, "BASE-QUOTE"),
        ({"TRADEBUS_SIM_API_KEYS": "a,a"}, "api_keys"),
        ({"TRADEBUS_SIM_CLOCK_SPEED": "0"}, "clock_speed"),
        ({"TRADEBUS_SIM_ERROR_RATE": "2"}, "error_rate"),
        ({"TRADEBUS_SIM_START_PRICES": '{"XRP-USD": 1}'}, "start_prices"),
    ],
)
def test_bad_settings_name_the_field(
    monkeypatch: pytest.MonkeyPatch, env: dict[str, str], words: str
) -> None:
    for k, v in env.items():
        monkeypatch.setenv(k, v)
    with pytest.raises(ValidationError, match=words):
        SimSettings()


def test_sim_clock_runs_at_clock_speed() -> None:
    wall = [1_000]
    clock = SimClock(start_ns=5_000_000, speed=20.0, mono=lambda: wall[0])
    assert clock.now() == 5_000_000
    wall[0] += 1_000_000  # one wall millisecond
    assert clock.now() == 5_000_000 + 20_000_000
