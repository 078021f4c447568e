"""Sharpe and drawdown on series small enough to check by hand."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from services.portfolio import series


def test_drawdowns_of_a_hand_made_curve() -> None:
    # peaks: 0, 10, 10, 20, 20, 20 -> drawdowns 0, 0, 5, 0, 30, 20
    assert series.drawdowns([0, 10, 5, 20, -10, 0]) == (30.0, 20.0)
    assert list(series.drawdown_curve([0, 10, 5, 20, -10, 0])) == [0, 0, 5, 0, 30, 20]


def test_drawdowns_of_a_rising_curve_are_zero() -> None:
    assert series.drawdowns([1, 2, 3]) == (0.0, 0.0)


def test_drawdowns_of_an_empty_curve_are_zero() -> None:
    assert series.drawdowns([]) == (0.0, 0.0)


def test_sharpe_by_hand() -> None:
    # returns 1, 2, -1: mean 2/3; deviations 1/3, 4/3, -5/3; sum of squares 42/9; /(n-1) = 7/3
    expected = (2 / 3) / math.sqrt(7 / 3) * math.sqrt(365)
    assert series.sharpe([0, 1, 3, 2], periods_per_year=365) == pytest.approx(expected)


def test_sharpe_of_a_losing_curve_is_negative() -> None:
    # returns -5, 15, -30, 10: mean -2.5, sum of squared deviations 1225, variance 1225/3
    expected = -2.5 / math.sqrt(1225 / 3) * 2
    assert series.sharpe([10, 5, 20, -10, 0], periods_per_year=4) == pytest.approx(expected)


@pytest.mark.parametrize("values", [[], [1.0], [1.0, 2.0], [0, 1, 2, 3, 4]])
def test_sharpe_is_undefined_without_two_varying_returns(values: list[float]) -> None:
    assert series.sharpe(values, periods_per_year=365) is None


def test_sharpe_rejects_bad_input_naming_it() -> None:
    with pytest.raises(ValueError, match="periods_per_year"):
        series.sharpe([1, 2, 4], periods_per_year=0)
    with pytest.raises(ValueError, match="values"):
        series.sharpe([1, float("nan"), 4], periods_per_year=1)
    with pytest.raises(ValueError, match="values"):
        series.drawdowns(np.ones((2, 2)))


curves = st.lists(
    st.floats(min_value=-1e6, max_value=1e6, allow_nan=False, allow_infinity=False), max_size=60
)


@given(curves)
def test_drawdown_matches_a_plain_loop(values: list[float]) -> None:
    peak, worst = -math.inf, 0.0
    for v in values:
        peak = max(peak, v)
        worst = max(worst, peak - v)
    current = (max(values) - values[-1]) if values else 0.0
    got_worst, got_current = series.drawdowns(values)
    assert got_worst == pytest.approx(worst)
    assert got_current == pytest.approx(current)


@given(curves, st.floats(min_value=0.01, max_value=100))
def test_sharpe_ignores_the_scale_and_flips_with_the_sign(values: list[float], k: float) -> None:
    base = series.sharpe(values, periods_per_year=365)
    scaled = series.sharpe([v * k for v in values], periods_per_year=365)
    flipped = series.sharpe([-v for v in values], periods_per_year=365)
    if base is None:
        assert flipped is None
        return
    assert flipped == pytest.approx(-base)
    if scaled is not None:
        assert scaled == pytest.approx(base, rel=1e-6, abs=1e-9)


def test_resample_keeps_the_last_value_of_each_bucket() -> None:
    ts = [5, 1, 12, 19, 31, 10]
    values = [0.5, 0.1, 1.2, 1.9, 3.1, 1.0]
    # buckets of 10: [0,10): t=1,5 -> last is t=5; [10,20): t=10,12,19 -> t=19; [30,40): t=31
    assert series.resample_last(ts, values, 10) == ([0, 10, 30], [0.5, 1.9, 3.1])


def test_resample_ties_go_to_the_later_input() -> None:
    assert series.resample_last([3, 3], [1.0, 2.0], 10) == ([0], [2.0])


def test_resample_rejects_bad_input_naming_it() -> None:
    with pytest.raises(ValueError, match="every_ns"):
        series.resample_last([1], [1.0], 0)
    with pytest.raises(ValueError, match="values"):
        series.resample_last([1, 2], [1.0], 10)
