"""Every indicator TA-Lib has equals TA-Lib's values to 1e-9 on long random walks with gaps and
flat stretches. Prices are on a 0.01 tick, as a venue would send them."""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence

import numpy as np
import talib
from hypothesis import given, settings
from hypothesis import strategies as st

from services.signals.indicators import (
    Atr,
    AwesomeOscillator,
    BollingerBands,
    Ema,
    Macd,
    RollingStd,
    Rsi,
    Sma,
    TrueRange,
)

TOL = 1e-9


@st.composite
def walks(draw: st.DrawFn) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """A random walk of candles: normal steps, flat stretches and gaps, on a 0.01 tick."""
    seed = draw(st.integers(0, 2**32 - 1))
    n = draw(st.one_of(st.integers(1, 300), st.integers(2000, 5000)))  # short and long walks
    start = draw(st.sampled_from([0.5, 20.0, 100.0, 3000.0, 60000.0]))
    rng = np.random.default_rng(seed)
    scale = start * 0.002
    steps = rng.normal(0.0, scale, n)
    kinds = rng.random(n)
    i = 0
    while i < n:  # flat stretches of random length
        if kinds[i] < 0.01:
            length = int(rng.integers(1, 120))
            steps[i : i + length] = 0.0
            i += length
        else:
            i += 1
    gaps = rng.random(n) < 0.005
    steps[gaps] = rng.normal(0.0, scale * 40, int(gaps.sum()))
    close = np.round(np.maximum(start + np.cumsum(steps), 0.01), 2)
    spread_hi = np.abs(np.round(rng.normal(0.0, scale, n), 2))
    spread_lo = np.abs(np.round(rng.normal(0.0, scale, n), 2))
    flat = steps == 0.0
    spread_hi[flat] = 0.0
    spread_lo[flat] = 0.0
    high = close + spread_hi
    low = np.maximum(close - spread_lo, 0.0)
    return high, low, close


def assert_matches(name: str, ours: Sequence[float] | np.ndarray, ref: np.ndarray, scale: float) -> None:
    """Same NaN prefix; every value within 1e-9 relative to the data's scale (at least 1)."""
    got = np.asarray(ours, dtype=float)
    assert got.shape == ref.shape
    nan_got, nan_ref = np.isnan(got), np.isnan(ref)
    assert (nan_got == nan_ref).all(), f"{name}: warm-up differs at {np.flatnonzero(nan_got != nan_ref)[:5]}"
    if (~nan_ref).any():
        err = np.abs(got[~nan_ref] - ref[~nan_ref])
        tol = TOL * max(1.0, scale)
        worst = int(np.argmax(err))
        assert err[worst] <= tol, f"{name}: |diff| {err[worst]:.3e} > {tol:.1e} at {worst}"


def feed(ind_update: Callable[..., float], *cols: np.ndarray) -> list[float]:
    return [ind_update(*row) for row in zip(*(c.tolist() for c in cols), strict=True)]


periods = st.integers(1, 40)
fast_settings = settings(max_examples=40, deadline=None)


@fast_settings
@given(walks(), periods)
def test_sma_ema(w: tuple[np.ndarray, np.ndarray, np.ndarray], p: int) -> None:
    _, _, c = w
    scale = float(np.max(c))
    assert_matches("SMA", feed(Sma(p).update, c), talib.SMA(c, p), scale)
    assert_matches("EMA", feed(Ema(p).update, c), talib.EMA(c, p), scale)


@fast_settings
@given(walks(), st.integers(2, 40))
def test_rsi(w: tuple[np.ndarray, np.ndarray, np.ndarray], p: int) -> None:
    _, _, c = w
    assert_matches("RSI", feed(Rsi(p).update, c), talib.RSI(c, p), 100.0)


@fast_settings
@given(walks(), periods)
def test_true_range_and_atr(w: tuple[np.ndarray, np.ndarray, np.ndarray], p: int) -> None:
    h, lo, c = w
    scale = float(np.max(h))
    assert_matches("TRANGE", feed(TrueRange().update, h, lo, c), talib.TRANGE(h, lo, c), scale)
    assert_matches("ATR", feed(Atr(p).update, h, lo, c), talib.ATR(h, lo, c, p), scale)


@fast_settings
@given(walks(), st.integers(2, 40), st.sampled_from([1.0, 2.0, 2.5]))
def test_bollinger_and_stddev(w: tuple[np.ndarray, np.ndarray, np.ndarray], p: int, k: float) -> None:
    _, _, c = w
    scale = float(np.max(c))
    bb = BollingerBands(p, k)
    rows = []
    for x in c.tolist():
        bb.update(x)
        rows.append((bb.upper, bb.middle, bb.lower) if bb.ready else (math.nan,) * 3)
    up, mid, low = talib.BBANDS(c, p, k, k)
    got = np.array(rows).reshape(-1, 3)
    assert_matches("BB upper", got[:, 0], up, scale)
    assert_matches("BB middle", got[:, 1], mid, scale)
    assert_matches("BB lower", got[:, 2], low, scale)
    assert_matches("STDDEV", feed(RollingStd(p, k).update, c), talib.STDDEV(c, p, k), scale)


@fast_settings
@given(walks(), st.integers(2, 15), st.integers(2, 30), st.integers(1, 12))
def test_macd(w: tuple[np.ndarray, np.ndarray, np.ndarray], f: int, s: int, sig: int) -> None:
    _, _, c = w
    scale = float(np.max(c))
    m = Macd(f, s, sig)
    rows = []
    for x in c.tolist():
        m.update(x)
        rows.append((m.macd, m.signal, m.hist) if m.ready else (math.nan,) * 3)
    line, signal, hist = talib.MACD(c, f, s, sig)
    got = np.array(rows).reshape(-1, 3)
    assert_matches("MACD line", got[:, 0], line, scale)
    assert_matches("MACD signal", got[:, 1], signal, scale)
    assert_matches("MACD hist", got[:, 2], hist, scale)


@fast_settings
@given(walks(), st.integers(1, 8), st.integers(9, 40))
def test_awesome_oscillator_is_sma_of_median_price(
    w: tuple[np.ndarray, np.ndarray, np.ndarray], f: int, s: int
) -> None:
    """TA-Lib has no AO; it is SMA(fast) - SMA(slow) of TA-Lib's MEDPRICE."""
    h, lo, _ = w
    med = talib.MEDPRICE(h, lo)
    ref = talib.SMA(med, f) - talib.SMA(med, s)
    assert_matches("AO", feed(AwesomeOscillator(f, s).update, h, lo), ref, float(np.max(h)))
