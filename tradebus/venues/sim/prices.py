"""The price process: seeded log-price GBM with jumps and volatility regimes, made in blocks.

The path lives on a fixed sim-time grid (`step_s`). It is generated one block (one minute) at a
time with numpy, so it depends only on the seed and the grid, never on when or how often the
engine asks for it: the history made at start and the live path are the same path.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from tradebus.venues.sim.config import ProcessParams

SECONDS_PER_YEAR = 365.0 * 24 * 3600
BLOCK_SECONDS = 60


@dataclass(frozen=True, slots=True)
class Block:
    """One minute of path: per-step mids, synthetic trade volume and print counts, plus its
    one-second bars (open/high/low/close of mid, volume, prints), all ready for the engine."""

    mids: list[float]
    volumes: list[float]
    prints: list[int]
    bar_open: np.ndarray
    bar_high: np.ndarray
    bar_low: np.ndarray
    bar_close: np.ndarray
    bar_volume: np.ndarray
    bar_trades: np.ndarray


class PricePath:
    """Makes consecutive blocks of one symbol's path, deterministically from `rng`."""

    def __init__(self, params: ProcessParams, step_s: float, rng: np.random.Generator) -> None:
        steps_per_second = round(1.0 / step_s)
        if steps_per_second < 1 or abs(steps_per_second * step_s - 1.0) > 1e-9:
            raise ValueError(f"step_s must divide one second, got {step_s}")
        if params.start_price <= 0:
            raise ValueError(f"start_price must be > 0, got {params.start_price}")
        self.params = params
        self.steps_per_second = steps_per_second
        self.block_steps = steps_per_second * BLOCK_SECONDS
        self._dt = step_s / SECONDS_PER_YEAR
        self._p_switch = step_s / params.regime_mean_s if params.regime_mean_s > 0 else 0.0
        self._p_jump = params.jump_rate_per_day * step_s / 86_400.0
        self._trade_lambda = params.trade_rate_per_s * step_s
        self._rng = rng
        self._log_price = math.log(params.start_price)
        self._regime = 0
        self.regime_vol = params.vol_regimes[0]

    def next_block(self) -> Block:
        p, n, rng, dt = self.params, self.block_steps, self._rng, self._dt
        vols = np.asarray(p.vol_regimes, dtype=np.float64)
        # Regime switches: a per-step coin; a switch moves to one of the other regimes.
        switch_at = np.flatnonzero(rng.random(n) < self._p_switch)
        picks = rng.integers(1, max(len(vols), 2), size=len(switch_at))
        regime_idx = np.empty(n, dtype=np.int64)
        cur, prev = self._regime, 0
        for at, pick in zip(switch_at.tolist(), picks.tolist(), strict=True):
            regime_idx[prev:at] = cur
            cur = (cur + pick) % len(vols)
            prev = at
        regime_idx[prev:] = cur
        self._regime = cur
        self.regime_vol = float(vols[cur])
        sigma = vols[regime_idx]
        shocks = rng.standard_normal(n)
        jumps = (rng.random(n) < self._p_jump) * rng.normal(0.0, p.jump_sigma, n)
        log_ret = (p.drift - 0.5 * sigma * sigma) * dt + sigma * math.sqrt(dt) * shocks + jumps
        # The first step of a block sits at the current price; the path moves after it.
        log_path = self._log_price + np.concatenate(([0.0], np.cumsum(log_ret[:-1])))
        self._log_price = float(log_path[-1] + log_ret[-1])
        mids = np.exp(log_path)
        prints = rng.poisson(self._trade_lambda, n)
        sizes = rng.lognormal(-0.32, 0.8, n) * (p.trade_notional / mids)
        volumes = prints * sizes
        by_sec = mids.reshape(BLOCK_SECONDS, self.steps_per_second)
        return Block(
            mids=mids.tolist(),
            volumes=volumes.tolist(),
            prints=prints.tolist(),
            bar_open=by_sec[:, 0].copy(),
            bar_high=by_sec.max(axis=1),
            bar_low=by_sec.min(axis=1),
            bar_close=by_sec[:, -1].copy(),
            bar_volume=volumes.reshape(BLOCK_SECONDS, -1).sum(axis=1),
            bar_trades=prints.reshape(BLOCK_SECONDS, -1).sum(axis=1),
        )
