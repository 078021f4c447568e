from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from services.gateway.params import KindUnavailable, ParamsInvalid, merged_params, params_model
from services.signals.strategies import BbRsiScalperParams

CURRENT = {"interval": "5s", "bb_period": 20}


def test_a_change_is_merged_over_the_current_params_and_dumped_whole() -> None:
    out = merged_params(BbRsiScalperParams, CURRENT, {"bb_period": 30, "size": "0.5"})
    parsed = BbRsiScalperParams.model_validate(out)
    assert parsed.bb_period == 30 and parsed.size == Decimal("0.5") and parsed.interval == "5s"
    assert set(out) == set(BbRsiScalperParams.model_fields)


@given(
    value=st.one_of(
        st.text(), st.booleans(), st.floats(allow_nan=False, allow_infinity=False), st.lists(st.integers())
    )
)
def test_an_int_field_takes_only_ints(value: Any) -> None:
    with pytest.raises(ParamsInvalid) as err:
        merged_params(BbRsiScalperParams, CURRENT, {"bb_period": value})
    assert [loc for loc, _, _ in err.value.problems] == [("bb_period",)]


@given(value=st.integers(min_value=2, max_value=10_000))
def test_any_valid_int_is_taken(value: int) -> None:
    assert merged_params(BbRsiScalperParams, CURRENT, {"bb_period": value})["bb_period"] == value


def test_unknown_keys_are_named() -> None:
    with pytest.raises(ParamsInvalid, match="nonsense"):
        merged_params(BbRsiScalperParams, CURRENT, {"nonsense": 1})


def test_a_kind_that_cannot_be_loaded() -> None:
    assert params_model("bb_rsi_scalper") is BbRsiScalperParams
    with pytest.raises(KindUnavailable, match="not_a_kind"):
        params_model("not_a_kind")
